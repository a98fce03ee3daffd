// ws_bench's client: subscribers (Pusher or bare protocol), publishers
// (bookings, API triggers or bare publishes) and one measured phase, on
// two client threads.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "bench/loopback.hpp"
#include "bench/ws_bench.hpp"
#include "store/hmac.hpp"

namespace switchboard::bench::ws_bench {

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_type::now().time_since_epoch())
      .count();
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
/// Writes the text frame at the front of `out` on `ws`, then the next,
/// until `out` is empty; a failed write calls `on_error` and stops.
/// `owner` keeps `ws` and `out` alive until the writes are done.
template <class Owner, class OnError>
void write_queued(std::shared_ptr<Owner> owner,
                  websocket::stream<tcp::socket>& ws,
                  std::deque<std::string>& out, OnError on_error) {
  ws.text(true);
  ws.async_write(
      asio::buffer(out.front()),
      [owner, &ws, &out, on_error](beast::error_code ec, std::size_t) {
        out.pop_front();
        if (ec)
          return on_error(ec);
        if (!out.empty())
          write_queued(owner, ws, out, on_error);
      });
}

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
                   + store::hmac_sha256_hex(app_secret,
                                            std::string{*sid} + ":" + channel);
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
    write_queued(shared_from_this(), ws_, out_, [this](beast::error_code ec) {
      fail("write: " + ec.message());
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

/// Publishes per request: channels per API trigger, or one booking.
std::size_t per_request(const publish_plan& p) {
  return p.api_fanout == 0 ? 1 : p.api_fanout;
}

/// A keep-alive HTTP connection that books.
class booker : public std::enable_shared_from_this<booker> {
public:
  booker(client_thread& t, const window& w) : s_(t.ioc), t_(t), w_(w) {}

  bool connect(std::uint16_t port) {
    return connect_loopback(s_, port);
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
    write_queued(shared_from_this(), ws_, out_, [this](beast::error_code) {
      ++t_.stats.published_bad;
    });
  }

  websocket::stream<tcp::socket> ws_;
  client_thread& t_;
  std::deque<std::string> out_;
};

// -- one measured phase -------------------------------------------------------
constexpr std::size_t client_threads = 2;
constexpr std::size_t connects_in_flight = 64; // per thread

} // namespace

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
  io_runners runners{threads};

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
  runners.stop();
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

} // namespace switchboard::bench::ws_bench
