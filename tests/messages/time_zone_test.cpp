#include <messages/time.hpp>
#include <messages/time_zone.hpp>

#include <boost/test/unit_test.hpp>

using namespace switchboard;

namespace {

timestamp_ms at(const char* rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  BOOST_REQUIRE(t);
  return *t;
}

time_zone zone(const char* name) {
  auto tz = time_zone::load(name);
  BOOST_REQUIRE_MESSAGE(tz, (tz ? "" : tz.error()));
  return *tz;
}

} // namespace

BOOST_AUTO_TEST_SUITE(time_zones)

// Both transitions of 2026 and of 2027 in Berlin: the last Sundays of March
// and October at 01:00 UTC.
BOOST_AUTO_TEST_CASE(berlin_offsets_across_the_transitions) {
  auto tz = zone("Europe/Berlin");
  for (auto [before, after] :
       {std::pair{"2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z"},
        std::pair{"2027-03-28T00:59:59Z", "2027-03-28T01:00:00Z"}}) {
    BOOST_TEST(tz.offset_s(at(before)) == 3600);
    BOOST_TEST(tz.offset_s(at(after)) == 7200);
  }
  for (auto [before, after] :
       {std::pair{"2026-10-25T00:59:59Z", "2026-10-25T01:00:00Z"},
        std::pair{"2027-10-31T00:59:59Z", "2027-10-31T01:00:00Z"}}) {
    BOOST_TEST(tz.offset_s(at(before)) == 7200);
    BOOST_TEST(tz.offset_s(at(after)) == 3600);
  }
  BOOST_TEST(format_rfc3339_in(at("2026-07-01T07:00:00Z"), tz)
             == "2026-07-01T09:00:00+02:00");
  BOOST_TEST(format_rfc3339_in(at("2026-12-01T08:00:00Z"), tz)
             == "2026-12-01T09:00:00+01:00");
}

BOOST_AUTO_TEST_CASE(new_york_offsets_across_the_transitions) {
  auto tz = zone("America/New_York");
  BOOST_TEST(tz.offset_s(at("2026-03-08T06:59:59Z")) == -5 * 3600);
  BOOST_TEST(tz.offset_s(at("2026-03-08T07:00:00Z")) == -4 * 3600);
  BOOST_TEST(tz.offset_s(at("2026-11-01T05:59:59Z")) == -4 * 3600);
  BOOST_TEST(tz.offset_s(at("2026-11-01T06:00:00Z")) == -5 * 3600);
  BOOST_TEST(tz.offset_s(at("2027-03-14T07:00:00Z")) == -4 * 3600);
  BOOST_TEST(tz.offset_s(at("2027-11-07T06:00:00Z")) == -5 * 3600);
  BOOST_TEST(format_rfc3339_in(at("2026-01-15T14:30:00Z"), tz)
             == "2026-01-15T09:30:00-05:00");
}

// Local wall-clock times: the skipped hour of spring does not exist, the
// repeated hour of autumn is its first occurrence.
BOOST_AUTO_TEST_CASE(local_times_to_instants) {
  auto tz = zone("Europe/Berlin");
  BOOST_TEST(*tz.to_utc(at("2026-03-29T01:30:00Z"))
             == at("2026-03-29T00:30:00Z"));
  BOOST_TEST(!tz.to_utc(at("2026-03-29T02:30:00Z")));
  BOOST_TEST(*tz.to_utc(at("2026-03-29T03:00:00Z"))
             == at("2026-03-29T01:00:00Z"));
  BOOST_TEST(*tz.to_utc(at("2026-10-25T02:30:00Z"))
             == at("2026-10-25T00:30:00Z"));
  BOOST_TEST(*tz.to_utc(at("2027-10-31T03:30:00Z"))
             == at("2027-10-31T02:30:00Z"));
  BOOST_TEST(tz.to_local(at("2026-06-01T07:00:00Z"))
             == at("2026-06-01T09:00:00Z"));
}

BOOST_AUTO_TEST_CASE(bad_names_are_refused) {
  for (const char* bad : {"", "../etc/passwd", "/etc/passwd", "Mars/Olympus",
                          "Europe/Berlin\n", "a b"}) {
    auto tz = time_zone::load(bad);
    BOOST_TEST_INFO(bad);
    BOOST_TEST(!tz);
  }
  auto utc = time_zone::load("UTC");
  BOOST_REQUIRE(utc);
  BOOST_TEST(utc->offset_s(at("2026-07-01T00:00:00Z")) == 0);
  BOOST_TEST(format_rfc3339_in(at("2026-07-01T00:00:00Z"), *utc)
             == "2026-07-01T00:00:00Z");
}

BOOST_AUTO_TEST_SUITE_END()
