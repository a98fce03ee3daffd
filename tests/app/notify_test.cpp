// Readiness notification: the real daemon started as systemd starts a unit
// of Type=notify, with $NOTIFY_SOCKET naming a datagram socket that the
// test owns and reads as the service manager would.

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/cluster_fixture.hpp"
#include "tests/app/daemon_names.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scoped_env.hpp"

using switchboard::test::free_tcp_port;
using switchboard::test::scoped_env;
using switchboard::test::temp_dir;

namespace {

#ifdef SWITCHBOARD_HAVE_SYSTEMD
constexpr bool have_systemd = true;
#else
constexpr bool have_systemd = false;
#endif

/// The service manager's end: a datagram socket bound at a path, which
/// the daemon finds in $NOTIFY_SOCKET.
class notify_socket {
public:
  explicit notify_socket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BOOST_REQUIRE(path_.size() < sizeof addr.sun_path);
    path_.copy(addr.sun_path, path_.size());
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
                  == 0);
  }
  ~notify_socket() {
    ::close(fd_);
  }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  const std::string& path() const {
    return path_;
  }

  /// Reads notifications until one has the line `assignment` (READY=1,
  /// STOPPING=1) and returns it; "" when none came within `limit` (a
  /// bound for a hung daemon, far above what a start needs).
  std::string wait_for(const std::string& assignment,
                       std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto msg = next(std::max(left, 0ms));
      if (!msg)
        return {};
      if (has(*msg, assignment))
        return *msg;
    }
  }

  /// Reads what was sent and not read yet, without waiting.
  void drain() {
    while (next(0ms)) {
    }
  }

  /// Every notification read so far, in order.
  const std::vector<std::string>& seen() const {
    return seen_;
  }

  /// Whether `msg` holds the line `assignment`.
  static bool has(const std::string& msg, const std::string& assignment) {
    return ("\n" + msg + "\n").find("\n" + assignment + "\n")
           != std::string::npos;
  }

  /// The value of `name=` in `msg`, "" when it has none.
  static std::string value(const std::string& msg, const std::string& name) {
    auto line = ("\n" + msg).find("\n" + name + "=");
    if (line == std::string::npos)
      return {};
    auto start = line + name.size() + 1;
    return msg.substr(start, msg.find('\n', start) - start);
  }

  /// How many notifications read so far hold `assignment`.
  std::size_t count(const std::string& assignment) const {
    std::size_t n = 0;
    for (const auto& m : seen_)
      n += has(m, assignment) ? 1 : 0;
    return n;
  }

private:
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return std::nullopt;
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0)
      return std::nullopt;
    seen_.emplace_back(buf, static_cast<std::size_t>(n));
    return seen_.back();
  }

  std::string path_;
  int fd_ = -1;
  std::vector<std::string> seen_;
};

/// `switchboard serve` on `data` on a free port, with $NOTIFY_SOCKET
/// naming `socket` (empty: unset, as a start by hand).
std::unique_ptr<child_process> serve(const std::string& data,
                                     const std::string& socket,
                                     const std::vector<std::string>& sets) {
  auto args = switchboard::test::serve_args(data);
  for (const auto& s : sets)
    args.insert(args.end(), {"--set", s});
  if (socket.empty())
    return std::make_unique<child_process>(args);
  scoped_env env{"NOTIFY_SOCKET", socket};
  return std::make_unique<child_process>(args);
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted.
bool accepts(std::uint16_t port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s{ioc};
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

} // namespace

BOOST_AUTO_TEST_SUITE(notify_suite, *boost::unit_test::enable_if<have_systemd>()
                                        * boost::unit_test::description(
                                            "needs a build with libsystemd"))

BOOST_AUTO_TEST_CASE(
    ready_once_every_listener_accepts_and_stopping_on_sigterm) {
  temp_dir dir;
  notify_socket manager{dir.path() + "/notify"};
  auto metrics_port = free_tcp_port();
  auto cluster_port = free_tcp_port();
  auto cport = std::to_string(cluster_port);
  auto daemon
      = serve(dir.path() + "/data", manager.path(),
              {"metrics.port=" + std::to_string(metrics_port),
               "cluster.node=solo", "cluster.peers=solo@127.0.0.1:" + cport,
               "cluster.port=" + cport, "cluster.secret=0123456789abcdef0123"});
  auto ready = manager.wait_for("READY=1", 60s);
  BOOST_TEST_INFO(daemon->output());
  BOOST_REQUIRE(!ready.empty());
  // At once, with nothing waited for: the status names the HTTP port the
  // daemon picked, and it answers; so do the metrics and cluster ports.
  auto status = notify_socket::value(ready, "STATUS");
  std::smatch m;
  BOOST_TEST_INFO(status);
  BOOST_REQUIRE(std::regex_match(
      status, m,
      std::regex{R"(serving on 127\.0\.0\.1:(\d+); metrics on 127\.0\.0\.1:)"
                 R"((\d+); cluster member solo)"}));
  auto port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
  http_client c{port};
  BOOST_TEST(c.request("GET", "/health").status == 200);
  BOOST_TEST(m[2].str() == std::to_string(metrics_port));
  http_client metrics{metrics_port};
  BOOST_TEST(metrics.request("GET", "/metrics").status == 200);
  BOOST_TEST(accepts(cluster_port));
  // The store was open before: the daemon's log says so, and the earlier
  // notifications are status only.
  BOOST_TEST(!daemon->wait_for("store open at", 10s).empty());
  BOOST_TEST(manager.count("READY=1") == 1u);
  BOOST_TEST(notify_socket::value(manager.seen().front(), "STATUS")
             == "opening the store at " + dir.path() + "/data");

  daemon->signal(SIGTERM);
  auto stopping = manager.wait_for("STOPPING=1", 60s);
  BOOST_TEST_INFO(daemon->output());
  BOOST_REQUIRE(!stopping.empty());
  BOOST_TEST(daemon->wait(60s) == 0);
  manager.drain();
  BOOST_TEST(manager.count("READY=1") == 1u);
  BOOST_TEST(manager.count("STOPPING=1") == 1u);
}

BOOST_AUTO_TEST_CASE(a_daemon_that_cannot_start_never_says_ready) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  // The first, started by hand, holds the data directory.
  auto first = serve(data, "", {});
  BOOST_TEST_INFO(first->output());
  BOOST_REQUIRE(!first->wait_for("serving", 60s).empty());
  notify_socket manager{dir.path() + "/notify"};
  auto second = serve(data, manager.path(), {});
  BOOST_TEST(second->wait(60s) == 1);
  BOOST_TEST_INFO(second->output());
  BOOST_TEST(second->output().find("is in use by switchboard process")
             != std::string::npos);
  // Everything it sent has arrived by its exit.
  manager.drain();
  BOOST_TEST(manager.count("READY=1") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
