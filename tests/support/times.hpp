#pragma once

// Times for tests: an hour and a day in milliseconds (timestamp_ms), and,
// for tests that talk to the daemon, days from now at a UTC wall-clock
// time, written as RFC 3339.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace switchboard {

inline constexpr std::int64_t hour_ms = 3'600'000;
inline constexpr std::int64_t day_ms = 24 * hour_ms;

} // namespace switchboard

namespace switchboard::test {

/// An RFC 3339 time `days` from today (UTC) at `hour`:`minute` UTC.
inline std::string utc_at(int days, int hour, int minute = 0) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  std::time_t t
      = secs - secs % 86400 + days * 86400 + hour * 3600 + minute * 60;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace switchboard::test
