#pragma once

// The routes openapi.yaml lists, for tests that go over every route.

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include <boost/test/unit_test.hpp>

namespace switchboard::test {

/// (method, path) pairs of openapi.yaml's `paths`, methods upper-cased.
inline std::set<std::pair<std::string, std::string>> openapi_routes() {
  std::ifstream in{std::string{SWITCHBOARD_SOURCE_DIR} + "/openapi.yaml"};
  BOOST_REQUIRE(in.good());
  std::set<std::pair<std::string, std::string>> out;
  std::string line, path;
  bool in_paths = false;
  static const std::set<std::string> methods
      = {"get", "post", "put", "patch", "delete", "head", "options"};
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') {
      in_paths = line.rfind("paths:", 0) == 0;
      continue;
    }
    if (!in_paths)
      continue;
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
    } else if (line.size() > 5 && line.rfind("    ", 0) == 0 && line[4] != ' '
               && line.back() == ':') {
      auto m = line.substr(4, line.size() - 5);
      if (methods.count(m) > 0) {
        std::transform(m.begin(), m.end(), m.begin(), ::toupper);
        out.emplace(m, path);
      }
    }
  }
  return out;
}

} // namespace switchboard::test
