#include "app/http/broadcasting.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/crypto.h>

#include <actors/log.hpp>
#include <actors/providers.hpp>
#include <app/config.hpp>
#include <app/http/context.hpp>
#include <app/http/upgrade.hpp>
#include <messages/registry.hpp>

namespace switchboard::app::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

class ws_session;

/// The session's socket under Beast's WebSocket stream. Two writers share
/// it: the session, which writes its frames (already framed, shared by
/// every subscriber) past the stream, and the stream itself, which writes
/// the pong it answers a ping with and the close. Frames must not
/// interleave, so a write of the stream that comes while a frame of the
/// session is part-written is parked until the frame is whole, and the
/// session starts no write while one of the stream's is under way.
class frame_socket {
public:
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;

  explicit frame_socket(tcp::socket s) : sock_(std::move(s)) {}

  executor_type get_executor() noexcept {
    return sock_.get_executor();
  }
  tcp::socket& next_layer() noexcept {
    return sock_;
  }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& b, Handler&& h) {
    sock_.async_read_some(b, std::forward<Handler>(h));
  }

  /// The stream's writes.
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& b, Handler&& h) {
    using impl = parked_write<Buffers, std::decay_t<Handler>>;
    auto w = std::make_unique<impl>(b, std::forward<Handler>(h));
    if (frame_open_) {
      parked_ = std::move(w);
      return;
    }
    w->start(*this);
  }

  /// True while a frame of the session is part-written (the session sets
  /// and clears it at frame boundaries).
  void frame_open(bool open) {
    frame_open_ = open;
    if (!open && parked_) {
      auto w = std::move(parked_);
      w->start(*this);
    }
  }

  /// True while a write of the stream is under way: the session waits.
  bool stream_writing() const noexcept {
    return stream_writing_;
  }

  /// Runs `f` once the stream's write is done (at once when none is).
  void when_idle(std::function<void()> f) {
    if (!stream_writing_ && !parked_) {
      f();
      return;
    }
    on_idle_ = std::move(f);
  }

private:
  struct parked_base {
    virtual ~parked_base() = default;
    virtual void start(frame_socket& s) = 0;
  };
  template <class Buffers, class Handler>
  struct parked_write : parked_base {
    parked_write(const Buffers& b, Handler h) : b(b), h(std::move(h)) {}
    void start(frame_socket& s) override {
      s.stream_writing_ = true;
      s.sock_.async_write_some(
          b,
          [&s, h = std::move(h)](beast::error_code ec, std::size_t n) mutable {
            s.stream_writing_ = false;
            h(ec, n); // may write again (the rest of the same frame)
            if (!s.stream_writing_ && !s.parked_ && s.on_idle_) {
              auto f = std::move(s.on_idle_);
              s.on_idle_ = nullptr;
              f();
            }
          });
    }
    Buffers b;
    Handler h;
  };

  tcp::socket sock_;
  std::unique_ptr<parked_base> parked_;
  std::function<void()> on_idle_;
  bool frame_open_ = false;
  bool stream_writing_ = false;
};

/// Beast's closing handshake ends by tearing the socket beneath down.
template <class Handler>
void async_teardown(beast::role_type role, frame_socket& s, Handler&& handler) {
  websocket::async_teardown(role, s.next_layer(),
                            std::forward<Handler>(handler));
}

/// Pusher's error and close codes.
namespace codes {
constexpr std::uint16_t unknown_app = 4001;
constexpr std::uint16_t over_quota = 4004;
constexpr std::uint16_t unsupported_protocol = 4007;
constexpr std::uint16_t unauthorized = 4009;
constexpr std::uint16_t over_capacity = 4100;
constexpr std::uint16_t reconnect = 4200;
constexpr std::uint16_t pong_timeout = 4201;
constexpr std::uint16_t invalid_message = 4200;
constexpr std::uint16_t rate_limited = 4301;
} // namespace codes

/// A WebSocket text frame as it goes on the wire (header and payload),
/// shared by every connection it goes to: a server's frames are not
/// masked, so the bytes are the same for all.
using frame_ptr = std::shared_ptr<const std::string>;

/// Frames `payload` as one unmasked, final text frame (RFC 6455 5.2).
frame_ptr encode(std::string_view payload) {
  std::string out;
  auto n = payload.size();
  out.reserve(n + 10);
  out.push_back(static_cast<char>(0x81)); // FIN, text
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(
          static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
  }
  out.append(payload.data(), payload.size());
  return std::make_shared<const std::string>(std::move(out));
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  // The lengths are public (the key's and a hex digest's); the bytes are
  // compared without an early exit.
  return a.size() == b.size()
         && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// `{"event":..,"channel":..,"data":..}` with `data` a JSON string.
frame_ptr make_frame(std::string_view event, std::string_view channel,
                     std::string_view data) {
  json::object o;
  o["event"] = event;
  if (!channel.empty())
    o["channel"] = channel;
  o["data"] = data;
  return encode(json::serialize(o));
}

frame_ptr error_frame(std::uint16_t code, std::string_view message) {
  json::object d;
  d["code"] = code;
  d["message"] = message;
  json::object o;
  o["event"] = "pusher:error";
  o["data"] = d;
  return encode(json::serialize(o));
}

/// Whether host `h` matches `pattern`, where '*' matches any run.
bool glob(std::string_view pattern, std::string_view h) {
  std::size_t p = 0, s = 0, star = std::string_view::npos, mark = 0;
  while (s < h.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = s;
    } else if (p < pattern.size()
               && std::tolower(static_cast<unsigned char>(pattern[p]))
                      == std::tolower(static_cast<unsigned char>(h[s]))) {
      ++p;
      ++s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

/// The host of an Origin header ("https://a.example.com:8443" →
/// "a.example.com").
std::string_view origin_host(std::string_view origin) {
  auto scheme = origin.find("://");
  if (scheme != std::string_view::npos)
    origin.remove_prefix(scheme + 3);
  auto end = origin.find_first_of(":/");
  return origin.substr(0, end);
}

bool is_private(std::string_view ch) {
  return ch.rfind("private-", 0) == 0;
}

bool is_presence(std::string_view ch) {
  return ch.rfind("presence-", 0) == 0;
}

} // namespace

bool origin_allowed(const broadcast_options& opts,
                    std::string_view origin) noexcept {
  const auto& allowed = opts.allowed_origins;
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end())
    return true;
  if (origin.empty())
    return false;
  auto host = origin_host(origin);
  return std::any_of(allowed.begin(), allowed.end(),
                     [host](const std::string& p) {
                       return glob(p, host);
                     });
}

bool valid_socket_id(std::string_view s) noexcept {
  auto dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= s.size()
      || s.size() > 41)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i != dot && (s[i] < '0' || s[i] > '9'))
      return false;
  return true;
}

bool valid_channel_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 200)
    return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '='
              || c == '@' || c == ',' || c == '.' || c == ';';
    if (!ok)
      return false;
  }
  return true;
}

expected<broadcast_options, std::string>
broadcast_options_from(const config& cfg) {
  broadcast_options o;
  o.app_id = cfg.get_string("broadcasting.app_id");
  o.key = cfg.get_string("broadcasting.key");
  o.secret = cfg.get_string("broadcasting.secret");
  std::string missing;
  int set = 0;
  for (auto [name, value] :
       {std::pair{"app_id", &o.app_id}, std::pair{"key", &o.key},
        std::pair{"secret", &o.secret}}) {
    if (value->empty())
      missing
          += std::string{missing.empty() ? "" : ", "} + "broadcasting." + name;
    else
      ++set;
  }
  if (set != 0 && set != 3)
    return make_unexpected("broadcasting needs app_id, key and secret "
                           "together; missing: "
                           + missing);
  o.activity_timeout
      = std::chrono::seconds{cfg.get_int("broadcasting.activity_timeout_s")};
  o.max_message_bytes
      = static_cast<std::size_t>(cfg.get_int("broadcasting.max_message_bytes"));
  o.max_connections
      = static_cast<std::size_t>(cfg.get_int("broadcasting.max_connections"));
  o.allowed_origins.clear();
  const auto& origins = cfg.get_string("broadcasting.allowed_origins");
  std::size_t from = 0;
  while (from <= origins.size()) {
    auto comma = origins.find(',', from);
    auto part = std::string_view{origins}.substr(
        from, comma == std::string::npos ? std::string::npos : comma - from);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ')
      part.remove_suffix(1);
    if (!part.empty())
      o.allowed_origins.emplace_back(part);
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }
  o.client_events = cfg.get_string("broadcasting.client_events") == "members";
  o.client_events_per_s = static_cast<std::uint32_t>(
      cfg.get_int("broadcasting.client_events_per_s"));
  o.send_queue_frames
      = static_cast<std::size_t>(cfg.get_int("broadcasting.send_queue_frames"));
  return o;
}

// -- the hub ------------------------------------------------------------------

struct broadcaster::hub : std::enable_shared_from_this<broadcaster::hub> {
  /// A user of a presence channel, with the connections it has there.
  struct member {
    std::size_t connections = 0;
    std::string info; ///< JSON text of its user_info ("null": none).
  };

  /// A channel as every thread shares it.
  struct channel_entry {
    std::size_t subscriptions = 0;
    std::map<std::string, member> members; ///< Presence: by user id.
  };

  /// What one server thread keeps; touched on that thread only.
  struct thread_state {
    std::unordered_map<std::string, std::vector<std::shared_ptr<ws_session>>>
        subscribers;
    std::vector<std::weak_ptr<ws_session>> sessions;
    std::unique_ptr<asio::steady_timer> sweeper;
  };

  hub(broadcast_options o, std::size_t n)
      : opts(std::move(o)), threads(std::max<std::size_t>(1, n)),
        executors(threads.size()), rng(std::random_device{}()) {}

  /// Runs `fn` on every thread that has run a connection (under `mtx`,
  /// so that no post follows stop).
  template <class Fn>
  void post_all(Fn fn) {
    for (std::size_t i = 0; i < executors.size(); ++i)
      if (executors[i])
        asio::post(*executors[i], [fn, i] {
          fn(i);
        });
  }

  /// Sends `frame` to the subscribers of `channel` on every thread. With
  /// `presence_gen`, only to those subscribed before that change.
  void fan_out(const std::string& channel, frame_ptr frame, std::string except,
               std::uint64_t presence_gen);

  /// On thread `i`.
  void deliver(std::size_t i, const std::string& channel,
               const frame_ptr& frame, const std::string& except,
               std::uint64_t presence_gen);

  void sweep(std::size_t i);

  std::string new_socket_id() {
    std::lock_guard<std::mutex> g{mtx};
    std::uniform_int_distribution<std::uint64_t> d{1, 999999999};
    return std::to_string(d(rng)) + "." + std::to_string(d(rng));
  }

  std::chrono::milliseconds sweep_interval() const {
    return std::clamp<std::chrono::milliseconds>(
        opts.activity_timeout / 8, std::chrono::milliseconds{50},
        std::chrono::milliseconds{1000});
  }

  broadcast_options opts;
  std::vector<thread_state> threads;

  mutable std::mutex mtx; // guards what follows
  std::unordered_map<std::string, channel_entry> channels;
  std::vector<std::optional<asio::any_io_executor>> executors;
  /// Bumped by every presence change; a member event goes to the
  /// subscriptions older than it.
  std::uint64_t presence_gen = 0;
  bool stopped = false;
  std::mt19937_64 rng;

  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> slow_closed{0};
  std::atomic<std::uint64_t> frames_sent{0};
  std::atomic<std::uint64_t> published{0};
  std::mutex gone_mtx; // with gone_cv: connections reached 0
  std::condition_variable gone_cv;
};

namespace {

/// One WebSocket connection speaking the Pusher protocol.
class ws_session : public std::enable_shared_from_this<ws_session> {
public:
  using hub = broadcaster::hub;

  ws_session(tcp::socket sock, std::shared_ptr<hub> h, std::size_t thread)
      : ws_(std::move(sock)), hub_(std::move(h)), thread_(thread) {}

  ~ws_session() {
    if (counted_)
      uncount();
  }

  const std::string& socket_id() const noexcept {
    return socket_id_;
  }

  tcp::socket& sock() noexcept {
    return ws_.next_layer().next_layer();
  }

  /// The presence change the subscription to `channel` saw last (none
  /// newer when not subscribed there).
  std::uint64_t presence_gen(const std::string& channel) const {
    auto i = subs_.find(channel);
    return i == subs_.end() ? UINT64_MAX : i->second.gen;
  }

  void start(http::upgrade u) {
    req_ = std::move(u.request);
    auto target = std::string{req_.target()};
    origin_ = std::string{req_[beast::http::field::origin]};
    // Frames are small and go out as they come: without TCP_NODELAY a
    // frame that follows one not yet acknowledged waits for the peer's
    // delayed ACK (up to 40 ms on Linux).
    beast::error_code nodelay_ec;
    sock().set_option(tcp::no_delay(true), nodelay_ec);
    ws_.set_option(websocket::stream_base::timeout{
        std::chrono::seconds(10), websocket::stream_base::none(), false});
    ws_.set_option(
        websocket::stream_base::decorator([](websocket::response_type& res) {
          res.set(beast::http::field::server, "switchboard");
        }));
    ws_.read_message_max(hub_->opts.max_message_bytes);
    ws_.auto_fragment(false);
    ws_.async_accept(req_,
                     [self = shared_from_this(), target](beast::error_code ec) {
                       if (ec)
                         return;
                       self->on_accepted(target);
                     });
  }

  /// Sends `frame`: at once when nothing waits and the socket takes it
  /// whole (one non-blocking send, no asynchronous operation), else
  /// queued; past the queue's bound the connection is closed as a slow
  /// consumer. Never touches the subscriber lists.
  void send(const frame_ptr& frame) {
    if (closing_)
      return;
    if (out_.size() >= hub_->opts.send_queue_frames) {
      ++hub_->slow_closed;
      // Keep the frames being written (their buffers are in use), drop
      // the rest and close behind them.
      out_.erase(out_.begin()
                     + static_cast<std::ptrdiff_t>(writing_ ? in_flight_ : 0),
                 out_.end());
      close_with(codes::over_capacity, "Over capacity: send queue full");
      return;
    }
    hub_->frames_sent.fetch_add(1, std::memory_order_relaxed);
    if (!writing_ && out_.empty() && !ws_.next_layer().stream_writing()) {
      auto n = ::send(sock().native_handle(), frame->data(), frame->size(),
                      MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(frame->size()))
        return;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        teardown(); // the pending read ends and cleans up
        return;
      }
      offset_ = n > 0 ? static_cast<std::size_t>(n) : 0;
      ws_.next_layer().frame_open(offset_ > 0);
    }
    out_.push_back(frame);
    if (!writing_)
      write_next();
  }

  /// Sends pusher:error `code` and closes with it.
  void fail(std::uint16_t code, std::string_view message) {
    if (closing_)
      return;
    send(error_frame(code, message));
    close_with(code, message);
  }

  /// On the thread's sweep: pings a silent connection, closes one that
  /// did not answer, tears down one whose close did not finish. Returns
  /// false once it is gone.
  bool sweep(clock_type::time_point now) {
    if (gone_)
      return false;
    if (now >= kill_at_) {
      beast::error_code ignored;
      sock().shutdown(tcp::socket::shutdown_both, ignored);
      sock().close(ignored);
      return true; // its pending read ends and cleans up
    }
    if (closing_ || !established_)
      return true;
    auto timeout = hub_->opts.activity_timeout;
    if (pinged_) {
      if (now - pinged_at_ >= timeout)
        fail(codes::pong_timeout, "Pong reply not received in time");
    } else if (now - last_seen_ >= timeout) {
      pinged_ = true;
      pinged_at_ = now;
      send(make_frame("pusher:ping", {}, "{}"));
    }
    return true;
  }

private:
  struct subscription {
    bool presence = false;
    bool authorized = false; ///< private- or presence-.
    std::string user_id;     ///< Presence.
    std::uint64_t gen = 0;   ///< Presence change it has seen.
  };

  void on_accepted(const std::string& target) {
    auto& h = *hub_;
    req_ = {}; // answered: its memory goes
    // /app/{key}?protocol=7&client=js&version=...
    auto q = target.find('?');
    auto path = std::string_view{target}.substr(0, q);
    auto key = path.substr(std::min(path.size(), std::size_t{5}));
    auto query = q == std::string::npos
                     ? decltype(parse_query("")){}
                     : parse_query(std::string_view{target}.substr(q + 1));
    socket_id_ = h.new_socket_id();
    last_seen_ = clock_type::now();
    register_on_thread();
    read_next();
    {
      std::lock_guard<std::mutex> g{h.mtx};
      if (h.stopped) {
        close_with(codes::reconnect, "Server is shutting down");
        return;
      }
    }
    if (key != h.opts.key) {
      ++h.refused;
      fail(codes::unknown_app,
           "Application does not exist: unknown app key " + std::string{key});
      return;
    }
    if (auto p = query.find("protocol"); p != query.end()) {
      int v = std::atoi(p->second.c_str());
      if (v < 5 || v > 7) {
        ++h.refused;
        fail(codes::unsupported_protocol,
             "Unsupported protocol version " + p->second + " (5 to 7)");
        return;
      }
    }
    if (!http::origin_allowed(h.opts, origin_)) {
      ++h.refused;
      fail(codes::unauthorized, "Origin not allowed: " + origin_);
      return;
    }
    if (h.connections.fetch_add(1) >= h.opts.max_connections) {
      --h.connections;
      ++h.refused;
      fail(codes::over_quota, "Application is over connection quota");
      return;
    }
    counted_ = true;
    ++h.accepted;
    established_ = true;
    json::object d;
    d["socket_id"] = socket_id_;
    d["activity_timeout"] = h.opts.activity_timeout.count() / 1000;
    send(make_frame("pusher:connection_established", {}, json::serialize(d)));
  }

  void register_on_thread() {
    auto& h = *hub_;
    {
      std::lock_guard<std::mutex> g{h.mtx};
      if (!h.executors[thread_] && !h.stopped)
        h.executors[thread_] = ws_.get_executor();
    }
    auto& ts = h.threads[thread_];
    ts.sessions.push_back(weak_from_this());
    if (!ts.sweeper) {
      ts.sweeper = std::make_unique<asio::steady_timer>(ws_.get_executor());
      h.sweep(thread_);
    }
  }

  void uncount() {
    counted_ = false;
    if (--hub_->connections == 0) {
      std::lock_guard<std::mutex> g{hub_->gone_mtx};
      hub_->gone_cv.notify_all();
    }
  }

  void read_next() {
    ws_.async_read(
        in_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->on_read(ec);
        });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      cleanup();
      return;
    }
    auto text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    last_seen_ = clock_type::now();
    pinged_ = false;
    if (established_ && !closing_)
      handle(text);
    read_next();
  }

  void handle(const std::string& text) {
    std::error_code ec;
    auto v = json::parse(text, ec);
    const json::object* msg = ec ? nullptr : v.if_object();
    const json::string* event = msg != nullptr && msg->contains("event")
                                    ? msg->at("event").if_string()
                                    : nullptr;
    if (event == nullptr) {
      send(error_frame(codes::invalid_message,
                       "Invalid message format: expected a JSON object with "
                       "an \"event\" string"));
      return;
    }
    std::string_view name{*event};
    // `data` may come as an object or as a JSON string holding one.
    json::value data;
    if (auto i = msg->find("data"); i != msg->end()) {
      data = i->value();
      if (auto s = data.if_string();
          s != nullptr && name.rfind("pusher:", 0) == 0) {
        std::error_code dec;
        auto parsed = json::parse(*s, dec);
        if (!dec)
          data = std::move(parsed);
      }
    }
    if (name == "pusher:ping") {
      send(make_frame("pusher:pong", {}, "{}"));
    } else if (name == "pusher:pong") {
      // last_seen_ is updated already.
    } else if (name == "pusher:subscribe") {
      subscribe(data);
    } else if (name == "pusher:unsubscribe") {
      auto* d = data.if_object();
      auto* ch = d != nullptr && d->contains("channel")
                     ? d->at("channel").if_string()
                     : nullptr;
      if (ch == nullptr) {
        send(error_frame(codes::invalid_message,
                         "pusher:unsubscribe needs data.channel"));
        return;
      }
      unsubscribe(std::string{*ch});
    } else if (name.rfind("client-", 0) == 0) {
      client_event(*msg, name);
    } else {
      send(error_frame(codes::invalid_message,
                       "Unsupported event " + std::string{name}));
    }
  }

  void subscribe(const json::value& data) {
    auto& h = *hub_;
    auto* d = data.if_object();
    auto* ch_v = d != nullptr && d->contains("channel")
                     ? d->at("channel").if_string()
                     : nullptr;
    if (ch_v == nullptr) {
      send(error_frame(codes::invalid_message,
                       "pusher:subscribe needs data.channel"));
      return;
    }
    std::string ch{*ch_v};
    if (!valid_channel_name(ch)) {
      send(error_frame(codes::invalid_message,
                       "Invalid channel name (1 to 200 of A-Z a-z 0-9 "
                       "_-=@,.;)"));
      return;
    }
    subscription sub;
    sub.presence = is_presence(ch);
    sub.authorized = sub.presence || is_private(ch);
    std::string channel_data;
    if (sub.authorized) {
      auto* auth = d->contains("auth") ? d->at("auth").if_string() : nullptr;
      if (d->contains("channel_data")) {
        if (auto* cd = d->at("channel_data").if_string())
          channel_data = std::string{*cd};
      }
      auto expected = broadcaster_auth(h, socket_id_, ch,
                                       sub.presence ? channel_data : "");
      if (auth == nullptr || !equal_constant_time(*auth, expected)) {
        send(error_frame(codes::unauthorized,
                         "Invalid signature for " + ch
                             + ": expected key:HMAC-SHA256 hex of "
                               "socket_id:channel"
                             + (sub.presence ? ":channel_data" : "")));
        return;
      }
    }
    std::string user_info = "null";
    if (sub.presence) {
      std::error_code dec;
      auto cd = json::parse(channel_data, dec);
      auto* o = dec ? nullptr : cd.if_object();
      const json::value* uid = o != nullptr && o->contains("user_id")
                                   ? &o->at("user_id")
                                   : nullptr;
      if (uid != nullptr && uid->is_string())
        sub.user_id = std::string{uid->as_string()};
      else if (uid != nullptr && uid->is_number())
        sub.user_id = json::serialize(*uid);
      if (sub.user_id.empty()) {
        send(error_frame(codes::invalid_message,
                         "Presence channel_data must be a JSON object with a "
                         "user_id"));
        return;
      }
      if (auto i = o->find("user_info"); i != o->end())
        user_info = json::serialize(i->value());
    }
    if (subs_.count(ch) != 0) {
      // Subscribed already: confirm again.
      send(make_frame("pusher_internal:subscription_succeeded", ch,
                      succeeded_data(ch)));
      return;
    }
    bool joined = false;
    {
      std::lock_guard<std::mutex> g{h.mtx};
      auto& entry = h.channels[ch];
      ++entry.subscriptions;
      if (sub.presence) {
        auto& m = entry.members[sub.user_id];
        if (m.connections++ == 0) {
          m.info = user_info;
          joined = true;
          ++h.presence_gen;
        }
        sub.gen = h.presence_gen;
      }
    }
    h.threads[thread_].subscribers[ch].push_back(shared_from_this());
    subs_.emplace(ch, sub);
    send(make_frame("pusher_internal:subscription_succeeded", ch,
                    succeeded_data(ch)));
    if (joined) {
      json::object m;
      m["user_id"] = sub.user_id;
      std::error_code dec;
      m["user_info"] = json::parse(user_info, dec);
      std::lock_guard<std::mutex> g{h.mtx};
      h.fan_out(
          ch,
          make_frame("pusher_internal:member_added", ch, json::serialize(m)),
          socket_id_, sub.gen);
    }
  }

  static std::string broadcaster_auth(const hub& h, std::string_view socket_id,
                                      std::string_view ch,
                                      std::string_view channel_data) {
    std::string text{socket_id};
    text += ':';
    text += ch;
    if (!channel_data.empty()) {
      text += ':';
      text += channel_data;
    }
    return h.opts.key + ":" + hmac_sha256_hex(h.opts.secret, std::string{text});
  }

  /// The data of subscription_succeeded: "{}", or the presence members.
  std::string succeeded_data(const std::string& ch) {
    if (!is_presence(ch))
      return "{}";
    json::array ids;
    json::object hash;
    {
      std::lock_guard<std::mutex> g{hub_->mtx};
      auto i = hub_->channels.find(ch);
      if (i != hub_->channels.end())
        for (const auto& [id, m] : i->second.members) {
          ids.emplace_back(id);
          std::error_code dec;
          hash[id] = json::parse(m.info, dec);
        }
    }
    json::object presence;
    presence["count"] = ids.size();
    presence["ids"] = std::move(ids);
    presence["hash"] = std::move(hash);
    json::object d;
    d["presence"] = std::move(presence);
    return json::serialize(d);
  }

  void unsubscribe(const std::string& ch) {
    auto i = subs_.find(ch);
    if (i == subs_.end())
      return;
    auto sub = std::move(i->second);
    subs_.erase(i);
    auto& h = *hub_;
    auto& per_thread = h.threads[thread_].subscribers;
    if (auto l = per_thread.find(ch); l != per_thread.end()) {
      auto& list = l->second;
      list.erase(std::remove_if(list.begin(), list.end(),
                                [this](const std::shared_ptr<ws_session>& s) {
                                  return s.get() == this;
                                }),
                 list.end());
      if (list.empty())
        per_thread.erase(l);
    }
    std::lock_guard<std::mutex> g{h.mtx};
    auto e = h.channels.find(ch);
    if (e == h.channels.end())
      return;
    bool left = false;
    if (sub.presence) {
      auto m = e->second.members.find(sub.user_id);
      if (m != e->second.members.end() && --m->second.connections == 0) {
        e->second.members.erase(m);
        left = true;
      }
    }
    if (--e->second.subscriptions == 0)
      h.channels.erase(e);
    if (left) {
      auto gen = ++h.presence_gen;
      json::object m;
      m["user_id"] = sub.user_id;
      h.fan_out(
          ch,
          make_frame("pusher_internal:member_removed", ch, json::serialize(m)),
          socket_id_, gen);
    }
  }

  void client_event(const json::object& msg, std::string_view name) {
    auto& h = *hub_;
    if (!h.opts.client_events) {
      send(error_frame(codes::rate_limited,
                       "Client events are not enabled on this server"));
      return;
    }
    auto* ch_v
        = msg.contains("channel") ? msg.at("channel").if_string() : nullptr;
    if (ch_v == nullptr || name.size() > 200) {
      send(error_frame(codes::invalid_message,
                       "A client event needs a channel and a name of at most "
                       "200 characters"));
      return;
    }
    std::string ch{*ch_v};
    auto s = subs_.find(ch);
    if (s == subs_.end() || !s->second.authorized) {
      send(error_frame(codes::unauthorized,
                       "Client events need a subscription to the private or "
                       "presence channel "
                           + ch));
      return;
    }
    auto now = clock_type::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      window_events_ = 0;
    }
    if (window_events_ >= h.opts.client_events_per_s) {
      send(error_frame(codes::rate_limited,
                       "Client event rejected due to rate limit"));
      return;
    }
    ++window_events_;
    json::object out;
    out["event"] = name;
    out["channel"] = ch;
    if (auto d = msg.find("data"); d != msg.end())
      out["data"] = d->value();
    if (s->second.presence)
      out["user_id"] = s->second.user_id;
    auto frame = encode(json::serialize(out));
    std::lock_guard<std::mutex> g{h.mtx};
    h.fan_out(ch, frame, socket_id_, 0);
  }

  /// Writes the queued frames (up to 64 at once, gathered) to the socket.
  /// The frames are framed already, so they go past the WebSocket stream,
  /// which only writes the handshake and the close. (Beast answers a
  /// client's WebSocket ping by itself; browsers and pusher-js ping with
  /// pusher:ping, and a frame only waits here when the socket was full.)
  void write_next() {
    writing_ = true;
    if (offset_ == 0 && ws_.next_layer().stream_writing()) {
      // A pong or the close is being written: after it.
      ws_.next_layer().when_idle([self = shared_from_this()] {
        self->write_next();
      });
      return;
    }
    ws_.next_layer().frame_open(true);
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(std::min<std::size_t>(out_.size(), 64));
    for (auto i = out_.begin(); i != out_.end() && bufs.size() < 64; ++i)
      bufs.push_back(asio::buffer(**i) + (bufs.empty() ? offset_ : 0));
    in_flight_ = bufs.size();
    // The frames stay in out_ until written; the handler owns the session.
    sock().async_write_some(
        bufs,
        [self = shared_from_this()](beast::error_code ec, std::size_t written) {
          self->on_write(ec, written);
        });
  }

  void on_write(beast::error_code ec, std::size_t written) {
    writing_ = false;
    if (ec) {
      out_.clear();
      offset_ = 0;
      teardown();
      ws_.next_layer().frame_open(false); // a parked write fails, too
      return;
    }
    // Drop what went whole; remember how far the first one got.
    written += offset_;
    offset_ = 0;
    while (!out_.empty() && written >= out_.front()->size()) {
      written -= out_.front()->size();
      out_.pop_front();
    }
    offset_ = written;
    // At a frame boundary a parked pong or close goes first.
    ws_.next_layer().frame_open(offset_ > 0);
    if (!out_.empty()) {
      write_next();
      return;
    }
    if (close_reason_ && !close_sent_)
      send_close();
  }

  /// Stops taking frames and closes with `code` once the queue is written.
  void close_with(std::uint16_t code, std::string_view reason) {
    if (close_reason_)
      return;
    closing_ = true;
    websocket::close_reason r;
    r.code = code;
    auto text = reason.substr(0, 120);
    r.reason.assign(text.data(), text.size());
    close_reason_ = r;
    kill_at_ = clock_type::now() + std::chrono::seconds(5);
    if (!writing_ && out_.empty())
      send_close();
  }

  void send_close() {
    close_sent_ = true;
    ws_.async_close(*close_reason_,
                    [self = shared_from_this()](beast::error_code) {
                      // The pending read sees the end and cleans up.
                    });
  }

  void teardown() {
    beast::error_code ignored;
    sock().shutdown(tcp::socket::shutdown_both, ignored);
    sock().close(ignored);
  }

  /// Once, when the connection is gone: leaves every channel.
  void cleanup() {
    if (gone_)
      return;
    gone_ = true;
    closing_ = true;
    while (!subs_.empty()) {
      auto ch = subs_.begin()->first; // a copy: unsubscribe erases the key
      unsubscribe(ch);
    }
    if (counted_)
      uncount();
    teardown();
  }

  websocket::stream<frame_socket> ws_;
  beast::http::request<beast::http::string_body> req_; ///< The upgrade.
  std::shared_ptr<hub> hub_;
  std::size_t thread_;
  std::string socket_id_;
  std::string origin_;
  beast::flat_buffer in_;
  std::deque<frame_ptr> out_;
  std::size_t offset_ = 0;    ///< Bytes of out_.front() written already.
  std::size_t in_flight_ = 0; ///< Frames of out_ the pending write holds.
  std::map<std::string, subscription> subs_;
  std::optional<websocket::close_reason> close_reason_;
  clock_type::time_point last_seen_;
  clock_type::time_point pinged_at_;
  clock_type::time_point kill_at_ = clock_type::time_point::max();
  clock_type::time_point window_start_;
  std::uint32_t window_events_ = 0;
  bool established_ = false;
  bool pinged_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool counted_ = false;
  bool gone_ = false;
};

} // namespace

void broadcaster::hub::fan_out(const std::string& channel, frame_ptr frame,
                               std::string except, std::uint64_t presence_gen) {
  // Under mtx.
  if (stopped)
    return;
  ++published;
  auto self = shared_from_this();
  post_all([self, channel, frame, except, presence_gen](std::size_t i) {
    self->deliver(i, channel, frame, except, presence_gen);
  });
}

void broadcaster::hub::deliver(std::size_t i, const std::string& channel,
                               const frame_ptr& frame,
                               const std::string& except,
                               std::uint64_t presence_gen) {
  auto& subs = threads[i].subscribers;
  auto l = subs.find(channel);
  if (l == subs.end())
    return;
  for (const auto& s : l->second) {
    if (!except.empty() && s->socket_id() == except)
      continue;
    if (presence_gen != 0 && s->presence_gen(channel) >= presence_gen)
      continue;
    s->send(frame);
  }
}

void broadcaster::hub::sweep(std::size_t i) {
  auto& t = *threads[i].sweeper;
  t.expires_after(sweep_interval());
  t.async_wait([weak = weak_from_this(), i](beast::error_code ec) {
    auto self = ec ? nullptr : weak.lock();
    if (!self)
      return;
    auto now = clock_type::now();
    auto& list = self->threads[i].sessions;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [now](const std::weak_ptr<ws_session>& w) {
                                auto s = w.lock();
                                return !s || !s->sweep(now);
                              }),
               list.end());
    self->sweep(i);
  });
}

// -- broadcaster --------------------------------------------------------------

broadcaster::broadcaster(broadcast_options opts, std::size_t threads)
    : hub_(std::make_shared<hub>(std::move(opts), threads)) {}

broadcaster::~broadcaster() {
  stop();
}

const broadcast_options& broadcaster::options() const noexcept {
  return hub_->opts;
}

void broadcaster::accept(upgrade&& u) {
  auto thread = std::min(u.thread, hub_->threads.size() - 1);
  auto s = std::make_shared<ws_session>(std::move(u.socket), hub_, thread);
  s->start(std::move(u));
}

void broadcaster::publish_committed(const std::vector<envelope>& events) {
  for (const auto& ev : events) {
    const auto* info = find_event_type(ev.type);
    if (info == nullptr || info->broadcast_as.empty())
      continue;
    auto ch = broadcast_channel(*info, ev.company_id);
    if (!ch.empty())
      publish(ch, info->broadcast_as, ev.data);
  }
}

bool broadcaster::publish(std::string_view channel, std::string_view name,
                          std::string_view data,
                          std::string_view except_socket) {
  std::string ch{channel};
  {
    std::lock_guard<std::mutex> g{hub_->mtx};
    if (hub_->stopped || hub_->channels.count(ch) == 0)
      return false;
  }
  // Serialized once, outside the lock, for every subscriber.
  auto frame = make_frame(name, ch, data);
  std::lock_guard<std::mutex> g{hub_->mtx};
  hub_->fan_out(ch, std::move(frame), std::string{except_socket}, 0);
  return true;
}

std::string broadcaster::channel_auth(std::string_view socket_id,
                                      std::string_view channel,
                                      std::string_view channel_data) const {
  std::string text{socket_id};
  text += ':';
  text += channel;
  if (!channel_data.empty()) {
    text += ':';
    text += channel_data;
  }
  return hub_->opts.key + ":" + sign(text);
}

std::string broadcaster::sign(std::string_view text) const {
  return hmac_sha256_hex(hub_->opts.secret, std::string{text});
}

std::vector<channel_summary>
broadcaster::channels(std::string_view prefix) const {
  std::vector<channel_summary> out;
  {
    std::lock_guard<std::mutex> g{hub_->mtx};
    for (const auto& [name, e] : hub_->channels)
      if (name.rfind(prefix, 0) == 0)
        out.push_back({name, e.subscriptions, e.members.size()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.name < b.name;
  });
  return out;
}

std::optional<channel_summary>
broadcaster::channel(std::string_view name) const {
  std::lock_guard<std::mutex> g{hub_->mtx};
  auto i = hub_->channels.find(std::string{name});
  if (i == hub_->channels.end())
    return std::nullopt;
  return channel_summary{i->first, i->second.subscriptions,
                         i->second.members.size()};
}

std::vector<std::string> broadcaster::users(std::string_view name) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> g{hub_->mtx};
  auto i = hub_->channels.find(std::string{name});
  if (i != hub_->channels.end())
    for (const auto& [id, m] : i->second.members)
      out.push_back(id);
  return out;
}

void broadcaster::stop() {
  auto& h = *hub_;
  {
    std::lock_guard<std::mutex> g{h.mtx};
    if (h.stopped)
      return;
    // Every connection closes on its own thread.
    h.post_all([hp = hub_](std::size_t i) {
      for (const auto& w : hp->threads[i].sessions)
        if (auto s = w.lock())
          s->fail(codes::reconnect, "Server is shutting down");
    });
    h.stopped = true;
  }
  std::unique_lock<std::mutex> g{h.gone_mtx};
  h.gone_cv.wait_for(g, std::chrono::seconds(2), [&h] {
    return h.connections.load() == 0;
  });
}

void broadcaster::release() {
  for (auto& t : hub_->threads) {
    t.subscribers.clear();
    t.sessions.clear();
    t.sweeper.reset();
  }
}

broadcast_stats broadcaster::stats() const {
  broadcast_stats s;
  s.connections = hub_->connections.load();
  s.accepted = hub_->accepted.load();
  s.refused = hub_->refused.load();
  s.slow_closed = hub_->slow_closed.load();
  s.frames_sent = hub_->frames_sent.load();
  s.published = hub_->published.load();
  return s;
}

} // namespace switchboard::app::http
