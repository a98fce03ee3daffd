#pragma once

// What the bounds tests share: a day from now.

#include <string>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/times.hpp"

namespace switchboard::test {

/// An RFC 3339 day `days` from now (YYYY-MM-DD).
inline std::string day(int days) {
  return utc_at(days, 0).substr(0, 10);
}

} // namespace switchboard::test
