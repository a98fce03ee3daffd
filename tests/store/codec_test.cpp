#include "store/base64.hpp"
#include "store/codec.hpp"
#include "store/hmac.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <utility>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(record_round_trips) {
  auto e = test::make_event("appointment", "a1");
  e.version = 7;
  e.sequence = 1234567890123ull;
  e.occurred_at = -5;
  e.metadata.ip_address = "10.0.0.1";
  e.metadata.user_agent = "ua";
  e.metadata.causation_id = "cause";
  e.data = std::string(300, 'x');
  std::vector<char> buf(record_size(e));
  encode_record(e, buf.data());
  BOOST_TEST(buf[0] == static_cast<char>(record_format_v1));
  auto v = decode_record(buf.data(), buf.size());
  BOOST_REQUIRE(v);
  BOOST_TEST(v->data.size() == 300u);
  BOOST_CHECK(v->to_envelope() == e);
}

BOOST_AUTO_TEST_CASE(bad_records_are_corrupt) {
  auto e = test::make_event("appointment", "a1");
  std::vector<char> buf(record_size(e));
  encode_record(e, buf.data());
  auto truncated = decode_record(buf.data(), buf.size() - 1);
  BOOST_REQUIRE(!truncated);
  BOOST_TEST(truncated.error().code == errc::corrupt);
  buf.push_back('!');
  auto trailing = decode_record(buf.data(), buf.size());
  BOOST_REQUIRE(!trailing);
  BOOST_TEST(trailing.error().code == errc::corrupt);
  buf.pop_back();
  buf[0] = 99;
  auto version = decode_record(buf.data(), buf.size());
  BOOST_REQUIRE(!version);
  BOOST_TEST(version.error().code == errc::corrupt);
  BOOST_TEST(!decode_record(buf.data(), 0));
}

BOOST_AUTO_TEST_CASE(keys_are_big_endian) {
  char a[8], b[8];
  put_be64(a, 255);
  put_be64(b, 256);
  BOOST_TEST(std::string_view(a, 8) < std::string_view(b, 8));
  BOOST_TEST(get_be64(b) == 256u);
  BOOST_TEST(order_preserving(-1) < order_preserving(0));
  BOOST_TEST(order_preserving(0) < order_preserving(1));
}

BOOST_AUTO_TEST_CASE(base64_matches_rfc_4648) {
  // RFC 4648, section 10.
  std::pair<const char*, const char*> cases[] = {{"", ""},
                                                 {"f", "Zg=="},
                                                 {"fo", "Zm8="},
                                                 {"foo", "Zm9v"},
                                                 {"foob", "Zm9vYg=="},
                                                 {"fooba", "Zm9vYmE="},
                                                 {"foobar", "Zm9vYmFy"}};
  for (auto [in, out] : cases)
    BOOST_TEST(to_base64(in) == out, "\"" << in << "\"");
  BOOST_TEST(to_base64(std::string("\xff\xfe\x00", 3)) == "//4A");
}

BOOST_AUTO_TEST_CASE(hmac_sha256_matches_rfc_4231) {
  // RFC 4231, test case 1.
  BOOST_TEST(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There")
             == "b0344c61d8db38535ca8afceaf0bf12b"
                "881dc200c9833da726e9376c2e32cff7");
}

BOOST_AUTO_TEST_CASE(mac_check_refuses_what_it_cannot_match) {
  auto mac = hmac_sha256_hex("key", "text");
  auto upper = mac;
  for (auto& c : upper)
    if (c >= 'a' && c <= 'f')
      c = static_cast<char>(c - 'a' + 'A');
  BOOST_TEST(same_hex_mac(mac, mac));
  BOOST_TEST(same_hex_mac(upper, mac));
  BOOST_TEST(!same_hex_mac(mac.substr(1), mac));
  BOOST_TEST(!same_hex_mac(hmac_sha256_hex("other", "text"), mac));
  // An HMAC that failed is empty: nothing matches it, not even "".
  BOOST_TEST(!same_hex_mac("", ""));
}

BOOST_AUTO_TEST_SUITE_END()
