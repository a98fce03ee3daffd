#pragma once

// A running `switchboard serve` for integration tests: a free port, a temp
// data dir, two companies (acme, globex) and an admin, made with the CLI
// while the daemon runs.

#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace switchboard::test {

using namespace std::chrono_literals;

/// A running daemon with two companies (acme, globex) and an admin.
struct daemon_fixture {
  /// `launcher`: a command the daemon runs under (e.g. prlimit and its
  /// options), empty for none.
  /// `with_tenants` false: no companies are made (a cluster member, whose
  /// tenants come from another member).
  explicit daemon_fixture(std::vector<std::string> sets = {},
                          std::vector<std::string> launcher = {},
                          bool with_tenants = true)
      : sets_(std::move(sets)), launcher_(std::move(launcher)) {
    start();
    if (!with_tenants)
      return;
    // The CLI writes tenants while the daemon runs.
    acme = tenant({"add", "acme", "--name", "Acme"});
    globex = tenant({"add", "globex"});
    admin = tenant({"add", "ops", "--admin"});
  }

  ~daemon_fixture() {
    stop();
  }

  /// Starts the daemon on the fixture's store (again, after `stop`), on a
  /// new free port.
  void start() {
    auto args = base_args();
    args.insert(args.begin(), {SWITCHBOARD_BINARY, "serve"});
    args.insert(args.begin(), launcher_.begin(), launcher_.end());
    args.insert(args.end(), {"--set", "http.port=0"});
    for (auto& s : sets_)
      args.insert(args.end(), {"--set", s});
    proc = std::make_unique<child_process>(args);
    auto line = proc->wait_for("http listening on", 30s);
    BOOST_TEST_INFO(proc->output());
    BOOST_REQUIRE(!line.empty());
    auto colon = line.find(':', line.find("http listening on"));
    port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    BOOST_REQUIRE(port != 0);
  }

  /// Ends the daemon with SIGKILL, as a crash would.
  void kill() {
    if (proc) {
      proc->signal(SIGKILL);
      proc->wait(30s);
      proc.reset();
    }
  }

  /// Stops the daemon (SIGTERM) and waits for it to end.
  void stop() {
    if (proc) {
      proc->signal(SIGTERM);
      proc->wait(30s);
      proc.reset();
    }
  }

  std::vector<std::string> base_args() const {
    return {"--config", std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini",
            "--set",    "store.path=" + dir.path() + "/data",
            "--set",    "store.sync=none"};
  }

  /// Runs `switchboard tenant <args>` and returns the token it printed.
  std::string tenant(std::vector<std::string> targs) {
    std::vector<std::string> args{SWITCHBOARD_BINARY, "tenant"};
    args.insert(args.end(), targs.begin(), targs.end());
    auto base = base_args();
    args.insert(args.end(), base.begin(), base.end());
    child_process cli(args);
    std::string token;
    std::string line;
    while (cli.read_line(line, 10s))
      if (line.rfind("sb_", 0) == 0)
        token = line;
    BOOST_TEST_INFO(cli.output());
    BOOST_REQUIRE(cli.wait(10s) == 0);
    BOOST_REQUIRE(token.size() == 67u);
    return token;
  }

  /// Stored events, counted by an admin.
  std::size_t event_count() {
    http_client c{port};
    auto r = c.request("GET", "/api/events?limit=1000", "", admin);
    BOOST_REQUIRE(r.status == 200);
    return r.json().as_array().size();
  }

  temp_dir dir;
  std::unique_ptr<child_process> proc;
  std::uint16_t port = 0;
  std::string acme, globex, admin;

private:
  std::vector<std::string> sets_;
  std::vector<std::string> launcher_;
};

/// Checks that `r` created what it asked for (201).
inline void created(const http_reply& r) {
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
}

} // namespace switchboard::test
