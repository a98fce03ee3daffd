#pragma once

// What the parts of ws_bench share (ws_bench.cpp: options, the daemon
// and main; ws_bench_client.cpp: subscribers, publishers and a measured
// phase; ws_bench_requests.cpp: what publishers send;
// ws_bench_server.cpp: the bare server).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream_fwd.hpp>
#include <boost/json/fwd.hpp>

namespace switchboard::bench::ws_bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

inline constexpr const char* app_id = "wsbench";
inline constexpr const char* app_key = "wsbenchkey";
inline constexpr const char* app_secret = "wsbench-secret-0123456789";
/// Precedes a send time (CLOCK_MONOTONIC, ns) in what publishers send.
inline constexpr const char* marker = "wsb:";

/// Prints `why` and exits with 1.
[[noreturn]] void die(const std::string& why);

/// Raises the soft open-files limit to the hard one.
void raise_fd_limit();

enum class protocol { pusher, bare };

/// What a publisher sends its k-th message as.
struct publish_plan {
  protocol proto = protocol::pusher;
  std::size_t companies = 1;
  std::size_t staff = 1;
  std::int64_t base_s = 0;         ///< First slot (epoch seconds).
  std::vector<std::string> tokens; ///< By company.
  std::size_t payload_bytes = 600; ///< Bare: size of a payload.
  /// Each request triggers an event on this many channels through the
  /// Pusher HTTP API instead of booking (0: bookings).
  std::size_t api_fanout = 0;
};

/// Request k through the Pusher HTTP API: event wsbench.tick, its send
/// time in data, on api_fanout consecutive company channels; signed as
/// Pusher's server libraries sign.
void api_request(const publish_plan& p, std::uint64_t k, std::int64_t stamp,
                 http::request<http::string_body>& req);

/// A payload of `bytes` (at least its marker) carrying `stamp`.
std::string bare_payload(std::size_t bytes, std::int64_t stamp);

/// Request k to the bare server's HTTP publish path, the anchor of
/// api_request.
void bare_request(const publish_plan& p, std::uint64_t k, std::int64_t stamp,
                  http::request<http::string_body>& req);

/// The body of booking k, carrying `stamp` in its notes.
std::string booking_body(const publish_plan& p, std::uint64_t k,
                         std::int64_t stamp);

struct phase_options {
  protocol proto = protocol::pusher;
  std::uint16_t port = 0;
  pid_t server_pid = 0;
  std::size_t connections = 0;
  std::vector<std::string> companies; ///< Channel names' ids.
  double rate = 0;                    ///< Publishes per second.
  double seconds = 0;
  double warmup = 0;
  std::size_t http_connections = 0;
  publish_plan plan;
};

struct phase_result {
  std::size_t subscribed = 0;
  std::size_t failed = 0;
  double connect_s = 0;
  long rss_before_kb = 0;
  long rss_subscribed_kb = 0;
  long rss_after_kb = 0;
  double publish_rate = 0; ///< Reached, over the window.
  double deliveries_per_s = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  double booking_p50_ms = 0, booking_p99_ms = 0;
  std::uint64_t published = 0, published_ok = 0, published_bad = 0;
  std::uint64_t delivered = 0, expected = 0, other_frames = 0, behind = 0;
  std::size_t frame_bytes = 0;
  std::string first_error;
};

/// Connects, subscribes, publishes at o.rate and measures (client side).
phase_result run_phase(const phase_options& o);
void print_phase(const char* name, const phase_options& o,
                 const phase_result& r);
/// The server's memory per 10,000 subscribed connections, in MB.
double mb_per_10k(const phase_result& r);

/// The bare server on `threads` threads: prints its port, runs until
/// SIGTERM or SIGINT, then exits the process.
int run_bare_server(std::size_t threads);

} // namespace switchboard::bench::ws_bench
