#pragma once

// What the bounds tests share: a day from now, and a check that a request
// created what it asked for.

#include <ctime>
#include <string>

#include <boost/test/unit_test.hpp>

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

/// Checks that `r` created what it asked for (201).
inline void created(const http_reply& r) {
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
}

} // namespace switchboard::test
