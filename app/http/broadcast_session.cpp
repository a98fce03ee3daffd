// One WebSocket connection speaking the Pusher protocol (`ws_session`):
// the handshake and its checks, subscriptions (private and presence ones
// authorized), client events, pings and the send queue; and the parts of
// the hub and the broadcaster that reach the connections: delivering a
// frame on a thread, the sweep, accepting a connection, and closing all
// at stop. The options and the rest of the broadcaster are in
// app/http/broadcasting.cpp.
#include "app/http/broadcasting_detail.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <deque>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <actors/log.hpp>
#include <app/http/context.hpp>
#include <app/http/frame_socket.hpp>
#include <app/http/upgrade.hpp>
#include <store/hmac.hpp>

namespace switchboard::app::http {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

using namespace broadcasting_detail;

namespace broadcasting_detail {

namespace {

bool is_private(std::string_view ch) {
  return ch.rfind("private-", 0) == 0;
}

bool is_presence(std::string_view ch) {
  return ch.rfind("presence-", 0) == 0;
}

/// The string `key` of the object `o`; null when `o` is null or has no
/// such string.
const json::string* string_at(const json::object* o, std::string_view key) {
  return o != nullptr && o->contains(key) ? o->at(key).if_string() : nullptr;
}

} // namespace

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
      ++h.counters.refused;
      fail(codes::unknown_app,
           "Application does not exist: unknown app key " + std::string{key});
      return;
    }
    if (auto p = query.find("protocol"); p != query.end()) {
      int v = std::atoi(p->second.c_str());
      if (v < 5 || v > 7) {
        ++h.counters.refused;
        fail(codes::unsupported_protocol,
             "Unsupported protocol version " + p->second + " (5 to 7)");
        return;
      }
    }
    if (!http::origin_allowed(h.opts, origin_)) {
      ++h.counters.refused;
      fail(codes::unauthorized, "Origin not allowed: " + origin_);
      return;
    }
    if (h.counters.connections.fetch_add(1) >= h.opts.max_connections) {
      --h.counters.connections;
      ++h.counters.refused;
      fail(codes::over_quota, "Application is over connection quota");
      return;
    }
    counted_ = true;
    ++h.counters.accepted;
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
    if (--hub_->counters.connections == 0) {
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
    const json::string* event = string_at(msg, "event");
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
      auto* ch = string_at(data.if_object(), "channel");
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
    auto* ch_v = string_at(d, "channel");
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
      auto* auth = string_at(d, "auth");
      if (auto* cd = string_at(d, "channel_data"))
        channel_data = std::string{*cd};
      auto expected = channel_auth(h.opts, socket_id_, ch,
                                   sub.presence ? channel_data : "");
      if (auth == nullptr || !store::equal_constant_time(*auth, expected)) {
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
    bool first_here = false; // the user's first connection on this node
    {
      std::lock_guard<std::mutex> g{h.mtx};
      auto& entry = h.channels[ch];
      ++entry.subscriptions;
      if (sub.presence) {
        auto& m = entry.members[sub.user_id];
        bool present = m.present();
        if (m.connections++ == 0) {
          first_here = true;
          if (!present) {
            m.info = user_info;
            joined = true;
            ++h.presence_gen;
          }
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
    if (first_here)
      h.presence_changed();
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
    bool last_here = false; // the user's last connection on this node
    {
      std::lock_guard<std::mutex> g{h.mtx};
      auto e = h.channels.find(ch);
      if (e == h.channels.end())
        return;
      --e->second.subscriptions;
      if (sub.presence) {
        auto m = e->second.members.find(sub.user_id);
        if (m != e->second.members.end() && --m->second.connections == 0) {
          last_here = true;
          // Gone only when no other member has it connected.
          if (!m->second.present()) {
            e->second.members.erase(m);
            h.announce_member(ch, sub.user_id, {}, false, socket_id_);
          }
        }
      }
      h.drop_if_empty(ch);
    }
    if (last_here)
      h.presence_changed();
  }

  void client_event(const json::object& msg, std::string_view name) {
    auto& h = *hub_;
    if (!h.opts.client_events) {
      send(error_frame(codes::rate_limited,
                       "Client events are not enabled on this server"));
      return;
    }
    auto* ch_v = string_at(&msg, "channel");
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
    auto payload = json::serialize(out);
    auto frame = encode(payload);
    {
      std::lock_guard<std::mutex> g{h.mtx};
      h.fan_out(ch, frame, socket_id_, 0);
    }
    // And to its subscribers on the other members of a cluster.
    h.relay(ch, payload, socket_id_);
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

} // namespace broadcasting_detail

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
    sweep_sessions(self->threads[i].sessions, now);
    self->sweep(i);
  });
}

// -- broadcaster: the connections -------------------------------------------

void broadcaster::accept(upgrade&& u) {
  auto thread = std::min(u.thread, hub_->threads.size() - 1);
  auto s = std::make_shared<ws_session>(std::move(u.socket), hub_, thread);
  s->start(std::move(u));
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
    return h.counters.connections.load() == 0;
  });
}

} // namespace switchboard::app::http
