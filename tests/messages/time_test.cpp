#include <messages/time.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>

using namespace switchboard;

BOOST_AUTO_TEST_SUITE(rfc3339)

BOOST_AUTO_TEST_CASE(formats_utc) {
  BOOST_TEST(format_rfc3339(0) == "1970-01-01T00:00:00Z");
  BOOST_TEST(format_rfc3339(1714555800000) == "2024-05-01T09:30:00Z");
  BOOST_TEST(format_rfc3339(1714555800123) == "2024-05-01T09:30:00.123Z");
  BOOST_TEST(format_rfc3339(1709164800000) == "2024-02-29T00:00:00Z");
  BOOST_TEST(format_rfc3339(-1) == "1969-12-31T23:59:59.999Z");
  BOOST_TEST(format_rfc3339(951782400000) == "2000-02-29T00:00:00Z");
}

BOOST_AUTO_TEST_CASE(parses_offsets_and_fractions) {
  auto utc = parse_rfc3339("2024-05-01T09:30:00Z");
  BOOST_REQUIRE(utc);
  BOOST_TEST(*utc == 1714555800000);
  BOOST_TEST(*parse_rfc3339("2024-05-01T11:30:00+02:00") == *utc);
  BOOST_TEST(*parse_rfc3339("2024-05-01T04:00:00-05:30") == *utc);
  BOOST_TEST(*parse_rfc3339("2024-05-01t09:30:00z") == *utc);
  BOOST_TEST(*parse_rfc3339("2024-05-01 09:30:00Z") == *utc);
  BOOST_TEST(*parse_rfc3339("2024-05-01T09:30:00.5Z") == *utc + 500);
  BOOST_TEST(*parse_rfc3339("2024-05-01T09:30:00.123456789Z") == *utc + 123);
  BOOST_TEST(*parse_rfc3339("2024-05-01T09:30:00.000+00:00") == *utc);
  BOOST_TEST(*parse_rfc3339("1969-12-31T23:59:59.999Z") == -1);
  BOOST_TEST(*parse_rfc3339("2024-02-29T00:00:00Z") == 1709164800000);
  // A leap second rolls into the next minute.
  BOOST_TEST(*parse_rfc3339("2016-12-31T23:59:60Z")
             == *parse_rfc3339("2017-01-01T00:00:00Z"));
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  for (const char* text :
       {"", "2024-13-45T10:00:00Z", "2024-00-10T10:00:00Z",
        "2023-02-29T10:00:00Z", "2024-04-31T10:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T10:60:00Z", "2024-05-01T10:00:61Z", "2024-05-01T10:00:00",
        "2024-05-01", "2024-05-01T10:00Z", "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00+0200", "2024-05-01T10:00:00+24:00",
        "2024-5-01T10:00:00Z", "2024-05-01T10:00:00Zjunk", "24-05-01T10:00:00Z",
        "tomorrow"}) {
    BOOST_TEST_CONTEXT(text) {
      auto result = parse_rfc3339(text);
      BOOST_TEST(!result);
      if (!result)
        BOOST_TEST(!result.error().empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(roundtrips) {
  for (timestamp_ms t :
       {timestamp_ms{0}, timestamp_ms{1}, timestamp_ms{-86'400'001},
        timestamp_ms{1714555800123}, timestamp_ms{253402300799999},
        timestamp_ms{-62167219200000}, timestamp_ms{4102444800000}}) {
    auto text = format_rfc3339(t);
    auto back = parse_rfc3339(text);
    BOOST_TEST_CONTEXT(text) {
      BOOST_REQUIRE(back);
      BOOST_TEST(*back == t);
    }
  }
  // Every day of a leap and a non-leap year.
  for (timestamp_ms t = 1672531200000; t < 1735689600000;
       t += 86'400'000 + 3'600'007) {
    auto back = parse_rfc3339(format_rfc3339(t));
    BOOST_REQUIRE(back);
    BOOST_TEST(*back == t);
  }
}

BOOST_AUTO_TEST_CASE(now_is_the_system_clock) {
  using namespace std::chrono;
  const auto before
      = duration_cast<milliseconds>(system_clock::now().time_since_epoch())
            .count();
  const auto now = now_ms();
  const auto after
      = duration_cast<milliseconds>(system_clock::now().time_since_epoch())
            .count();
  BOOST_TEST(before <= now);
  BOOST_TEST(now <= after);
}

BOOST_AUTO_TEST_SUITE_END()
