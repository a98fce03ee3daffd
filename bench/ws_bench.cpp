// WebSocket fan-out benchmark of broadcasting, beside a bare broadcast
// server measured in the same run.
//
//   1. The daemon (the real binary, a temp store, [broadcasting] set):
//      --companies companies made with `switchboard tenant add`, each with
//      a customer, a service and --staff staff members over HTTP. Then
//      --connections WebSocket clients speak the Pusher protocol: each
//      waits for pusher:connection_established, signs its subscription to
//      private-company.{id} (connection i: company i % companies) with the
//      app secret, and waits for subscription_succeeded. The daemon's
//      VmRSS before the first connection and after the last subscription
//      gives the memory per 10k connections.
//      Then bookings go over HTTP (keep-alive connections) at a steady
//      --rate for --seconds, spread over the companies; each carries its
//      send time (CLOCK_MONOTONIC, ns) in `notes`, which the daemon
//      broadcasts in appointment.created's payload. A delivery is an
//      appointment.created frame received by a subscriber; its latency is
//      receipt minus the booking's send time: HTTP parse, the command, the
//      durable commit (store.sync=full, fsync), the broadcast and the
//      client's read. It is an upper bound of commit → receipt (the commit
//      time is not visible outside the daemon); the bookings' own latency
//      (send → 201) is printed beside it. Figures count the deliveries
//      received, and the latencies of bookings sent, after --warmup
//      seconds until the end of the run: sustained, not a burst.
//   2. The anchor: the same fan-out through a bare Beast WebSocket server
//      (this program with --bare-server, the daemon's thread count, one
//      list of subscribers per thread, a frame shared by its subscribers,
//      a bounded send queue), no protocol: a client sends "sub N", and a
//      publisher's "pub N payload" goes to channel N's subscribers. The
//      payloads have the daemon's frame size and carry their send time;
//      they are published at the rate the daemon's bookings reached.
//
//   With --publish api there are no bookings: signed Pusher HTTP API
//   triggers (POST /apps/{id}/events, each on 10 company channels) carry
//   the send time, which measures the fan-out without the commit. The
//   anchor then publishes the same way: keep-alive HTTP requests
//   (POST /pub, as many channels each) over as many connections, so both
//   p99s include an HTTP request; bare_request_p99_ms is its
//   request_p99_ms.
//
// Usage: ws_bench [--quick] [--binary PATH] [--connections N]
//          [--companies N] [--rate R] [--seconds S] [--warmup S]
//          [--staff N] [--http-connections N] [--sync full|none]
//          [--publish bookings|api]
// The client is one process with two threads. The last line is
// "RESULT ws_bench ...". Timing never fails the run; a daemon that does
// not start, refuses subscriptions or answers bookings with errors does.

// The parts: ws_bench_client.cpp, ws_bench_requests.cpp,
// ws_bench_server.cpp (ws_bench.hpp).

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "bench/ws_bench.hpp"

namespace switchboard::bench::ws_bench {

[[noreturn]] void die(const std::string& why) {
  std::cerr << "ws_bench: " << why << std::endl;
  std::exit(1);
}

/// Raises the soft open-files limit to the hard one.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

} // namespace switchboard::bench::ws_bench

using namespace switchboard::bench::ws_bench;

namespace {

std::size_t fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<std::size_t>(r.rlim_cur);
}

// -- child processes ----------------------------------------------------------

/// Starts `argv` with stdout and stderr to `log`; returns its pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log,
            const std::string& dir) {
  pid_t pid = fork();
  if (pid < 0)
    die("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (chdir(dir.c_str()) != 0)
      _exit(127);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

/// Waits for `pattern` followed by a port in `log`; 0 when `pid` ended or
/// 30 s passed.
std::uint16_t wait_port(pid_t pid, const std::string& log,
                        const std::string& pattern) {
  for (int i = 0; i < 300; ++i) {
    std::ifstream in{log};
    std::stringstream ss;
    ss << in.rdbuf();
    auto text = ss.str();
    auto at = text.find(pattern);
    if (at != std::string::npos) {
      // "PATTERN host:port ..."
      auto colon = text.find(':', at + pattern.size());
      auto end = text.find('\n', at);
      if (colon != std::string::npos && end != std::string::npos && colon < end)
        return static_cast<std::uint16_t>(std::atoi(text.c_str() + colon + 1));
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

void stop_child(pid_t pid, const char* name) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cerr << "ws_bench: " << name << " did not stop on SIGTERM; killing it"
            << std::endl;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr)
    return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    out += buf;
  pclose(p);
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

/// A blocking POST on a fresh connection; returns the status.
int http_post(std::uint16_t port, const std::string& path,
              const std::string& body, const std::string& token,
              std::string* reply = nullptr) {
  asio::io_context ioc;
  beast::tcp_stream s{ioc};
  beast::error_code ec;
  s.socket().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec)
    return 0;
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req, ec);
  if (ec)
    return 0;
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res, ec);
  if (ec)
    return 0;
  if (reply != nullptr)
    *reply = res.body();
  return static_cast<int>(res.result_int());
}
// -- main ---------------------------------------------------------------------

struct options {
  bool quick = false;
  std::string binary;
  std::size_t connections = 10000;
  std::size_t companies = 100;
  double rate = 5000;
  double seconds = 20;
  double warmup = 3;
  std::size_t staff = 8;
  std::size_t http_connections = 128;
  std::string sync = "full";
  std::size_t api_fanout = 0; ///< --publish api: channels per trigger.
};

void usage(std::ostream& out) {
  out << "Usage: ws_bench [--quick] [--binary PATH] [--connections N] "
         "[--companies N]\n"
         "         [--rate BOOKINGS_PER_S] [--seconds S] [--warmup S] "
         "[--staff N]\n"
         "         [--http-connections N] [--sync full|none] "
         "[--publish bookings|api]\n"
         "--publish api: no bookings; signed Pusher HTTP API triggers, each "
         "on 10\n"
         "  company channels (--rate counts channel events): the fan-out "
         "alone.\n"
         "--quick: 500 connections over 10 companies, 200 bookings/s for 4 "
         "s.\n";
}

/// A flag that sets the option `field` from its value.
template <class T>
struct value_flag {
  const char* name;
  T options::*field;
};

const value_flag<std::string> text_flags[]
    = {{"--binary", &options::binary}, {"--sync", &options::sync}};
const value_flag<std::size_t> count_flags[]
    = {{"--connections", &options::connections},
       {"--companies", &options::companies},
       {"--staff", &options::staff},
       {"--http-connections", &options::http_connections}};
const value_flag<double> number_flags[] = {{"--rate", &options::rate},
                                           {"--seconds", &options::seconds},
                                           {"--warmup", &options::warmup}};

/// What --quick stands for: flags read before the ones given, which win.
const char* const quick_flags[]
    = {"--connections",      "500", "--companies", "10", "--rate",  "200",
       "--seconds",          "4",   "--warmup",    "1",  "--staff", "4",
       "--http-connections", "16"};

void parse_into(std::string& x, const std::string& v) {
  x = v;
}

void parse_into(std::size_t& x, const std::string& v) {
  x = std::stoul(v);
}

void parse_into(double& x, const std::string& v) {
  x = std::stod(v);
}

/// Sets the option of the flag `name` in `flags` from `value()`; false
/// where `flags` has no such flag.
template <class T, std::size_t N, class Value>
bool set_option(options& o, const value_flag<T> (&flags)[N],
                const std::string& name, Value&& value) {
  for (const auto& f : flags)
    if (name == f.name) {
      parse_into(o.*f.field, value());
      return true;
    }
  return false;
}

options parse(int argc, char** argv) {
  options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (std::find(args.begin(), args.end(), "--quick") != args.end()) {
    o.quick = true;
    args.insert(args.begin(), std::begin(quick_flags), std::end(quick_flags));
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    auto value = [&] {
      if (i + 1 >= args.size()) {
        usage(std::cerr);
        die(a + " needs a value");
      }
      return args[++i];
    };
    if (a == "--quick")
      continue;
    if (a == "--publish") {
      auto v = value();
      if (v == "api")
        o.api_fanout = 10;
      else if (v != "bookings")
        die("--publish is bookings or api");
    } else if (a == "-h" || a == "--help") {
      usage(std::cout);
      std::exit(0);
    } else if (!set_option(o, text_flags, a, value)
               && !set_option(o, count_flags, a, value)
               && !set_option(o, number_flags, a, value)) {
      usage(std::cerr);
      die("unknown option " + a);
    }
  }
  if (o.companies == 0 || o.connections < o.companies)
    die("--connections must be at least --companies (at least 1)");
  if (o.seconds <= o.warmup || o.rate <= 0)
    die("--seconds must exceed --warmup, and --rate be positive");
  if (o.sync != "full" && o.sync != "none")
    die("--sync is full or none");
  return o;
}

std::string default_binary(const char* argv0) {
  // build/bench/ws_bench → build/app/switchboard
  std::error_code ec;
  auto self = std::filesystem::canonical("/proc/self/exe", ec);
  if (ec)
    self = argv0;
  return (self.parent_path().parent_path() / "app" / "switchboard").string();
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string{argv[1]} == "--bare-server") {
    return run_bare_server(argc >= 3 ? std::stoul(argv[2]) : 2);
  }
  signal(SIGPIPE, SIG_IGN);
  auto o = parse(argc, argv);
  if (o.binary.empty())
    o.binary = default_binary(argv[0]);
  if (access(o.binary.c_str(), X_OK) != 0)
    die("no daemon binary at " + o.binary + " (build it, or pass --binary)");
  raise_fd_limit();
  if (fd_limit() < o.connections + o.http_connections + 64)
    die("the open-files limit " + std::to_string(fd_limit())
        + " is too low for " + std::to_string(o.connections) + " connections");
  char tmpl[] = "/tmp/ws_bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr)
    die("mkdtemp failed");
  std::string tmp = tmpl;
  auto self_exe = std::filesystem::canonical("/proc/self/exe").string();
  constexpr std::size_t server_threads = 2; // the daemon's http.threads

  std::printf("ws_bench: daemon %s; %zu connections over %zu company "
              "channels, %.0f bookings/s for %.0f s (first %.0f s not "
              "counted), store.sync=%s, %u cores\n",
              o.binary.c_str(), o.connections, o.companies, o.rate, o.seconds,
              o.warmup, o.sync.c_str(), std::thread::hardware_concurrency());
  std::fflush(stdout);

  // --- 1. the daemon --------------------------------------------------------
  std::vector<std::string> companies;
  for (std::size_t i = 0; i < o.companies; ++i)
    companies.push_back("c" + std::to_string(i));
  auto store = "store.path=" + tmp + "/data";
  auto dlog = tmp + "/daemon.log";
  pid_t daemon = spawn(
      {o.binary, "serve", "--set", store, "--set", "store.sync=" + o.sync,
       "--set", "http.port=0", "--set",
       "http.threads=" + std::to_string(server_threads), "--set",
       "broadcasting.app_id=wsbench", "--set",
       std::string{"broadcasting.key="} + app_key, "--set",
       std::string{"broadcasting.secret="} + app_secret, "--set",
       "broadcasting.max_connections=" + std::to_string(o.connections + 100)},
      dlog, tmp);
  auto fail_daemon = [&](const std::string& why) {
    std::ifstream in{dlog};
    std::cerr << "--- the daemon's log\n" << in.rdbuf() << std::endl;
    kill(daemon, SIGKILL);
    waitpid(daemon, nullptr, 0);
    std::filesystem::remove_all(tmp);
    die(why);
  };
  auto port = wait_port(daemon, dlog, "http listening on");
  if (port == 0)
    fail_daemon("the daemon did not log 'http listening on' in 30 s");

  publish_plan plan;
  plan.companies = o.companies;
  plan.staff = o.staff;
  plan.base_s = (std::time(nullptr) / 86400 + 2) * 86400;
  for (const auto& c : companies) {
    auto out
        = run_capture("cd " + shell_quote(tmp) + " && " + shell_quote(o.binary)
                      + " tenant add " + c + " --name " + c + " --set "
                      + shell_quote(store) + " 2>/dev/null");
    auto at = out.find("sb_");
    if (at == std::string::npos)
      fail_daemon("switchboard tenant add " + c + " printed no token");
    auto end = out.find_first_of(" \n", at);
    auto token = out.substr(at, end - at);
    plan.tokens.push_back(token);
    std::string reply;
    auto post = [&](const std::string& path, const std::string& body) {
      if (http_post(port, path, body, token, &reply) != 201)
        fail_daemon("POST " + path + " failed: " + reply);
    };
    // Ids are global: each company's carry its number.
    auto n = std::to_string(plan.tokens.size() - 1);
    post("/api/customers",
         R"({"id":"cu)" + n + R"(","name":"Ada","phone":"+4930123"})");
    post("/api/services", R"({"id":"sv)" + n
                              + R"(","name":"Trim","price_cents":1500,)"
                                R"("duration_minutes":5})");
    for (std::size_t s = 0; s < o.staff; ++s)
      post("/api/staff", R"({"id":"st)" + n + "-" + std::to_string(s)
                             + R"(","name":"Staff"})");
  }

  phase_options po;
  po.proto = protocol::pusher;
  po.port = port;
  po.server_pid = daemon;
  po.connections = o.connections;
  po.companies = companies;
  po.rate = o.rate;
  po.seconds = o.seconds;
  po.warmup = o.warmup;
  po.http_connections = o.http_connections;
  po.plan = plan;
  po.plan.api_fanout = o.api_fanout;
  auto daemon_result = run_phase(po);
  print_phase("daemon", po, daemon_result);
  stop_child(daemon, "the daemon");
  if (daemon_result.subscribed < o.connections
      || daemon_result.published_bad > 0 || daemon_result.published_ok == 0) {
    std::filesystem::remove_all(tmp);
    die("the daemon refused connections or bookings: "
        + daemon_result.first_error);
  }

  // --- 2. the bare server ----------------------------------------------------
  auto blog = tmp + "/bare.log";
  pid_t bare = spawn(
      {self_exe, "--bare-server", std::to_string(server_threads)}, blog, tmp);
  auto bport = wait_port(bare, blog, "bare server listening on");
  if (bport == 0) {
    kill(bare, SIGKILL);
    die("the bare server did not start");
  }
  phase_options pb = po;
  pb.proto = protocol::bare;
  pb.port = bport;
  pb.server_pid = bare;
  // The rate the daemon's bookings reached, frames of its size.
  pb.rate = std::max(1.0, daemon_result.publish_rate);
  pb.plan.proto = protocol::bare;
  // API triggers: the anchor publishes over keep-alive HTTP too, as many
  // channels per request; bookings: over its WebSocket publisher.
  pb.plan.payload_bytes = std::max<std::size_t>(64, daemon_result.frame_bytes);
  auto bare_result = run_phase(pb);
  print_phase("bare server", pb, bare_result);
  stop_child(bare, "the bare server");
  std::filesystem::remove_all(tmp);

  std::printf("RESULT ws_bench connections=%zu deliveries_per_s=%.0f "
              "p99_delivery_ms=%.2f rss_mb_per_10k=%.1f publish=%s "
              "published_per_s=%.0f request_p99_ms=%.2f bare_connections=%zu "
              "bare_deliveries_per_s=%.0f "
              "bare_p99_delivery_ms=%.2f bare_rss_mb_per_10k=%.1f "
              "bare_request_p99_ms=%.2f\n",
              daemon_result.subscribed, daemon_result.deliveries_per_s,
              daemon_result.p99_ms, mb_per_10k(daemon_result),
              o.api_fanout == 0 ? "bookings" : "api",
              daemon_result.publish_rate, daemon_result.booking_p99_ms,
              bare_result.subscribed, bare_result.deliveries_per_s,
              bare_result.p99_ms, mb_per_10k(bare_result),
              bare_result.booking_p99_ms);
  return 0;
}
