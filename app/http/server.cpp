#include "app/http/server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <pthread.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/serialize.hpp>

#include <actors/log.hpp>
#include <app/http/listener.hpp>
#include <app/http/upgrade.hpp>

namespace switchboard::app::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

class session;

/// Buffers of an idle connection larger than this are given back.
constexpr std::size_t kept_buffer_bytes = 64 << 10;

} // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  explicit impl(server_options o, request_fn f, upgrade_fn u,
                std::string prefix)
      : opts(std::move(o)), on_request(std::move(f)), on_upgrade(std::move(u)),
        upgrade_prefix(std::move(prefix)) {
    // One io_context per thread, each run by its thread alone: a
    // connection stays on one thread, so its handlers need no strand and
    // no other thread is woken to run them.
    auto n = std::max<std::size_t>(1, opts.threads);
    for (std::size_t i = 0; i < n; ++i) {
      iocs.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(iocs.back()->get_executor());
    }
    acceptor.emplace(*iocs.front());
    thread_sessions.resize(n);
    for (auto& ioc : iocs)
      sweepers.push_back(std::make_unique<asio::steady_timer>(*ioc));
    accept_pause.emplace(*iocs.front());
  }

  void accept();
  /// After a failed accept: logs it (at most once a second, with the
  /// count since the last line) and accepts again, after `accept_backoff`
  /// when the process is out of descriptors or memory (retrying at once
  /// would spin), at once otherwise.
  void accept_failed(const beast::error_code& ec);
  void refuse(tcp::socket sock);
  /// Closes the sessions of thread `i` whose deadline has passed, every
  /// `sweep_interval`: one timer per thread instead of one re-armed on
  /// every read and write.
  void sweep(std::size_t i);
  std::chrono::milliseconds sweep_interval() const {
    auto t = opts.read_timeout / 4;
    return std::clamp<std::chrono::milliseconds>(
        t, std::chrono::milliseconds{10}, std::chrono::milliseconds{1000});
  }
  void request_done() {
    if (--in_flight == 0) {
      std::lock_guard<std::mutex> g{mtx};
      cv.notify_all();
    }
  }

  server_options opts;
  request_fn on_request;
  upgrade_fn on_upgrade;
  std::string upgrade_prefix;
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>>
      guards;
  /// Per thread: its sessions (touched on that thread only) and its sweep
  /// timer.
  std::vector<std::vector<std::weak_ptr<session>>> thread_sessions;
  std::vector<std::unique_ptr<asio::steady_timer>> sweepers;
  std::size_t next_ioc = 0; // on the acceptor's thread
  std::optional<tcp::acceptor> acceptor;
  /// The acceptor's pause after running out of descriptors, and the
  /// rate limit of its log lines (on the acceptor's thread).
  std::optional<asio::steady_timer> accept_pause;
  std::chrono::steady_clock::time_point accept_logged{};
  std::uint64_t accept_failures = 0; ///< Since the last log line.
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  bool stopped = false; // guarded by stop_mtx
  std::mutex stop_mtx;
  listener_counters counters;
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> in_flight{0};
  std::mutex mtx; // with cv: in_flight and connections drained
  std::condition_variable cv;
  /// False once the io_context stops: answers arriving later are dropped.
  std::mutex alive_mtx;
  bool alive = true;
};

namespace {

/// One connection: reads requests one at a time, hands each out, writes
/// its answer, and reads the next (keep-alive).
class session : public std::enable_shared_from_this<session> {
public:
  using clock = std::chrono::steady_clock;

  session(tcp::socket sock, std::shared_ptr<server::impl> srv,
          std::size_t thread)
      : sock_(std::move(sock)), srv_(std::move(srv)), thread_(thread) {
    ++srv_->counters.connections;
  }

  ~session() {
    if (--srv_->counters.connections == 0) {
      std::lock_guard<std::mutex> g{srv_->mtx};
      srv_->cv.notify_all();
    }
  }

  void start() {
    beast::error_code ep_ec;
    auto ep = sock_.remote_endpoint(ep_ec);
    if (!ep_ec)
      remote_address_ = ep.address().to_string();
    asio::dispatch(sock_.get_executor(), [self = shared_from_this()] {
      self->srv_->thread_sessions[self->thread_].push_back(self);
      self->do_read();
    });
  }

  /// On the session's thread: closes it when its deadline has passed.
  /// Returns false once it is closed.
  bool sweep(clock::time_point now) {
    if (!sock_.is_open())
      return false;
    if (now >= deadline_) {
      close();
      return false;
    }
    return true;
  }

  /// On stop, on the session's thread: closes the connection unless a
  /// request is in flight (that one closes after its answer).
  void close_if_idle() {
    if (!busy_)
      close();
  }

  /// On stop, after the drain timeout, on the session's thread: answers
  /// the request in flight 503 (its outcome is unknown to the client; an
  /// answer arriving later is dropped), and the connection closes after.
  void answer_unavailable() {
    if (!busy_)
      return;
    if (auto ctx = ctx_.lock())
      ctx->fail(503, "shutting_down",
                "the server is stopping and this request did not finish in "
                "time; its outcome is unknown: retry it with the same id");
  }

private:
  void do_read() {
    if (srv_->stopping.load()) {
      close();
      return;
    }
    parser_.emplace();
    parser_->body_limit(srv_->opts.body_limit);
    parser_->header_limit(srv_->opts.header_limit);
    deadline_ = clock::now() + srv_->opts.read_timeout;
    bhttp::async_read_header(
        sock_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_header(ec);
        });
  }

  /// The header is in: a client that sent `Expect: 100-continue` gets the
  /// interim answer before the body is read (RFC 9110 10.1.1), so that it
  /// does not wait for its own timeout.
  void on_header(beast::error_code ec) {
    if (ec || parser_->is_done()) {
      on_read(ec);
      return;
    }
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view interim
          = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(
          sock_, asio::buffer(interim.data(), interim.size()),
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) {
              self->close();
              return;
            }
            self->read_body();
          });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(
        sock_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_read(ec);
        });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream
        || ec == asio::error::operation_aborted) {
      close();
      return;
    }
    if (ec == bhttp::error::body_limit) {
      refuse_request(413, "body_too_large",
                     "the request body is larger than "
                         + std::to_string(srv_->opts.body_limit) + " bytes");
      return;
    }
    if (ec == bhttp::error::header_limit) {
      refuse_request(431, "headers_too_large",
                     "the request header is larger than "
                         + std::to_string(srv_->opts.header_limit) + " bytes");
      return;
    }
    if (ec) {
      if (ec.category()
              == bhttp::make_error_code(bhttp::error::bad_target).category()
          || ec == bhttp::error::partial_message) {
        refuse_request(400, "bad_request",
                       "malformed HTTP request: " + ec.message());
        return;
      }
      close();
      return;
    }
    if (srv_->on_upgrade && beast::websocket::is_upgrade(parser_->get())
        && parser_->get().target().substr(0, srv_->upgrade_prefix.size())
               == srv_->upgrade_prefix) {
      hand_over();
      return;
    }
    handle(parser_->release());
  }

  /// Gives the connection to the upgrade handler: from here on this
  /// session holds no socket (its sweep drops it).
  void hand_over() {
    upgrade u{std::move(sock_), parser_->release(), thread_, remote_address_};
    try {
      srv_->on_upgrade(std::move(u));
    } catch (const std::exception& e) {
      log::get(log::subsystem::http)
          ->error("upgrade handler threw: {}", e.what());
    }
  }

  /// Gives the connection to a streaming answer, its header written:
  /// from here on this session holds no socket (its sweep drops it).
  void hand_over_stream(const std::function<void(upgrade&&)>& take_over) {
    std::string{}.swap(out_);
    upgrade u{std::move(sock_), {}, thread_, remote_address_};
    try {
      take_over(std::move(u));
    } catch (const std::exception& e) {
      log::get(log::subsystem::http)
          ->error("stream handler threw: {}", e.what());
    }
  }

  void handle(bhttp::request<bhttp::string_body> msg) {
    keep_alive_ = msg.keep_alive();
    request req;
    req.remote_address = remote_address_;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    auto q = req.target.find('?');
    // Routed as sent: a parameter is decoded once matched, so an encoded
    // slash stays inside its segment instead of making a new one.
    req.path = std::string{std::string_view{req.target}.substr(0, q)};
    if (q != std::string::npos)
      req.query = parse_query(std::string_view{req.target}.substr(q + 1));
    for (const auto& f : msg) {
      std::string name{f.name_string()};
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) {
                       return std::tolower(c);
                     });
      req.headers.emplace_back(std::move(name), std::string{f.value()});
    }
    req.body = std::move(msg.body());
    busy_ = true;
    ++srv_->requests;
    ++srv_->in_flight;
    // The handler's own timeouts bound the wait; the socket does not.
    deadline_ = clock::time_point::max();
    auto srv = srv_;
    auto ctx = std::make_shared<request_context>(
        std::move(req), [self = shared_from_this(), srv](response r) {
          {
            std::lock_guard<std::mutex> g{srv->alive_mtx};
            if (!srv->alive)
              return;
          }
          // Inline when answered on the connection's own thread (reads
          // served there), queued to that thread otherwise.
          asio::dispatch(self->sock_.get_executor(),
                         [self, r = std::move(r)]() mutable {
                           self->write(std::move(r));
                         });
        });
    ctx_ = ctx;
    try {
      srv_->on_request(ctx);
    } catch (const std::exception& e) {
      log::get(log::subsystem::http)
          ->error("route handler threw: {}", e.what());
      ctx->fail(500, "internal", "internal error");
    }
  }

  void write(response r) {
    // The answer in one buffer and one write (Beast's serializer costs
    // more than the rest of a small answer).
    bool close_after = !keep_alive_ || srv_->stopping.load();
    auto status = static_cast<unsigned>(r.status);
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    out_.clear();
    out_.reserve(160 + r.body.size());
    out_ += "HTTP/1.1 ";
    out_ += std::to_string(status);
    out_ += ' ';
    out_.append(reason.data(), reason.size());
    out_ += "\r\nServer: switchboard\r\n";
    bool typed = false;
    for (const auto& [k, v] : r.headers)
      typed = typed || beast::iequals(k, "content-type");
    if (!r.body.empty() && !typed)
      out_ += "Content-Type: application/json\r\n";
    for (const auto& [k, v] : r.headers) {
      out_ += k;
      out_ += ": ";
      out_ += v;
      out_ += "\r\n";
    }
    // A stream's body lasts as long as the connection (no length): it is
    // handed over once its header is out, and never read from again.
    std::function<void(upgrade &&)> take_over;
    if (!close_after)
      take_over = std::move(r.take_over);
    if (close_after || take_over)
      out_ += "Connection: close\r\n";
    if (!take_over) {
      out_ += "Content-Length: ";
      out_ += std::to_string(r.body.size());
      out_ += "\r\n";
    }
    out_ += "\r\n";
    out_ += r.body;
    auto pause = r.status == 429 ? refusal_pause(r) : clock::duration::zero();
    deadline_ = clock::now() + pause + srv_->opts.read_timeout;
    asio::async_write(
        sock_, asio::buffer(out_),
        [self = shared_from_this(), close_after, pause,
         take_over = std::move(take_over)](beast::error_code ec, std::size_t) {
          self->busy_ = false;
          self->srv_->request_done();
          if (!ec && take_over) {
            self->hand_over_stream(take_over);
            return;
          }
          if (ec || close_after) {
            self->close();
            return;
          }
          self->shrink_buffers();
          if (pause > clock::duration::zero())
            self->read_after(pause);
          else
            self->do_read();
        });
  }

  /// How long to wait before reading the request after this 429: the
  /// configured pause, at most the answer's Retry-After.
  clock::duration refusal_pause(const response& r) const {
    clock::duration pause = srv_->opts.refusal_pause;
    for (const auto& [k, v] : r.headers) {
      if (!beast::iequals(k, "retry-after"))
        continue;
      std::uint64_t seconds = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
      if (ec == std::errc{} && end == v.data() + v.size() && seconds < 3600)
        pause = std::min<clock::duration>(pause, std::chrono::seconds(seconds));
    }
    return pause;
  }

  void read_after(clock::duration pause) {
    if (!pause_timer_)
      pause_timer_.emplace(sock_.get_executor());
    pause_timer_->expires_after(pause);
    pause_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->sock_.is_open())
        return;
      self->do_read();
    });
  }

  /// An idle connection keeps small buffers only: one large request or
  /// answer must not pin its memory for as long as the client stays.
  void shrink_buffers() {
    if (out_.capacity() > kept_buffer_bytes)
      std::string{}.swap(out_);
    if (buffer_.capacity() > kept_buffer_bytes) {
      if (buffer_.size() == 0)
        buffer_ = beast::flat_buffer{};
      else
        buffer_.shrink_to_fit();
    }
  }

  /// Answers an unreadable request and closes the connection, reading
  /// (and dropping) what the client still sends for a moment, so that it
  /// sees the answer rather than a reset.
  void refuse_request(int status, std::string code, std::string message) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(status));
    res->set(bhttp::field::server, "switchboard");
    res->set(bhttp::field::content_type, "application/json");
    res->keep_alive(false);
    res->body() = boost::json::serialize(error_body(code, message));
    res->prepare_payload();
    deadline_ = clock::now() + srv_->opts.read_timeout;
    bhttp::async_write(
        sock_, *res,
        [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
          if (ec) {
            self->close();
            return;
          }
          beast::error_code ignored;
          self->sock_.shutdown(tcp::socket::shutdown_send, ignored);
          self->deadline_ = clock::now() + std::chrono::seconds(2);
          self->linger();
        });
  }

  void linger() {
    sock_.async_read_some(
        asio::buffer(scratch_),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) {
            self->close();
            return;
          }
          self->linger();
        });
  }

  void close() {
    if (pause_timer_)
      pause_timer_->cancel();
    beast::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
  }

  tcp::socket sock_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<server::impl> srv_;
  std::size_t thread_; ///< Index of the thread (io_context) it runs on.
  /// Closed by the thread's sweep after this (max: in a handler).
  clock::time_point deadline_ = clock::time_point::max();
  std::string remote_address_;
  std::string out_; ///< The answer being written.
  /// The request in flight, for the 503 at stop.
  std::weak_ptr<request_context> ctx_;
  bool keep_alive_ = true;
  bool busy_ = false;
  /// Delays the next read after a 429 (refusal_pause).
  std::optional<asio::steady_timer> pause_timer_;
  char scratch_[4096];
};

} // namespace

void server::impl::accept() {
  // Connections go to the threads in turn.
  auto thread = next_ioc++ % iocs.size();
  asio::any_io_executor ex = iocs[thread]->get_executor();
  acceptor->async_accept(ex, [self = shared_from_this(),
                              thread](beast::error_code ec, tcp::socket sock) {
    if (ec) {
      if (ec == asio::error::operation_aborted || self->stopping.load())
        return;
      self->accept_failed(ec);
      return;
    } else if (self->stopping.load()) {
      beast::error_code ignored;
      sock.close(ignored);
    } else if (self->counters.connections.load()
               >= self->opts.max_connections) {
      ++self->counters.refused;
      self->refuse(std::move(sock));
    } else {
      ++self->counters.accepted;
      // Not make_shared: the thread's list holds a weak reference until
      // its next sweep, which would keep a closed session's memory
      // (buffers included) in the same block until then.
      std::shared_ptr<session>(new session(std::move(sock), self, thread))
          ->start();
    }
    if (!self->stopping.load())
      self->accept();
  });
}

void server::impl::accept_failed(const beast::error_code& ec) {
  ++accept_failures;
  auto now = std::chrono::steady_clock::now();
  bool exhausted = ec == asio::error::no_descriptors
                   || ec == beast::errc::too_many_files_open_in_system
                   || ec == asio::error::no_buffer_space
                   || ec == asio::error::no_memory;
  if (now - accept_logged >= std::chrono::seconds(1)) {
    log::get(log::subsystem::http)
        ->warn("accept failed: {} ({} time(s) since the last report){}",
               ec.message(), accept_failures,
               exhausted
                   ? "; accepts pause " + std::to_string(accept_backoff.count())
                         + " ms at a time until descriptors are free"
                   : std::string{});
    accept_logged = now;
    accept_failures = 0;
  }
  if (!exhausted) {
    accept();
    return;
  }
  // The pending connections stay in the listen backlog meanwhile.
  accept_pause->expires_after(accept_backoff);
  accept_pause->async_wait([weak = weak_from_this()](beast::error_code e) {
    auto self = weak.lock();
    if (e || !self || self->stopping.load())
      return;
    self->accept();
  });
}

void server::impl::sweep(std::size_t i) {
  auto& t = *sweepers[i];
  t.expires_after(sweep_interval());
  // A weak reference: the handler is owned by an io_context the server
  // owns, and one still pending at stop must not keep the server alive.
  // It goes on while the server drains, so that deadlines hold then too.
  t.async_wait([weak = weak_from_this(), i](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self)
      return;
    auto now = session::clock::now();
    sweep_sessions(self->thread_sessions[i], now);
    self->sweep(i);
  });
}

void server::impl::refuse(tcp::socket sock) {
  // Answer 503, stop sending, and read what the client sends for a moment
  // before closing, so that it sees the answer rather than a reset.
  struct refusal : std::enable_shared_from_this<refusal> {
    explicit refusal(tcp::socket s) : stream(std::move(s)) {}
    beast::tcp_stream stream;
    std::string text;
    char scratch[1024];
    void linger() {
      stream.async_read_some(
          asio::buffer(scratch),
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) {
              beast::error_code ignored;
              self->stream.socket().close(ignored);
              return;
            }
            self->linger();
          });
    }
  };
  auto r = std::make_shared<refusal>(std::move(sock));
  auto body = boost::json::serialize(
      error_body("too_many_connections", "the server is at its connection "
                                         "limit; try again later"));
  r->text = "HTTP/1.1 503 Service Unavailable\r\nServer: switchboard\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n"
            "Content-Length: "
            + std::to_string(body.size()) + "\r\n\r\n" + body;
  r->stream.expires_after(std::chrono::seconds(2));
  asio::async_write(
      r->stream, asio::buffer(r->text), [r](beast::error_code ec, std::size_t) {
        beast::error_code ignored;
        if (ec) {
          r->stream.socket().close(ignored);
          return;
        }
        r->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        r->linger();
      });
}

expected<std::unique_ptr<server>, std::string>
server::start(server_options opts, request_fn on_request, upgrade_fn on_upgrade,
              std::string upgrade_prefix) {
  auto p = std::make_shared<impl>(std::move(opts), std::move(on_request),
                                  std::move(on_upgrade),
                                  std::move(upgrade_prefix));
  beast::error_code ec;
  auto addr = asio::ip::make_address(p->opts.host, ec);
  if (ec)
    return make_unexpected("http.host " + p->opts.host
                           + " is not an IP address: " + ec.message());
  tcp::endpoint ep{addr, p->opts.port};
  auto where = p->opts.host + ":" + std::to_string(p->opts.port);
  p->acceptor->open(ep.protocol(), ec);
  if (!ec)
    p->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    p->acceptor->bind(ep, ec);
  if (!ec)
    p->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_unexpected("cannot listen on " + where + ": " + ec.message());
  p->port = p->acceptor->local_endpoint().port();
  // Connections stay below the open-file limit, with room for the store,
  // the providers' connections and the logs.
  auto lg = log::get(log::subsystem::http);
  if (auto b = connection_fd_budget();
      b && p->opts.max_connections > b->connections) {
    lg->warn("http.max_connections {} lowered to {}: the open-file limit is "
             "{} and {} descriptors are kept for the store, providers and "
             "logs",
             p->opts.max_connections, b->connections, b->limit, b->kept);
    p->opts.max_connections = b->connections;
  }
  lg->info("http accepts at most {} connection(s)", p->opts.max_connections);
  p->accept();
  for (std::size_t i = 0; i < p->iocs.size(); ++i)
    p->sweep(i);
  for (auto& ioc : p->iocs)
    p->threads.emplace_back([p, ctx = ioc.get()] {
      pthread_setname_np(pthread_self(), "sb-http");
      ctx->run();
    });
  return std::unique_ptr<server>{new server(p)};
}

server::~server() {
  stop();
}

std::uint16_t server::port() const noexcept {
  return impl_->port;
}

void server::stop() {
  auto& p = *impl_;
  std::lock_guard<std::mutex> once{p.stop_mtx};
  if (p.stopped)
    return;
  p.stopped = true;
  auto lg = log::get(log::subsystem::http);
  p.stopping = true;
  // 1. No new connections.
  asio::post(p.acceptor->get_executor(), [s = impl_] {
    beast::error_code ignored;
    s->acceptor->close(ignored);
  });
  // 2. Idle connections close now; busy ones after their answer. Each
  // thread walks its own sessions (a session registering later closes at
  // its first read, which sees `stopping`).
  auto close_idle = [this] {
    for (std::size_t i = 0; i < impl_->iocs.size(); ++i)
      asio::post(*impl_->iocs[i], [s = impl_, i] {
        for (const auto& w : s->thread_sessions[i])
          if (auto session = w.lock())
            session->close_if_idle();
      });
  };
  close_idle();
  // 3. In-flight requests finish.
  {
    std::unique_lock<std::mutex> g{p.mtx};
    if (!p.cv.wait_for(g, p.opts.drain_timeout, [&p] {
          return p.in_flight.load() == 0;
        }))
      lg->warn("{} request(s) still in flight after {} ms; closing",
               p.in_flight.load(), p.opts.drain_timeout.count());
  }
  // 4. Requests still in flight are answered 503 (never a silent close).
  if (p.in_flight.load() > 0) {
    for (std::size_t i = 0; i < impl_->iocs.size(); ++i)
      asio::post(*impl_->iocs[i], [s = impl_, i] {
        for (const auto& w : s->thread_sessions[i])
          if (auto session = w.lock())
            session->answer_unavailable();
      });
    std::unique_lock<std::mutex> g{p.mtx};
    p.cv.wait_for(g, std::chrono::seconds(1), [&p] {
      return p.in_flight.load() == 0;
    });
  }
  // 5. Every connection closes (a second sweep catches late arrivals).
  close_idle();
  {
    std::unique_lock<std::mutex> g{p.mtx};
    p.cv.wait_for(g, std::chrono::seconds(2), [&p] {
      return p.counters.connections.load() == 0;
    });
  }
  {
    std::lock_guard<std::mutex> g{p.alive_mtx};
    p.alive = false;
  }
  for (auto& g : p.guards)
    g.reset();
  for (auto& ioc : p.iocs)
    ioc->stop();
  for (auto& t : p.threads)
    if (t.joinable())
      t.join();
  p.threads.clear();
  // The handlers still queued (the accept, the sweep timers, sessions'
  // reads) hold the server and their sessions, and the server holds the
  // io_contexts that hold them: destroying the io_contexts destroys those
  // handlers unrun and ends the cycle, which would otherwise leak at exit.
  // The objects on them go first, as the destructor would order them.
  p.accept_pause.reset();
  p.acceptor.reset();
  p.sweepers.clear();
  p.guards.clear();
  p.iocs.clear();
  lg->info("http server stopped ({} request(s) served)", p.requests.load());
}

server_stats server::stats() const {
  server_stats s;
  impl_->counters.load_into(s);
  s.requests = impl_->requests.load();
  s.in_flight = impl_->in_flight.load();
  return s;
}

} // namespace switchboard::app::http
