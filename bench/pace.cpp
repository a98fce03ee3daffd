// A fixed-rate (open-loop) booking load for bench/http_bench.sh's
// sustained phase. wrk is closed loop: when the daemon slows down, wrk
// slows down with it and the rate it reports is whatever the daemon
// allowed. This program sends bookings on a schedule instead, `--rate`
// per second for `--seconds`, and times each answer from the moment the
// schedule meant to send it (so a stall shows up as latency, not as a
// lower rate).
//
// Booking k books staff "st<k % staff>" at base + (k / staff) * 5 minutes
// with id "<prefix><k>", k from --offset on (the same slots as
// http_bench/book.lua, so runs with disjoint offsets never collide).
//
// Usage: pace --port P --token T --base EPOCH_S --staff N --rate R
//             --seconds S [--offset K] [--prefix ID] [--connections C]
// Prints one line:
//   PACE sent= ok= bad= seconds= rate= p50_ms= p99_ms= max_ms= next_offset=
// and exits 0; it exits 1 only when it cannot connect. `seconds` is the
// time from the schedule's start to the last answer, and `rate` the
// bookings answered 201 per second of the longer of it and --seconds: a
// daemon that answers 10 s of bookings in 20 s held half the rate, not
// all of it.

#include "bench/loopback.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::uint16_t port = 0;
  std::string token;
  std::int64_t base = 0;
  std::uint64_t staff = 128;
  double rate = 1000;
  double seconds = 10;
  std::uint64_t offset = 0;
  std::string prefix = "p";
  std::size_t connections = 256;
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "pace: " << why << std::endl;
  std::exit(1);
}

std::string utc(std::int64_t epoch_s) {
  auto t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// What one thread saw: latencies in microseconds, counts.
struct tally {
  std::vector<std::uint32_t> latency_us;
  std::uint64_t sent = 0, ok = 0, bad = 0;
  std::string first_error;
};

class thread_load;

/// How long answers are waited for after the schedule ends.
constexpr auto answer_grace = std::chrono::seconds(60);

/// One keep-alive connection with at most one booking in flight.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(asio::io_context& ioc, thread_load& owner)
      : s_(ioc), owner_(owner) {}

  bool connect(std::uint16_t port) {
    return switchboard::bench::connect_loopback(s_, port);
  }

  void send(std::string body, const std::string& token,
            clock_type::time_point due);

private:
  void done(bool ok, const std::string& error);

  beast::tcp_stream s_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  thread_load& owner_;
  clock_type::time_point due_;
};

/// The share of the load of one thread: its own io_context and
/// connections, and every `stride`-th booking of the schedule.
class thread_load {
public:
  thread_load(const options& o, std::size_t index, std::size_t stride)
      : o_(o), index_(index), stride_(stride), timer_(ioc_) {}

  void run(clock_type::time_point start) {
    auto n = std::max<std::size_t>(1, o_.connections / stride_);
    for (std::size_t i = 0; i < n; ++i) {
      auto c = std::make_shared<connection>(ioc_, *this);
      if (!c->connect(o_.port))
        die("cannot connect to 127.0.0.1:" + std::to_string(o_.port));
      free_.push_back(c);
    }
    start_ = start;
    end_ = start
           + std::chrono::duration_cast<clock_type::duration>(
               std::chrono::duration<double>(o_.seconds));
    tick();
    ioc_.run();
  }

  /// A connection is free again.
  void release(std::shared_ptr<connection> c, bool ok, std::uint32_t us,
               const std::string& error) {
    if (ok) {
      ++t_.ok;
      t_.latency_us.push_back(us);
    } else {
      ++t_.bad;
      if (t_.first_error.empty())
        t_.first_error = error;
    }
    --in_flight_;
    if (!late_.empty()) {
      auto [k, due] = late_.front();
      late_.pop_front();
      issue(c, k, due);
      return;
    }
    free_.push_back(std::move(c));
  }

  tally& result() {
    return t_;
  }

  std::uint64_t issued() const noexcept {
    return issued_;
  }

private:
  /// Every millisecond: sends what the schedule says is due by now.
  void tick() {
    auto now = clock_type::now();
    auto at = std::min(now, end_);
    auto elapsed
        = std::max(0.0, std::chrono::duration<double>(at - start_).count());
    // Bookings index_, index_ + stride_, ... of the whole schedule.
    auto due_total = static_cast<std::uint64_t>(elapsed * o_.rate);
    while (index_ + issued_ * stride_ < due_total) {
      auto k = index_ + issued_ * stride_;
      auto due = start_
                 + std::chrono::duration_cast<clock_type::duration>(
                     std::chrono::duration<double>(static_cast<double>(k)
                                                   / o_.rate));
      ++issued_;
      if (free_.empty()) {
        late_.emplace_back(k, due);
        continue;
      }
      // The one free longest: every connection stays in use, so that none
      // sits idle past the daemon's read timeout (http.read_timeout_ms)
      // and is closed under the next booking sent on it.
      auto c = free_.front();
      free_.pop_front();
      issue(std::move(c), k, due);
    }
    if (now >= end_ && late_.empty()) {
      // The schedule is done: wait for the answers, then stop.
      if (in_flight_ == 0) {
        ioc_.stop();
        return;
      }
    }
    if (now >= end_ + answer_grace) {
      // Never wait forever: what has no answer by now counts as bad (a
      // daemon that dropped a request, a connection it closed unseen).
      t_.sent += late_.size();
      t_.bad += in_flight_ + late_.size();
      if (t_.first_error.empty())
        t_.first_error = std::to_string(in_flight_ + late_.size())
                         + " booking(s) without an answer 60 s after the "
                           "schedule ended";
      ioc_.stop();
      return;
    }
    timer_.expires_at(now + std::chrono::milliseconds(1));
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec)
        tick();
    });
  }

  void issue(std::shared_ptr<connection> c, std::uint64_t k,
             clock_type::time_point due) {
    auto n = o_.offset + k;
    char body[256];
    std::snprintf(
        body, sizeof body,
        "{\"id\":\"%s%" PRIu64 "\",\"customer_id\":\"cu1\","
        "\"service_id\":\"sv1\",\"staff_id\":\"st%" PRIu64 "\","
        "\"start_time\":\"%s\"}",
        o_.prefix.c_str(), n, n % o_.staff,
        utc(o_.base + static_cast<std::int64_t>(n / o_.staff) * 300).c_str());
    ++t_.sent;
    ++in_flight_;
    c->send(body, o_.token, due);
  }

  const options& o_;
  std::size_t index_, stride_;
  asio::io_context ioc_;
  asio::steady_timer timer_;
  clock_type::time_point start_, end_;
  std::deque<std::shared_ptr<connection>> free_;
  std::deque<std::pair<std::uint64_t, clock_type::time_point>> late_;
  std::uint64_t issued_ = 0;
  std::size_t in_flight_ = 0;
  tally t_;
};

void connection::send(std::string body, const std::string& token,
                      clock_type::time_point due) {
  due_ = due;
  req_ = {http::verb::post, "/api/appointments", 11};
  req_.set(http::field::host, "127.0.0.1");
  req_.set(http::field::authorization, "Bearer " + token);
  req_.set(http::field::content_type, "application/json");
  req_.body() = std::move(body);
  req_.prepare_payload();
  http::async_write(
      s_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec)
          return self->done(false, "write: " + ec.message());
        self->res_ = {};
        http::async_read(self->s_, self->buf_, self->res_,
                         [self](beast::error_code ec2, std::size_t) {
                           if (ec2)
                             return self->done(false, "read: " + ec2.message());
                           auto code = self->res_.result_int();
                           self->done(code == 201,
                                      "answered " + std::to_string(code) + ": "
                                          + self->res_.body());
                         });
      });
}

void connection::done(bool ok, const std::string& error) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                clock_type::now() - due_)
                .count();
  owner_.release(shared_from_this(), ok,
                 static_cast<std::uint32_t>(std::max<std::int64_t>(0, us)),
                 error);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--port")
      o.port = static_cast<std::uint16_t>(std::stoul(value()));
    else if (a == "--token")
      o.token = value();
    else if (a == "--base")
      o.base = std::stoll(value());
    else if (a == "--staff")
      o.staff = std::stoull(value());
    else if (a == "--rate")
      o.rate = std::stod(value());
    else if (a == "--seconds")
      o.seconds = std::stod(value());
    else if (a == "--offset")
      o.offset = std::stoull(value());
    else if (a == "--prefix")
      o.prefix = value();
    else if (a == "--connections")
      o.connections = std::stoul(value());
    else
      die("unknown option " + a);
  }
  if (o.port == 0 || o.token.empty() || o.base == 0)
    die("--port, --token and --base are required");
  if (o.rate <= 0 || o.seconds <= 0 || o.staff == 0 || o.connections == 0)
    die("--rate, --seconds, --staff and --connections must be positive");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  constexpr std::size_t threads = 2;
  std::vector<std::unique_ptr<thread_load>> loads;
  for (std::size_t i = 0; i < threads; ++i)
    loads.push_back(std::make_unique<thread_load>(o, i, threads));
  auto start = clock_type::now() + std::chrono::milliseconds(50);
  std::vector<std::thread> workers;
  for (auto& l : loads)
    workers.emplace_back([&l, start] {
      l->run(start);
    });
  for (auto& w : workers)
    w.join();
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  tally all;
  std::uint64_t issued = 0;
  for (auto& l : loads) {
    auto& t = l->result();
    all.sent += t.sent;
    all.ok += t.ok;
    all.bad += t.bad;
    all.latency_us.insert(all.latency_us.end(), t.latency_us.begin(),
                          t.latency_us.end());
    if (all.first_error.empty())
      all.first_error = t.first_error;
    issued += l->issued();
  }
  std::sort(all.latency_us.begin(), all.latency_us.end());
  auto pct = [&](double p) {
    if (all.latency_us.empty())
      return 0.0;
    auto i = static_cast<std::size_t>(
        p * static_cast<double>(all.latency_us.size() - 1));
    return all.latency_us[i] / 1000.0;
  };
  if (!all.first_error.empty())
    std::cerr << "pace: first error: " << all.first_error.substr(0, 300)
              << "\n";
  std::printf("PACE sent=%" PRIu64 " ok=%" PRIu64 " bad=%" PRIu64
              " seconds=%.2f rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
              "next_offset=%" PRIu64 "\n",
              all.sent, all.ok, all.bad, wall,
              static_cast<double>(all.ok) / std::max(o.seconds, wall),
              pct(0.50), pct(0.99), pct(1.0), o.offset + issued);
  return 0;
}
