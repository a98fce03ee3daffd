#pragma once

// What the tests of the providers share: the deliveries and answers of
// tests/app/fixtures/, and a string field of a JSON object.

#include <fstream>
#include <iterator>
#include <string>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

namespace switchboard::test {

/// The text of tests/app/fixtures/`path`.
inline std::string fixture_text(const std::string& path) {
  std::ifstream in{std::string{SWITCHBOARD_SOURCE_DIR} + "/tests/app/fixtures/"
                   + path};
  BOOST_REQUIRE(in.good());
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// The string at `key` of object `v`, empty when there is none.
inline std::string str(const boost::json::value& v, const char* key) {
  if (const auto* f = v.as_object().if_contains(key); f && f->is_string())
    return std::string{f->get_string()};
  return {};
}

} // namespace switchboard::test
