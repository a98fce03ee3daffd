#pragma once

// What the bounds tests share: a day from now.

#include <ctime>
#include <string>

#include "tests/app/daemon_fixture.hpp"

namespace switchboard::test {

/// An RFC 3339 day `days` from now (YYYY-MM-DD).
inline std::string day(int days) {
  std::time_t t = std::time(nullptr) + days * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

} // namespace switchboard::test
