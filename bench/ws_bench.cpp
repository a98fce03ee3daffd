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

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr const char* app_key = "wsbenchkey";
constexpr const char* app_secret = "wsbench-secret-0123456789";
constexpr const char* marker = "wsb:";

[[noreturn]] void die(const std::string& why) {
  std::cerr << "ws_bench: " << why << std::endl;
  std::exit(1);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_type::now().time_since_epoch())
      .count();
}

/// Raises the soft open-files limit to the hard one.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

std::size_t fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<std::size_t>(r.rlim_cur);
}

/// VmRSS of process `pid` in kB (0 when unknown).
long rss_kb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return 0;
}

std::string hmac_hex(const std::string& key, const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), md,
       &len);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(digits[md[i] >> 4]);
    out.push_back(digits[md[i] & 0x0f]);
  }
  return out;
}

// -- measurement --------------------------------------------------------------

/// Latencies at 10 us resolution up to 10 s (more counts as 10 s).
struct histogram {
  static constexpr std::int64_t res_ns = 10000;
  static constexpr std::size_t size = 1000000;
  std::vector<std::uint32_t> counts = std::vector<std::uint32_t>(size + 1);
  std::uint64_t n = 0;

  void add(std::int64_t ns) {
    auto b = static_cast<std::size_t>(std::max<std::int64_t>(0, ns) / res_ns);
    ++counts[std::min(b, size)];
    ++n;
  }
  void merge(const histogram& o) {
    for (std::size_t i = 0; i <= size; ++i)
      counts[i] += o.counts[i];
    n += o.n;
  }
  /// The `p` quantile in ms (0 when empty).
  double quantile_ms(double p) const {
    if (n == 0)
      return 0;
    auto want
        = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(n)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i <= size; ++i) {
      seen += counts[i];
      if (seen >= want)
        return static_cast<double>((i + 1) * res_ns) / 1e6;
    }
    return static_cast<double>(size * res_ns) / 1e6;
  }
};

/// The measured window, shared by the threads (read-only once set).
struct window {
  std::atomic<std::int64_t> from{INT64_MAX};
  std::atomic<std::int64_t> to{INT64_MAX};
  bool holds(std::int64_t t) const {
    return t >= from.load(std::memory_order_relaxed)
           && t < to.load(std::memory_order_relaxed);
  }
};

/// What one client thread counts; touched on that thread only until the
/// threads are joined.
struct thread_stats {
  histogram delivery;           ///< Send → receipt, of sends in the window.
  histogram booking;            ///< Send → 201.
  std::uint64_t deliveries = 0; ///< Received in the window.
  std::uint64_t deliveries_total = 0; ///< Received at all.
  std::uint64_t other_frames = 0;     ///< Broadcasts without a marker.
  std::uint64_t subscribed = 0;
  std::uint64_t failed = 0;       ///< Connections refused or lost.
  std::uint64_t published = 0;    ///< Bookings or pubs sent.
  std::uint64_t published_ok = 0; ///< Answered 201 (bookings).
  std::uint64_t published_bad = 0;
  std::uint64_t behind = 0; ///< Ticks with no free connection.
  std::string first_error;
  std::size_t frame_bytes = 0; ///< Size of a delivered frame.
};

enum class protocol { pusher, bare };

/// One client thread: its io_context and what it counts.
struct client_thread {
  asio::io_context ioc{1};
  thread_stats stats;
};

/// The marker's send time in `text`, or -1.
std::int64_t find_stamp(std::string_view text) {
  auto at = text.find(marker);
  if (at == std::string_view::npos)
    return -1;
  std::int64_t v = 0;
  for (auto i = at + std::strlen(marker); i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9')
      break;
    v = v * 10 + (c - '0');
  }
  return v;
}

// -- subscribers --------------------------------------------------------------

/// A subscriber: connects, subscribes to its channel, then counts what
/// arrives.
class subscriber : public std::enable_shared_from_this<subscriber> {
public:
  subscriber(client_thread& t, const window& w, protocol p, std::size_t channel,
             std::string company)
      : ws_(t.ioc), t_(t), w_(w), proto_(p), channel_(channel),
        company_(std::move(company)) {}

  /// Connects to 127.0.0.1:`port`; `done` runs once it is subscribed or
  /// has failed.
  template <class Done>
  void start(std::uint16_t port, Done done) {
    done_ = std::move(done);
    tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
    ws_.next_layer().async_connect(
        ep, [self = shared_from_this(), port](beast::error_code ec) {
          if (ec)
            return self->fail("connect: " + ec.message());
          self->ws_.next_layer().set_option(tcp::no_delay(true), ec);
          auto target = self->proto_ == protocol::pusher
                            ? std::string{"/app/"} + app_key
                                  + "?protocol=7&client=js&version=8.4.0"
                            : std::string{"/"};
          self->ws_.async_handshake(
              "127.0.0.1:" + std::to_string(port), target,
              [self](beast::error_code ec2) {
                if (ec2)
                  return self->fail("handshake: " + ec2.message());
                if (self->proto_ == protocol::bare)
                  self->send("sub " + std::to_string(self->channel_));
                self->read();
              });
        });
  }

  /// Resets the connection (no TIME_WAIT left behind); on a stopped
  /// io_context or its own thread.
  void reset() {
    beast::error_code ec;
    auto& s = ws_.next_layer();
    if (s.is_open()) {
      s.set_option(asio::socket_base::linger(true, 0), ec);
      s.close(ec);
    }
  }

private:
  void fail(const std::string& why) {
    if (finished_) {
      // Lost after subscribing.
      ++t_.stats.failed;
      if (t_.stats.first_error.empty())
        t_.stats.first_error = "after subscribing: " + why;
      return;
    }
    ++t_.stats.failed;
    if (t_.stats.first_error.empty())
      t_.stats.first_error = why;
    finish();
  }

  void finish() {
    finished_ = true;
    if (done_) {
      auto d = std::move(done_);
      done_ = nullptr;
      d();
    }
  }

  void read() {
    ws_.async_read(
        buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec)
            return self->fail("read: " + ec.message());
          self->on_message();
          self->read();
        });
  }

  void on_message() {
    auto data = buf_.cdata();
    std::string_view text{static_cast<const char*>(data.data()), data.size()};
    auto at = now_ns();
    if (subscribed_) {
      auto sent = find_stamp(text);
      if (sent >= 0
          && (proto_ == protocol::bare
              || text.find("appointment.created") != std::string_view::npos
              || text.find("wsbench.tick") != std::string_view::npos)) {
        ++t_.stats.deliveries_total;
        if (w_.holds(at))
          ++t_.stats.deliveries;
        if (w_.holds(sent))
          t_.stats.delivery.add(at - sent);
        t_.stats.frame_bytes = text.size();
      } else if (proto_ == protocol::pusher
                 && text.find("\"pusher:ping\"") != std::string_view::npos) {
        send(R"({"event":"pusher:pong","data":{}})");
      } else {
        ++t_.stats.other_frames;
      }
    } else if (proto_ == protocol::bare) {
      if (text == "ok")
        subscribed();
      else
        fail("bare server answered " + std::string{text});
    } else {
      handshake_frame(text);
    }
    buf_.consume(buf_.size());
  }

  void handshake_frame(std::string_view text) {
    std::error_code ec;
    auto v = json::parse(text, ec);
    auto* o = ec ? nullptr : v.if_object();
    auto* ev = o != nullptr && o->contains("event") ? o->at("event").if_string()
                                                    : nullptr;
    if (ev == nullptr)
      return fail("unexpected frame " + std::string{text});
    if (*ev == "pusher:connection_established") {
      auto* d = o->at("data").if_string();
      auto dv = d != nullptr ? json::parse(*d, ec) : json::value{};
      auto* sid = dv.is_object() && dv.as_object().contains("socket_id")
                      ? dv.as_object().at("socket_id").if_string()
                      : nullptr;
      if (sid == nullptr)
        return fail("no socket_id in " + std::string{text});
      auto channel = "private-company." + company_;
      json::object sub;
      sub["event"] = "pusher:subscribe";
      json::object sd;
      sd["channel"] = channel;
      sd["auth"] = std::string{app_key} + ":"
                   + hmac_hex(app_secret, std::string{*sid} + ":" + channel);
      sub["data"] = std::move(sd);
      send(json::serialize(sub));
    } else if (*ev == "pusher_internal:subscription_succeeded") {
      subscribed();
    } else {
      fail("refused: " + std::string{text});
    }
  }

  void subscribed() {
    subscribed_ = true;
    ++t_.stats.subscribed;
    finish();
  }

  void send(std::string text) {
    out_.push_back(std::move(text));
    if (out_.size() == 1)
      write_next();
  }

  void write_next() {
    ws_.text(true);
    ws_.async_write(
        asio::buffer(out_.front()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->out_.pop_front();
          if (ec)
            return self->fail("write: " + ec.message());
          if (!self->out_.empty())
            self->write_next();
        });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buf_;
  std::deque<std::string> out_;
  client_thread& t_;
  const window& w_;
  protocol proto_;
  std::size_t channel_;
  std::string company_;
  std::function<void()> done_;
  bool subscribed_ = false;
  bool finished_ = false;
};

// -- publishers ---------------------------------------------------------------

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

/// Publishes per request: channels per API trigger, or one booking.
std::size_t per_request(const publish_plan& p) {
  return p.api_fanout == 0 ? 1 : p.api_fanout;
}

std::string md5_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(digits[md[i] >> 4]);
    out.push_back(digits[md[i] & 0x0f]);
  }
  return out;
}

constexpr const char* app_id = "wsbench";

/// Request k through the Pusher HTTP API: event wsbench.tick, its send
/// time in data, on api_fanout consecutive company channels; signed as
/// Pusher's server libraries sign.
void api_request(const publish_plan& p, std::uint64_t k, std::int64_t stamp,
                 http::request<http::string_body>& req) {
  json::array channels;
  for (std::size_t i = 0; i < p.api_fanout; ++i)
    channels.emplace_back(
        "private-company.c"
        + std::to_string((k * p.api_fanout + i) % p.companies));
  json::object b;
  b["name"] = "wsbench.tick";
  b["channels"] = std::move(channels);
  b["data"] = std::string{"{\"t\":\""} + marker + std::to_string(stamp) + "\"}";
  auto body = json::serialize(b);
  auto path = std::string{"/apps/"} + app_id + "/events";
  auto query = std::string{"auth_key="} + app_key
               + "&auth_timestamp=" + std::to_string(std::time(nullptr))
               + "&auth_version=1.0&body_md5=" + md5_hex(body);
  auto sig = hmac_hex(app_secret, "POST\n" + path + "\n" + query);
  req = {http::verb::post, path + "?" + query + "&auth_signature=" + sig, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
}

/// A payload of `bytes` (at least its marker) carrying `stamp`.
std::string bare_payload(std::size_t bytes, std::int64_t stamp) {
  std::string payload = marker + std::to_string(stamp) + " ";
  if (payload.size() < bytes)
    payload.append(bytes - payload.size(), 'x');
  return payload;
}

/// Request k to the bare server's HTTP publish path, the anchor of
/// api_request: POST /pub, its body the channels api_request names
/// (space-separated) on the first line and the frame after it.
void bare_request(const publish_plan& p, std::uint64_t k, std::int64_t stamp,
                  http::request<http::string_body>& req) {
  std::string body;
  for (std::size_t i = 0; i < p.api_fanout; ++i) {
    if (i > 0)
      body += ' ';
    body += std::to_string((k * p.api_fanout + i) % p.companies);
  }
  body += '\n';
  body += bare_payload(p.payload_bytes, stamp);
  req = {http::verb::post, "/pub", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "text/plain");
  req.body() = std::move(body);
  req.prepare_payload();
}

std::string rfc3339(std::int64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Booking k: company k % companies; within it, the n-th booking (n = k /
/// companies) takes staff n % staff at base + (n / staff) * 5 minutes, so
/// no two bookings ask for one slot.
std::string booking_body(const publish_plan& p, std::uint64_t k,
                         std::int64_t stamp) {
  auto n = k / p.companies;
  auto c = std::to_string(k % p.companies);
  json::object b;
  b["id"] = "b" + std::to_string(k);
  b["customer_id"] = "cu" + c;
  b["service_id"] = "sv" + c;
  b["staff_id"] = "st" + c + "-" + std::to_string(n % p.staff);
  b["start_time"]
      = rfc3339(p.base_s + static_cast<std::int64_t>(n / p.staff) * 300);
  b["notes"] = marker + std::to_string(stamp);
  return json::serialize(b);
}

/// A keep-alive HTTP connection that books.
class booker : public std::enable_shared_from_this<booker> {
public:
  booker(client_thread& t, const window& w) : s_(t.ioc), t_(t), w_(w) {}

  bool connect(std::uint16_t port) {
    beast::error_code ec;
    s_.socket().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec)
      s_.socket().set_option(tcp::no_delay(true), ec);
    return !ec;
  }

  bool busy() const noexcept {
    return busy_;
  }

  void book(const publish_plan& p, std::uint64_t k) {
    busy_ = true;
    auto c = k % p.companies;
    sent_ = now_ns();
    ok_status_ = p.api_fanout == 0 ? 201 : 200;
    if (p.api_fanout != 0 && p.proto == protocol::bare) {
      bare_request(p, k, sent_, req_);
    } else if (p.api_fanout != 0) {
      api_request(p, k, sent_, req_);
    } else {
      req_ = {http::verb::post, "/api/appointments", 11};
      req_.set(http::field::host, "127.0.0.1");
      req_.set(http::field::authorization, "Bearer " + p.tokens[c]);
      req_.set(http::field::content_type, "application/json");
      req_.body() = booking_body(p, k, sent_);
      req_.prepare_payload();
    }
    ++t_.stats.published;
    http::async_write(
        s_, req_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec)
            return self->failed("write: " + ec.message());
          self->res_ = {};
          http::async_read(self->s_, self->buf_, self->res_,
                           [self](beast::error_code ec2, std::size_t) {
                             if (ec2)
                               return self->failed("read: " + ec2.message());
                             self->answered();
                           });
        });
  }

  void reset() {
    beast::error_code ec;
    s_.socket().set_option(asio::socket_base::linger(true, 0), ec);
    s_.socket().close(ec);
  }

private:
  void failed(const std::string& why) {
    ++t_.stats.published_bad;
    if (t_.stats.first_error.empty())
      t_.stats.first_error = "booking " + why;
    // Stays busy: a broken connection books no more.
  }

  void answered() {
    auto at = now_ns();
    if (res_.result_int() == ok_status_) {
      ++t_.stats.published_ok;
      if (w_.holds(sent_))
        t_.stats.booking.add(at - sent_);
    } else {
      ++t_.stats.published_bad;
      if (t_.stats.first_error.empty())
        t_.stats.first_error = "booking answered "
                               + std::to_string(res_.result_int()) + ": "
                               + res_.body();
    }
    busy_ = false;
  }

  beast::tcp_stream s_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  client_thread& t_;
  const window& w_;
  std::int64_t sent_ = 0;
  unsigned ok_status_ = 201;
  bool busy_ = false;
};

/// A WebSocket connection to the bare server that publishes.
class bare_publisher : public std::enable_shared_from_this<bare_publisher> {
public:
  explicit bare_publisher(client_thread& t) : ws_(t.ioc), t_(t) {}

  bool connect(std::uint16_t port) {
    beast::error_code ec;
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec)
      ws_.next_layer().set_option(tcp::no_delay(true), ec);
    if (!ec)
      ws_.handshake("127.0.0.1:" + std::to_string(port), "/", ec);
    return !ec;
  }

  void publish(const publish_plan& p, std::uint64_t k) {
    // "pub N " and a payload of the daemon's frame size.
    auto text = "pub " + std::to_string(k % p.companies) + " "
                + bare_payload(p.payload_bytes, now_ns());
    ++t_.stats.published;
    ++t_.stats.published_ok;
    out_.push_back(std::move(text));
    if (out_.size() == 1)
      write_next();
  }

  void reset() {
    beast::error_code ec;
    ws_.next_layer().set_option(asio::socket_base::linger(true, 0), ec);
    ws_.next_layer().close(ec);
  }

private:
  void write_next() {
    ws_.text(true);
    ws_.async_write(
        asio::buffer(out_.front()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->out_.pop_front();
          if (ec) {
            ++self->t_.stats.published_bad;
            return;
          }
          if (!self->out_.empty())
            self->write_next();
        });
  }

  websocket::stream<tcp::socket> ws_;
  client_thread& t_;
  std::deque<std::string> out_;
};

// -- one measured phase -------------------------------------------------------

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

constexpr std::size_t client_threads = 2;
constexpr std::size_t connects_in_flight = 64; // per thread

phase_result run_phase(const phase_options& o) {
  phase_result r;
  window w;
  std::vector<std::unique_ptr<client_thread>> threads;
  for (std::size_t i = 0; i < client_threads; ++i)
    threads.push_back(std::make_unique<client_thread>());
  std::vector<std::vector<std::shared_ptr<subscriber>>> subs(client_threads);
  for (std::size_t i = 0; i < o.connections; ++i) {
    auto t = i % client_threads;
    auto c = i % o.companies.size();
    subs[t].push_back(std::make_shared<subscriber>(*threads[t], w, o.proto, c,
                                                   o.companies[c]));
  }
  std::vector<std::vector<std::shared_ptr<booker>>> bookers(client_threads);
  std::vector<std::shared_ptr<bare_publisher>> pubs(client_threads);
  // Over HTTP: bookings, API triggers, and the bare server's anchor of
  // those; otherwise the bare server's WebSocket publisher.
  auto over_http = o.proto == protocol::pusher || o.plan.api_fanout != 0;
  for (std::size_t t = 0; t < client_threads; ++t) {
    if (over_http) {
      for (std::size_t i = t; i < o.http_connections; i += client_threads) {
        auto b = std::make_shared<booker>(*threads[t], w);
        if (!b->connect(o.port))
          die("cannot open an HTTP connection to the server");
        bookers[t].push_back(b);
      }
    } else {
      pubs[t] = std::make_shared<bare_publisher>(*threads[t]);
      if (!pubs[t]->connect(o.port))
        die("cannot open the publisher's connection to the bare server");
    }
  }
  std::vector<std::thread> runners;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>>
      guards;
  for (auto& t : threads) {
    guards.push_back(asio::make_work_guard(t->ioc));
    runners.emplace_back([&ioc = t->ioc] {
      ioc.run();
    });
  }

  // Connect: connects_in_flight at a time per thread.
  r.rss_before_kb = rss_kb(o.server_pid);
  std::atomic<std::size_t> finished{0};
  auto t0 = clock_type::now();
  for (std::size_t t = 0; t < client_threads; ++t) {
    asio::post(threads[t]->ioc, [&, t] {
      auto next = std::make_shared<std::size_t>(0);
      auto launch = std::make_shared<std::function<void()>>();
      // Held weakly by itself, strongly by the connections it started.
      *launch = [&, t, next, weak = std::weak_ptr{launch}] {
        if (*next >= subs[t].size())
          return;
        auto s = subs[t][(*next)++];
        s->start(o.port, [&, again = weak.lock()] {
          ++finished;
          if (again)
            (*again)();
        });
      };
      for (std::size_t i = 0; i < connects_in_flight; ++i)
        (*launch)();
    });
  }
  auto connect_deadline = t0 + std::chrono::seconds(300);
  while (finished.load() < o.connections
         && clock_type::now() < connect_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  r.connect_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  // Let the server settle (buffers freed after the handshakes).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  r.rss_subscribed_kb = rss_kb(o.server_pid);

  // Publish at a steady rate, each thread half of it, on a 1 ms tick.
  auto start = now_ns();
  auto span_ns = static_cast<std::int64_t>(o.seconds * 1e9);
  w.from = start + static_cast<std::int64_t>(o.warmup * 1e9);
  w.to = start + span_ns;
  // Requests per second per thread (an API trigger publishes several).
  auto per_thread = o.rate / static_cast<double>(client_threads)
                    / static_cast<double>(per_request(o.plan));
  for (std::size_t t = 0; t < client_threads; ++t) {
    asio::post(threads[t]->ioc, [&, t] {
      auto timer = std::make_shared<asio::steady_timer>(threads[t]->ioc);
      auto issued = std::make_shared<std::uint64_t>(0);
      auto tick = std::make_shared<std::function<void()>>();
      // The tick holds itself only weakly: the pending wait holds it, so
      // it is freed once it stops rescheduling (or the context stops).
      *tick = [&, t, timer, issued, weak = std::weak_ptr{tick}] {
        auto now = now_ns();
        if (now >= start + span_ns)
          return;
        auto due = static_cast<std::uint64_t>(static_cast<double>(now - start)
                                              / 1e9 * per_thread);
        auto& st = threads[t]->stats;
        while (*issued < due) {
          auto k = *issued * client_threads + t;
          if (over_http) {
            auto& list = bookers[t];
            auto free
                = std::find_if(list.begin(), list.end(), [](const auto& b) {
                    return !b->busy();
                  });
            if (free == list.end()) {
              ++st.behind;
              break;
            }
            (*free)->book(o.plan, k);
          } else {
            pubs[t]->publish(o.plan, k);
          }
          ++*issued;
        }
        timer->expires_after(std::chrono::milliseconds(1));
        timer->async_wait([next = weak.lock()](beast::error_code ec) {
          if (!ec && next)
            (*next)();
        });
      };
      (*tick)();
    });
  }
  std::this_thread::sleep_for(std::chrono::nanoseconds(span_ns));
  // Late deliveries of the window's sends.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  r.rss_after_kb = rss_kb(o.server_pid);
  for (auto& g : guards)
    g.reset();
  for (auto& t : threads)
    t->ioc.stop();
  for (auto& th : runners)
    th.join();
  // The threads are joined: their objects are this thread's now.
  for (auto& list : subs)
    for (auto& s : list)
      s->reset();
  for (auto& list : bookers)
    for (auto& b : list)
      b->reset();
  for (auto& p : pubs)
    if (p)
      p->reset();

  histogram delivery, booking;
  std::uint64_t delivered_total = 0;
  for (auto& t : threads) {
    auto& s = t->stats;
    delivery.merge(s.delivery);
    booking.merge(s.booking);
    r.subscribed += s.subscribed;
    r.failed += s.failed;
    r.published += s.published;
    r.published_ok += s.published_ok;
    r.published_bad += s.published_bad;
    r.delivered += s.deliveries;
    delivered_total += s.deliveries_total;
    r.other_frames += s.other_frames;
    r.behind += s.behind;
    r.frame_bytes = std::max(r.frame_bytes, s.frame_bytes);
    if (r.first_error.empty())
      r.first_error = s.first_error;
  }
  auto window_s = o.seconds - o.warmup;
  r.deliveries_per_s = static_cast<double>(r.delivered) / window_s;
  // Subscribers per channel times what was published.
  r.expected = r.published_ok * per_request(o.plan)
               * (o.connections / o.companies.size());
  r.delivered = delivered_total;
  r.publish_rate
      = static_cast<double>(r.published * per_request(o.plan)) / o.seconds;
  r.p50_ms = delivery.quantile_ms(0.5);
  r.p99_ms = delivery.quantile_ms(0.99);
  r.p999_ms = delivery.quantile_ms(0.999);
  r.booking_p50_ms = booking.quantile_ms(0.5);
  r.booking_p99_ms = booking.quantile_ms(0.99);
  return r;
}

void print_phase(const char* name, const phase_options& o,
                 const phase_result& r) {
  std::printf(
      "%s: %zu/%zu connections subscribed in %.1f s (%zu failed); server "
      "RSS %.1f MB before, %.1f MB subscribed, %.1f MB after the run\n",
      name, r.subscribed, o.connections, r.connect_s, r.failed,
      static_cast<double>(r.rss_before_kb) / 1024,
      static_cast<double>(r.rss_subscribed_kb) / 1024,
      static_cast<double>(r.rss_after_kb) / 1024);
  std::printf("  published %llu requests (%.0f/s, asked %.0f/s; %llu failed; "
              "%llu ticks "
              "without a free HTTP connection), %zu-byte frames\n",
              static_cast<unsigned long long>(r.published), r.publish_rate,
              o.rate, static_cast<unsigned long long>(r.published_bad),
              static_cast<unsigned long long>(r.behind), r.frame_bytes);
  std::printf("  delivered %llu of %llu expected (%llu other frames); %.0f "
              "deliveries/s over the last %.1f s; send -> receipt p50 %.2f ms, "
              "p99 %.2f ms, p99.9 %.2f ms\n",
              static_cast<unsigned long long>(r.delivered),
              static_cast<unsigned long long>(r.expected),
              static_cast<unsigned long long>(r.other_frames),
              r.deliveries_per_s, o.seconds - o.warmup, r.p50_ms, r.p99_ms,
              r.p999_ms);
  if (o.proto == protocol::pusher)
    std::printf("  requests (bookings or triggers): send -> answer p50 %.2f "
                "ms, p99 %.2f ms\n",
                r.booking_p50_ms, r.booking_p99_ms);
  if (!r.first_error.empty())
    std::printf("  first error: %s\n", r.first_error.c_str());
  std::fflush(stdout);
}

double mb_per_10k(const phase_result& r) {
  if (r.subscribed == 0)
    return 0;
  return static_cast<double>(r.rss_subscribed_kb - r.rss_before_kb) / 1024
         * 10000.0 / static_cast<double>(r.subscribed);
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

// -- the bare server ----------------------------------------------------------

/// The anchor: fan-out with nothing else. Mirrors the daemon's layout: a
/// list of subscribers per thread, a frame shared by every subscriber, a
/// bounded send queue per connection.
struct bare_server {
  struct session;
  struct thread_state {
    asio::io_context ioc{1};
    std::unordered_map<std::size_t, std::vector<std::shared_ptr<session>>> subs;
  };
  std::vector<std::unique_ptr<thread_state>> threads;
  static constexpr std::size_t queue_bound = 1000;

  struct session : std::enable_shared_from_this<session> {
    session(tcp::socket s, bare_server& srv, std::size_t t)
        : ws(std::move(s)), server(srv), thread(t) {}
    websocket::stream<tcp::socket> ws;
    bare_server& server;
    std::size_t thread;
    beast::flat_buffer buf;
    std::deque<std::shared_ptr<const std::string>> out;
    bool writing = false;
    bool closed = false;
    std::vector<std::size_t> channels;

    http::request<http::string_body> req;
    http::response<http::string_body> res;

    /// The first request says what the connection is: a WebSocket
    /// upgrade (a subscriber or the WebSocket publisher) or keep-alive
    /// HTTP publishing.
    void start() {
      http::async_read(
          ws.next_layer(), buf, req,
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
              return;
            if (websocket::is_upgrade(self->req))
              return self->upgrade();
            self->on_http();
          });
    }
    void upgrade() {
      ws.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
        if (!ec)
          self->read();
      });
    }
    /// POST /pub: channels on the first line, the frame after it.
    void on_http() {
      const auto& body = req.body();
      auto nl = body.find('\n');
      if (nl != std::string::npos) {
        auto frame = std::make_shared<const std::string>(body.substr(nl + 1));
        std::istringstream in{body.substr(0, nl)};
        std::size_t ch = 0;
        while (in >> ch)
          publish(ch, frame);
      }
      res = {nl == std::string::npos ? http::status::bad_request
                                     : http::status::ok,
             11};
      res.keep_alive(true);
      res.body() = "ok";
      res.prepare_payload();
      http::async_write(
          ws.next_layer(), res,
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
              return;
            self->req = {};
            self->start();
          });
    }
    void publish(std::size_t ch,
                 const std::shared_ptr<const std::string>& frame) {
      for (auto& t : server.threads)
        asio::post(t->ioc, [ts = t.get(), ch, frame] {
          auto l = ts->subs.find(ch);
          if (l != ts->subs.end())
            for (auto& s : l->second)
              s->send(frame);
        });
    }
    void read() {
      ws.async_read(
          buf, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec)
              return self->gone();
            auto d = self->buf.cdata();
            std::string text{static_cast<const char*>(d.data()), d.size()};
            self->buf.consume(self->buf.size());
            self->on_message(text);
            self->read();
          });
    }
    void on_message(const std::string& text) {
      if (text.rfind("sub ", 0) == 0) {
        auto ch = static_cast<std::size_t>(std::atol(text.c_str() + 4));
        server.threads[thread]->subs[ch].push_back(shared_from_this());
        channels.push_back(ch);
        send(std::make_shared<const std::string>("ok"));
      } else if (text.rfind("pub ", 0) == 0) {
        auto sp = text.find(' ', 4);
        auto ch = static_cast<std::size_t>(std::atol(text.c_str() + 4));
        publish(ch, std::make_shared<const std::string>(
                        sp == std::string::npos ? std::string{}
                                                : text.substr(sp + 1)));
      }
    }
    void send(const std::shared_ptr<const std::string>& f) {
      if (closed)
        return;
      if (out.size() >= queue_bound) {
        closed = true;
        beast::error_code ec;
        ws.next_layer().close(ec);
        return;
      }
      out.push_back(f);
      if (!writing)
        write_next();
    }
    void write_next() {
      writing = true;
      auto f = out.front();
      ws.text(true);
      ws.async_write(asio::buffer(*f), [self = shared_from_this(),
                                        f](beast::error_code ec, std::size_t) {
        self->writing = false;
        self->out.pop_front();
        if (ec) {
          self->out.clear();
          return;
        }
        if (!self->out.empty())
          self->write_next();
      });
    }
    void gone() {
      closed = true;
      auto& subs = server.threads[thread]->subs;
      for (auto ch : channels) {
        auto& l = subs[ch];
        l.erase(std::remove(l.begin(), l.end(), shared_from_this()), l.end());
      }
      channels.clear();
    }
  };

  int run(std::size_t n) {
    raise_fd_limit();
    for (std::size_t i = 0; i < n; ++i)
      threads.push_back(std::make_unique<thread_state>());
    tcp::acceptor acceptor{threads[0]->ioc};
    tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), 0};
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    std::printf("bare server listening on 127.0.0.1:%u\n",
                static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    std::size_t next = 0;
    std::function<void()> accept = [&] {
      auto t = next++ % threads.size();
      acceptor.async_accept(
          threads[t]->ioc, [&, t](beast::error_code ec, tcp::socket s) {
            if (!ec) {
              s.set_option(tcp::no_delay(true), ec);
              std::make_shared<session>(std::move(s), *this, t)->start();
            } else {
              std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            accept();
          });
    };
    accept();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    std::vector<std::thread> runners;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>>
        guards;
    for (auto& t : threads) {
      guards.push_back(asio::make_work_guard(t->ioc));
      runners.emplace_back([&ioc = t->ioc] {
        ioc.run();
      });
    }
    int sig = 0;
    sigwait(&stop, &sig);
    for (auto& t : threads)
      t->ioc.stop();
    for (auto& r : runners)
      r.join();
    // Sessions hold each other through the lists: exit without freeing.
    std::fflush(stdout);
    _exit(0);
  }
};

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

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i)
    if (std::string{argv[i]} == "--quick") {
      o.quick = true;
      o.connections = 500;
      o.companies = 10;
      o.rate = 200;
      o.seconds = 4;
      o.warmup = 1;
      o.staff = 4;
      o.http_connections = 16;
    }
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      usage(std::cerr);
      die(std::string{argv[i]} + " needs a value");
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick")
      continue;
    if (a == "--binary")
      o.binary = value(i);
    else if (a == "--connections")
      o.connections = std::stoul(value(i));
    else if (a == "--companies")
      o.companies = std::stoul(value(i));
    else if (a == "--rate")
      o.rate = std::stod(value(i));
    else if (a == "--seconds")
      o.seconds = std::stod(value(i));
    else if (a == "--warmup")
      o.warmup = std::stod(value(i));
    else if (a == "--staff")
      o.staff = std::stoul(value(i));
    else if (a == "--http-connections")
      o.http_connections = std::stoul(value(i));
    else if (a == "--sync")
      o.sync = value(i);
    else if (a == "--publish") {
      auto v = value(i);
      if (v == "api")
        o.api_fanout = 10;
      else if (v != "bookings")
        die("--publish is bookings or api");
    } else if (a == "-h" || a == "--help") {
      usage(std::cout);
      std::exit(0);
    } else {
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
    bare_server srv;
    return srv.run(argc >= 3 ? std::stoul(argv[2]) : 2);
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
