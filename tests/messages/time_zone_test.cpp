#include <messages/time.hpp>
#include <messages/time_zone.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

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

time_zone rule(const char* text) {
  auto tz = time_zone::from_posix_rule(text);
  BOOST_REQUIRE_MESSAGE(tz, (tz ? "" : tz.error()));
  return *tz;
}

/// Checks that `tz` changes from offset `before` to `after` (seconds east)
/// exactly at `instant`.
void changes_at(const time_zone& tz, const char* instant, int before,
                int after) {
  BOOST_TEST_CONTEXT(tz.name() << " at " << instant) {
    BOOST_TEST(tz.offset_s(at(instant) - 1000) == before);
    BOOST_TEST(tz.offset_s(at(instant)) == after);
  }
}

void put_be(std::string& out, std::int64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

/// A "slim" TZif v2 file as zic writes it: one transition (from local mean
/// time to `std_offset` at `first`) and the rest in the footer `rule`.
std::string slim_tzif(std::int64_t first, std::int32_t std_offset,
                      const std::string& rule) {
  auto block = [&](int time_bytes) {
    std::string b = "TZif2";
    b.append(15, '\0');
    for (std::int64_t count :
         {0, 0, 0, 1, 2, 8}) // isut isstd leap time type char
      put_be(b, count, 4);
    put_be(b, first, time_bytes);
    b.push_back('\1');
    put_be(b, 3208, 4); // LMT
    b += std::string{"\0\0", 2};
    put_be(b, std_offset, 4);
    b += std::string{"\0\4", 2};
    b += std::string{"LMT\0STD\0", 8};
    return b;
  };
  return block(4) + block(8) + "\n" + rule + "\n";
}

/// Points $TZDIR at a fresh directory for one test, and back after it.
struct tzdir_fixture {
  tzdir_fixture() {
    dir = std::filesystem::temp_directory_path()
          / ("switchboard-tz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "Test");
    if (const char* old = std::getenv("TZDIR"))
      saved = old;
    ::setenv("TZDIR", dir.c_str(), 1);
  }
  ~tzdir_fixture() {
    if (saved.empty())
      ::unsetenv("TZDIR");
    else
      ::setenv("TZDIR", saved.c_str(), 1);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream out{dir / name, std::ios::binary};
    out << bytes;
  }
  std::filesystem::path dir;
  std::string saved;
};

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

// Past the last transition of the file (2037 in "fat" files), the footer's
// POSIX TZ rule gives the offsets: both changes of 2040 and of 2100 (not a
// leap year) in Berlin and New York.
BOOST_AUTO_TEST_CASE(system_zones_after_the_last_transition) {
  auto berlin = zone("Europe/Berlin");
  changes_at(berlin, "2040-03-25T01:00:00Z", 3600, 7200);
  changes_at(berlin, "2040-10-28T01:00:00Z", 7200, 3600);
  changes_at(berlin, "2100-03-28T01:00:00Z", 3600, 7200);
  changes_at(berlin, "2100-10-31T01:00:00Z", 7200, 3600);
  BOOST_TEST(berlin.offset_s(at("2040-01-15T12:00:00Z")) == 3600);
  BOOST_TEST(berlin.offset_s(at("2040-07-15T12:00:00Z")) == 7200);
  BOOST_TEST(berlin.offset_s(at("2100-12-31T23:59:59Z")) == 3600);
  BOOST_TEST(format_rfc3339_in(at("2100-07-01T07:00:00Z"), berlin)
             == "2100-07-01T09:00:00+02:00");
  auto new_york = zone("America/New_York");
  changes_at(new_york, "2040-03-11T07:00:00Z", -5 * 3600, -4 * 3600);
  changes_at(new_york, "2040-11-04T06:00:00Z", -4 * 3600, -5 * 3600);
  changes_at(new_york, "2100-03-14T07:00:00Z", -5 * 3600, -4 * 3600);
  changes_at(new_york, "2100-11-07T06:00:00Z", -4 * 3600, -5 * 3600);
  BOOST_TEST(new_york.offset_s(at("2100-01-01T00:00:00Z")) == -5 * 3600);
  BOOST_TEST(format_rfc3339_in(at("2040-07-04T13:00:00Z"), new_york)
             == "2040-07-04T09:00:00-04:00");
  // Wall-clock times under the rule: the skipped and the repeated hour.
  BOOST_TEST(!berlin.to_utc(at("2040-03-25T02:30:00Z")));
  BOOST_TEST(*berlin.to_utc(at("2040-10-28T02:30:00Z"))
             == at("2040-10-28T00:30:00Z"));
  BOOST_TEST(*new_york.to_utc(at("2100-03-14T09:00:00Z"))
             == at("2100-03-14T13:00:00Z"));
}

// Southern hemisphere: daylight-saving time spans the new year.
BOOST_AUTO_TEST_CASE(southern_zones_after_the_last_transition) {
  auto sydney = zone("Australia/Sydney");
  changes_at(sydney, "2040-03-31T16:00:00Z", 11 * 3600, 10 * 3600);
  changes_at(sydney, "2040-10-06T16:00:00Z", 10 * 3600, 11 * 3600);
  changes_at(sydney, "2100-04-03T16:00:00Z", 11 * 3600, 10 * 3600);
  changes_at(sydney, "2100-10-02T16:00:00Z", 10 * 3600, 11 * 3600);
  BOOST_TEST(sydney.offset_s(at("2100-01-01T00:00:00Z")) == 11 * 3600);
  BOOST_TEST(sydney.offset_s(at("2040-07-01T00:00:00Z")) == 10 * 3600);
  // Santiago changes at 24:00 on a Saturday (M9.1.6/24, M4.1.6/24).
  auto santiago = zone("America/Santiago");
  changes_at(santiago, "2040-04-08T03:00:00Z", -3 * 3600, -4 * 3600);
  changes_at(santiago, "2040-09-02T04:00:00Z", -4 * 3600, -3 * 3600);
  changes_at(santiago, "2100-04-04T03:00:00Z", -3 * 3600, -4 * 3600);
  changes_at(santiago, "2100-09-05T04:00:00Z", -4 * 3600, -3 * 3600);
}

BOOST_AUTO_TEST_CASE(zones_without_daylight_saving_time) {
  auto tokyo = zone("Asia/Tokyo");
  auto kolkata = zone("Asia/Kolkata");
  for (const char* t : {"2040-01-01T00:00:00Z", "2040-07-01T00:00:00Z",
                        "2100-03-28T01:00:00Z"}) {
    BOOST_TEST(tokyo.offset_s(at(t)) == 9 * 3600);
    BOOST_TEST(kolkata.offset_s(at(t)) == 5 * 3600 + 1800);
  }
  BOOST_TEST(rule("JST-9").offset_s(at("2100-07-01T00:00:00Z")) == 9 * 3600);
  BOOST_TEST(rule("<+0545>-5:45").offset_s(at("2040-01-01T00:00:00Z"))
             == 5 * 3600 + 45 * 60);
  BOOST_TEST(rule("<-03>3").offset_s(at("2040-01-01T00:00:00Z")) == -3 * 3600);
  BOOST_TEST(rule("<+03>-3").offset_s(at("2040-01-01T00:00:00Z")) == 3 * 3600);
  BOOST_TEST(rule("XXX+1:02:03").offset_s(0) == -(3600 + 2 * 60 + 3));
  BOOST_TEST(format_rfc3339_in(at("2040-06-01T00:00:00Z"), rule("<+0545>-5:45"))
             == "2040-06-01T05:45:00+05:45");
}

// Hand-built rules: each date form, signed and angle-bracketed names and
// offsets, times of day past 24 hours and before midnight.
BOOST_AUTO_TEST_CASE(hand_built_rules) {
  auto berlin = rule("CET-1CEST,M3.5.0,M10.5.0/3");
  changes_at(berlin, "2040-03-25T01:00:00Z", 3600, 7200);
  changes_at(berlin, "2040-10-28T01:00:00Z", 7200, 3600);
  BOOST_TEST(berlin.name() == "CET-1CEST,M3.5.0,M10.5.0/3");
  // The rule and the transitions of the file agree for every hour of the
  // years the file lists.
  auto file = zone("Europe/Berlin");
  int disagree = 0;
  for (auto t = at("2030-01-01T00:00:00Z"); t < at("2037-12-31T00:00:00Z");
       t += 3600 * 1000)
    disagree += berlin.offset_s(t) != file.offset_s(t);
  BOOST_TEST(disagree == 0);
  // Default DST offset (one hour ahead) and default time (02:00).
  auto new_york = rule("EST5EDT,M3.2.0,M11.1.0");
  changes_at(new_york, "2040-03-11T07:00:00Z", -5 * 3600, -4 * 3600);
  changes_at(new_york, "2040-11-04T06:00:00Z", -4 * 3600, -5 * 3600);
  // Explicit DST offset with a sign and minutes.
  auto lord_howe = rule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  changes_at(lord_howe, "2040-03-31T15:00:00Z", 11 * 3600, 10 * 3600 + 1800);
  changes_at(lord_howe, "2040-10-06T15:30:00Z", 10 * 3600 + 1800, 11 * 3600);
  // Jn ignores February 29, n counts it: J60 is March 1, day 59 is
  // February 29 in a leap year and March 1 otherwise.
  auto julian = rule("AAA3BBB,J60,J300");
  changes_at(julian, "2040-03-01T05:00:00Z", -3 * 3600, -2 * 3600);
  changes_at(julian, "2100-03-01T05:00:00Z", -3 * 3600, -2 * 3600);
  changes_at(julian, "2040-10-27T04:00:00Z", -2 * 3600, -3 * 3600);
  auto zero_based = rule("AAA3BBB,59/0,299/0");
  changes_at(zero_based, "2040-02-29T03:00:00Z", -3 * 3600, -2 * 3600);
  changes_at(zero_based, "2100-03-01T03:00:00Z", -3 * 3600, -2 * 3600);
  // Negative times and 24:00 (America/Nuuk, America/Santiago).
  auto nuuk = rule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  changes_at(nuuk, "2040-03-25T01:00:00Z", -2 * 3600, -1 * 3600);
  changes_at(nuuk, "2040-10-28T01:00:00Z", -1 * 3600, -2 * 3600);
  auto santiago = rule("<-04>4<-03>,M9.1.6/24,M4.1.6/24");
  changes_at(santiago, "2040-09-02T04:00:00Z", -4 * 3600, -3 * 3600);
  // Daylight-saving time all year (zic writes this for permanent DST).
  auto always = rule("EST5EDT,0/0,J365/25");
  for (const char* t :
       {"2040-01-01T00:00:00Z", "2040-01-01T05:00:00Z", "2040-07-01T00:00:00Z",
        "2040-12-31T23:59:59Z", "2100-02-28T12:00:00Z"})
    BOOST_TEST(always.offset_s(at(t)) == -4 * 3600, t);
  // A DST name without dates: the US rules.
  BOOST_TEST(rule("EST5EDT").offset_s(at("2040-07-01T00:00:00Z")) == -4 * 3600);
}

BOOST_AUTO_TEST_CASE(malformed_rules_are_refused) {
  for (const char* bad : {"",
                          "CET",
                          "CE-1",
                          "CET-1CE",
                          "CET-25",
                          "CET-1CEST,M3.5.0",
                          "CET-1CEST,M13.5.0,M10.5.0",
                          "CET-1CEST,M3.6.0,M10.5.0",
                          "CET-1CEST,M3.5.7,M10.5.0",
                          "CET-1CEST,M0.5.0,M10.5.0",
                          "CET-1CEST,J0,J300",
                          "CET-1CEST,J366,J300",
                          "CET-1CEST,366,300",
                          "CET-1CEST,M3.5.0,M10.5.0/168",
                          "CET-1CEST,M3.5.0,M10.5.0 ",
                          "<+03-3",
                          "<+3>-3",
                          "CET-1:60",
                          "CET-1CEST,M3.5.0,,M10.5.0",
                          "CET-1CEST,M3.5.0/,M10.5.0"}) {
    auto tz = time_zone::from_posix_rule(bad);
    BOOST_TEST(!tz, '"' << bad << '"');
    if (!tz)
      BOOST_TEST(tz.error().find("POSIX TZ rule") != std::string::npos);
  }
}

// A "slim" file (as zic -b slim writes, and some distributions ship): its
// last transition is decades ago and the footer gives every later offset.
BOOST_FIXTURE_TEST_CASE(slim_files_use_their_footer, tzdir_fixture) {
  write("Test/Slim_Berlin", slim_tzif(at("1893-04-01T00:00:00Z") / 1000, 3600,
                                      "CET-1CEST,M3.5.0,M10.5.0/3"));
  auto slim = zone("Test/Slim_Berlin");
  BOOST_TEST(slim.offset_s(at("1800-01-01T00:00:00Z")) == 3208);
  changes_at(slim, "2026-03-29T01:00:00Z", 3600, 7200);
  changes_at(slim, "2026-10-25T01:00:00Z", 7200, 3600);
  changes_at(slim, "2027-03-28T01:00:00Z", 3600, 7200);
  changes_at(slim, "2040-10-28T01:00:00Z", 7200, 3600);
  write("Test/Slim_Sydney", slim_tzif(at("1895-02-01T00:00:00Z") / 1000, 36000,
                                      "AEST-10AEDT,M10.1.0,M4.1.0/3"));
  auto sydney = zone("Test/Slim_Sydney");
  changes_at(sydney, "2026-04-04T16:00:00Z", 11 * 3600, 10 * 3600);
  changes_at(sydney, "2026-10-03T16:00:00Z", 10 * 3600, 11 * 3600);
  // A footer that is not a rule refuses the file, naming the zone.
  write("Test/Bad_Footer", slim_tzif(0, 3600, "CET-1CEST,M3.5.0"));
  auto bad = time_zone::load("Test/Bad_Footer");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().find("Test/Bad_Footer") != std::string::npos);
  BOOST_TEST(bad.error().find("POSIX TZ rule") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
