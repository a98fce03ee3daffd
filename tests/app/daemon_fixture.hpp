#pragma once

// A running `switchboard serve` for integration tests: a free port, a temp
// data dir, two companies (acme, globex) and an admin, made with the CLI
// while the daemon runs. Also what the tests of it share: serve's options,
// checks of an answer (created, succeeded, its error), a company seeded
// with a customer, a service and a staff member, a booking of them, a wait
// for a condition, and the answers to concurrent attempts counted.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace switchboard::test {

using namespace std::chrono_literals;

/// The options of a command of the daemon's binary on the store at
/// `data`: the project's config.ini, no syncs.
inline std::vector<std::string> store_args(const std::string& data) {
  return {"--config", std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini",
          "--set",    "store.path=" + data,
          "--set",    "store.sync=none"};
}

/// The port of the daemon's "http listening on HOST:PORT" line.
inline std::uint16_t port_of_listening_line(const std::string& line) {
  auto colon = line.find(':', line.find("http listening on"));
  return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
}

/// The HTTP port a starting daemon says it listens on, waited for.
inline std::uint16_t listening_port(child_process& daemon) {
  auto line = daemon.wait_for("http listening on", 30s);
  BOOST_TEST_INFO(daemon.output());
  BOOST_REQUIRE(!line.empty());
  return port_of_listening_line(line);
}

/// `switchboard serve` on the store at `data`, on a free port.
inline std::vector<std::string> serve_args(const std::string& data) {
  std::vector<std::string> args{SWITCHBOARD_BINARY, "serve"};
  auto store = store_args(data);
  args.insert(args.end(), store.begin(), store.end());
  args.insert(args.end(), {"--set", "http.port=0"});
  return args;
}

/// Now since the Unix epoch in `Unit`s, as the senders of signed
/// requests stamp them.
template <class Unit>
std::int64_t unix_time() {
  return std::chrono::duration_cast<Unit>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A memory figure of process `pid` in bytes, 0 when unreadable: the line
/// `name` of /proc/PID/status ("VmRSS", resident memory; "RssAnon", its
/// anonymous part: the heap, not the store's mapped file).
inline std::size_t memory_bytes(pid_t pid, const std::string& name) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  auto key = name + ":";
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0)
      return std::stoull(line.substr(key.size())) * 1024;
  return 0;
}

/// How a command of the daemon's binary ended: its exit code (-1 when it
/// outlived its wait) and everything it wrote.
struct command_run {
  int rc = -1;
  std::string out;
};

/// Runs `switchboard <args> <store>` (`store`: the options of a store, as
/// `store_args` makes them), reads its output to the end, each line waited
/// for at most `patience`, and waits as long for its exit.
inline command_run run_command(std::vector<std::string> args,
                               const std::vector<std::string>& store,
                               std::chrono::milliseconds patience = 10s) {
  args.insert(args.begin(), SWITCHBOARD_BINARY);
  args.insert(args.end(), store.begin(), store.end());
  child_process p(args);
  std::string line;
  while (p.read_line(line, patience)) {
  }
  command_run r;
  r.rc = p.wait(patience);
  r.out = p.output();
  return r;
}

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
    start_with(sets_);
  }

  /// Stops the daemon (SIGTERM) and starts it again on its store with the
  /// options `sets` in place of the fixture's.
  void restart_with(const std::vector<std::string>& sets) {
    stop();
    start_with(sets);
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
    return store_args(dir.path() + "/data");
  }

  /// Runs `switchboard <args>` on this daemon's store (see `run_command`).
  command_run command(std::vector<std::string> args,
                      std::chrono::milliseconds patience = 10s) const {
    return run_command(std::move(args), base_args(), patience);
  }

  /// Runs `switchboard tenant <args>` and returns the token it printed.
  std::string tenant(std::vector<std::string> targs) {
    targs.insert(targs.begin(), "tenant");
    auto run = command(std::move(targs));
    std::string token;
    std::istringstream lines{run.out};
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("sb_", 0) == 0)
        token = line;
    BOOST_TEST_INFO(run.out);
    BOOST_REQUIRE(run.rc == 0);
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
  void start_with(const std::vector<std::string>& sets) {
    auto args = serve_args(dir.path() + "/data");
    args.insert(args.begin(), launcher_.begin(), launcher_.end());
    for (auto& s : sets)
      args.insert(args.end(), {"--set", s});
    // A cluster member's port is picked free but bound only now: another
    // process (a test or benchmark beside this one under ctest -j2) may
    // hold it for a moment. The member refuses to start then; start it
    // again on the same port, which its peers know it by.
    for (int attempt = 1;; ++attempt) {
      proc = std::make_unique<child_process>(args);
      auto line = proc->wait_for("http listening on", 30s);
      if (line.empty() && attempt < 5
          && proc->output().find("cannot publish the cluster actor")
                 != std::string::npos) {
        proc->wait(30s);
        std::this_thread::sleep_for(std::chrono::milliseconds(250 * attempt));
        continue;
      }
      BOOST_TEST_INFO(proc->output());
      BOOST_REQUIRE(!line.empty());
      port = port_of_listening_line(line);
      break;
    }
    BOOST_REQUIRE(port != 0);
  }

  std::vector<std::string> sets_;
  std::vector<std::string> launcher_;
};

/// Checks that `r` created what it asked for (201).
inline void created(const http_reply& r) {
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
}

/// The code of `r`'s JSON error, or what stands in its place.
inline std::string error_code(const http_reply& r) {
  auto v = r.json();
  if (!v.is_object() || !v.as_object().contains("error"))
    return "<no error body: " + r.body + ">";
  return std::string{v.at("error").at("code").as_string()};
}

/// True if `r`'s JSON error names `field`.
inline bool names_field(const http_reply& r, const std::string& field) {
  auto v = r.json();
  return v.is_object() && v.as_object().contains("error")
         && v.at("error").at("fields").as_object().contains(field);
}

/// The string `field` of each object of `list` (a JSON array), in order.
inline std::vector<std::string> strings_of(const boost::json::value& list,
                                           const char* field) {
  std::vector<std::string> out;
  for (const auto& v : list.as_array())
    out.emplace_back(v.at(field).as_string());
  return out;
}

/// The JSON body of `r`, which must have been answered 200.
inline boost::json::value ok_json(const http_reply& r) {
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  return r.json();
}

/// Checks that `r` succeeded (2xx).
inline void succeeded(const http_reply& r) {
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status / 100 == 2);
}

/// Asks through `c` to make service `id` of company `token`: `name`,
/// `minutes` long, at `price_cents`.
inline http_reply post_service(http_client& c, const std::string& token,
                               const std::string& id, const std::string& name,
                               int price_cents, int minutes) {
  boost::json::object s{{"id", id},
                        {"name", name},
                        {"price_cents", price_cents},
                        {"duration_minutes", minutes}};
  return c.request("POST", "/api/services", boost::json::serialize(s), token);
}

/// Asks through `c` to make staff member `id` of company `token`, `name`.
inline http_reply post_staff(http_client& c, const std::string& token,
                             const std::string& id, const std::string& name) {
  boost::json::object s{{"id", id}, {"name", name}};
  return c.request("POST", "/api/staff", boost::json::serialize(s), token);
}

/// A service (s1) and a staff member (st1, named `staff`) of company
/// `token`, made through `c`.
inline void seed_service(http_client& c, const std::string& token,
                         const std::string& staff = "Bo") {
  created(post_service(c, token, "s1", "Cut", 4500, 30));
  created(post_staff(c, token, "st1", staff));
}

/// The customer `seed` makes unless told otherwise.
inline constexpr const char* seed_customer
    = R"({"id":"cu1","name":"Ada","phone":"+4930123"})";

/// A customer (cu1, `customer`), a service (s1) and a staff member (st1)
/// of company `token`, made through `c`.
inline void seed(http_client& c, const std::string& token,
                 const std::string& customer = seed_customer) {
  created(c.request("POST", "/api/customers", customer, token));
  seed_service(c, token);
}

/// The same, through the daemon (or cluster member) on `port`.
inline void seed(std::uint16_t port, const std::string& token,
                 const std::string& customer = seed_customer) {
  http_client c{port};
  seed(c, token, customer);
}

/// A booking `id` of company `token` at `start`: of `seed`'s customer,
/// service and staff member unless told others.
inline http_reply book(http_client& c, const std::string& token,
                       const std::string& id, const std::string& start,
                       const std::string& customer = "cu1",
                       const std::string& service = "s1",
                       const std::string& staff = "st1") {
  boost::json::object b{{"id", id},
                        {"customer_id", customer},
                        {"service_id", service},
                        {"staff_id", staff},
                        {"start_time", start}};
  return c.request("POST", "/api/appointments", boost::json::serialize(b),
                   token);
}

/// A dashboard session: the Set-Cookie header that opened it, the cookie
/// to send back ("name=value") and its CSRF token.
struct dashboard_session {
  std::string set_cookie;
  std::string cookie;
  std::string csrf;
  boost::json::value answer;
};

/// Signs in to the dashboard through `c` with `token` (from this
/// server's origin); requires 200.
inline dashboard_session sign_in(http_client& c, const std::string& token) {
  auto r = c.request("POST", "/admin/events/session",
                     R"({"token":")" + token + R"("})", "",
                     {{"Origin", "http://127.0.0.1"}});
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  dashboard_session s;
  s.set_cookie = r.header("set-cookie");
  s.cookie = s.set_cookie.substr(0, s.set_cookie.find(';'));
  s.answer = r.json();
  s.csrf = std::string{s.answer.at("csrf_token").as_string()};
  return s;
}

/// Calls `f` every 50 ms until it returns true, for at most `limit` (a
/// bound far above what the work needs, so that a slow machine does not
/// fail the test).
template <class F>
bool eventually(F f,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

/// How the answers to concurrent attempts came out: 201, 409, other.
struct race_count {
  int created = 0;
  int conflicts = 0;
  int other = 0;
};

/// Runs `attempt(i)` for each i below `n`, each on a thread of its own, all
/// at once, and counts what they were answered.
template <class F>
race_count race(int n, F attempt) {
  std::atomic<int> created{0}, conflicts{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto r = attempt(i);
      if (r.status == 201)
        ++created;
      else if (r.status == 409)
        ++conflicts;
      else
        ++other;
    });
  for (auto& t : threads)
    t.join();
  return {created.load(), conflicts.load(), other.load()};
}

} // namespace switchboard::test
