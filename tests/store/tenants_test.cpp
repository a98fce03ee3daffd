// The tenants' tokens: only their SHA-256 is stored, a token resolves to
// its company until it is revoked or expires, and nothing close to a
// token resolves.
#include "store/tenants.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/prelude.hpp"
#include <limits>
#include <optional>
#include <string>

namespace {

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

struct tenants_fixture : store_fixture {
  std::unique_ptr<tenants> t;

  tenants_fixture() {
    t = opened(tenants::open(*env));
    for (const char* id : {"acme", "globex"}) {
      auto added = t->add_company({id, id, 1000, ""});
      BOOST_REQUIRE_MESSAGE(added, why(added));
    }
  }

  std::string issue(std::string_view company, token_options opts = {}) {
    auto token = t->issue_token(company, opts, 2000);
    BOOST_REQUIRE_MESSAGE(token, why(token));
    return *token;
  }

  bool resolves(std::string_view token) {
    auto p = t->resolve(token);
    if (!p)
      BOOST_TEST(p.error().code == errc::not_found);
    return p.has_value();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(tenants_suite, tenants_fixture)

BOOST_AUTO_TEST_CASE(a_token_is_hashed_with_sha256) {
  // FIPS 180-2's test vector for "abc".
  BOOST_TEST(hex(tenants::hash_token("abc"))
             == "ba7816bf8f01cfea414140de5dae2223"
                "b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(tenants::hash_token("").size() == 32u);
}

BOOST_AUTO_TEST_CASE(only_the_hash_of_a_token_is_stored) {
  auto token = issue("acme");
  BOOST_TEST(token.rfind(std::string{token_prefix}, 0) == 0u);
  auto rows = t->rows();
  BOOST_REQUIRE_MESSAGE(rows, why(rows));
  BOOST_REQUIRE_EQUAL(rows->tokens.size(), 1u);
  const auto& [key, value] = rows->tokens.front();
  BOOST_TEST(key == tenants::hash_token(token));
  BOOST_TEST(value.find(token) == std::string::npos);
  BOOST_TEST(key.find(token) == std::string::npos);
  auto listed = t->tokens("acme");
  BOOST_REQUIRE_MESSAGE(listed, why(listed));
  BOOST_REQUIRE_EQUAL(listed->size(), 1u);
  BOOST_TEST(listed->front().hash_prefix
             == hex(tenants::hash_token(token)).substr(0, 12));
}

BOOST_AUTO_TEST_CASE(a_token_speaks_for_its_company_and_no_other) {
  token_options opts;
  opts.user_id = "reception";
  auto acme = issue("acme", opts);
  auto globex = issue("globex");
  auto p = t->resolve(acme);
  BOOST_REQUIRE_MESSAGE(p, why(p));
  BOOST_TEST(p->company_id == "acme");
  BOOST_TEST(p->user_id == "reception");
  BOOST_TEST(!p->admin);
  auto q = t->resolve(globex);
  BOOST_REQUIRE_MESSAGE(q, why(q));
  BOOST_TEST(q->company_id == "globex");
}

BOOST_AUTO_TEST_CASE(nothing_close_to_a_token_resolves) {
  auto token = issue("acme");
  BOOST_TEST(resolves(token));
  auto changed = token;
  changed.back() = changed.back() == 'a' ? 'b' : 'a';
  BOOST_TEST(!resolves(changed));
  BOOST_TEST(!resolves(token.substr(0, token.size() - 1)));
  BOOST_TEST(!resolves(token + "x"));
  BOOST_TEST(!resolves(""));
  BOOST_TEST(!resolves(hex(tenants::hash_token(token))));
  BOOST_TEST(!resolves(tenants::hash_token(token)));
}

BOOST_AUTO_TEST_CASE(a_revoked_token_stops_and_stays_revoked) {
  auto token = issue("acme");
  auto other = issue("acme");
  auto prefix = hex(tenants::hash_token(token)).substr(0, 8);
  auto gone = t->revoke(prefix);
  BOOST_REQUIRE_MESSAGE(gone, why(gone));
  BOOST_TEST(*gone == 1u);
  BOOST_TEST(!resolves(token));
  BOOST_TEST(resolves(other));
  auto rows = t->rows();
  BOOST_REQUIRE_MESSAGE(rows, why(rows));
  BOOST_REQUIRE_EQUAL(rows->revoked.size(), 1u);
  BOOST_TEST(rows->revoked.front() == tenants::hash_token(token));
  // A short prefix is refused rather than guessed at.
  auto short_prefix = t->revoke(prefix.substr(0, 7));
  BOOST_REQUIRE(!short_prefix);
  BOOST_TEST(short_prefix.error().code == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(an_expired_token_no_longer_resolves) {
  token_options opts;
  opts.expires_at = 1; // long past
  auto token = issue("acme", opts);
  BOOST_TEST(!resolves(token));
  opts.expires_at = std::numeric_limits<timestamp_ms>::max();
  BOOST_TEST(resolves(issue("acme", opts)));
}

BOOST_AUTO_TEST_SUITE_END()
