#pragma once

// Runs a check script of tests/app/scripts/ with python3, as the browser
// and Prometheus checks are: each line it prints goes to the test log,
// prefixed with the script's name, and comes back with its exit status.

#include <chrono>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/support/process.hpp"

namespace switchboard::test {

/// What a check script said and how it ended (77: skipped).
struct script_outcome {
  int status = -1;
  std::string said;
};

/// Runs tests/app/scripts/`name` with `args`, waiting up to `quiet` for
/// each line it prints.
inline script_outcome
run_check_script(const std::string& name, const std::vector<std::string>& args,
                 std::chrono::seconds quiet = std::chrono::seconds{240}) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                std::string{SWITCHBOARD_SOURCE_DIR}
                                    + "/tests/app/scripts/" + name};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process py(argv);
  script_outcome out;
  std::string line;
  while (py.read_line(line, quiet)) {
    BOOST_TEST_MESSAGE(name << ": " << line);
    out.said += line + "\n";
  }
  out.status = py.wait(std::chrono::seconds{30});
  return out;
}

} // namespace switchboard::test
