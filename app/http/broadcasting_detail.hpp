#pragma once

// What the broadcasting sources share (app/http/broadcasting.cpp: the
// options, the frames and the broadcaster; app/http/broadcast_session.cpp:
// the WebSocket connections): Pusher's codes, the frames, and the hub the
// connections of every server thread meet in. Not for other parts: they
// include app/http/broadcasting.hpp.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <app/http/broadcasting.hpp>
#include <app/http/listener.hpp>

namespace switchboard::app::http {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace broadcasting_detail {

class ws_session;

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
frame_ptr encode(std::string_view payload);

/// `{"event":..,"channel":..,"data":..}` with `data` a JSON string, as
/// text.
std::string frame_payload(std::string_view event, std::string_view channel,
                          std::string_view data);

/// `{"event":..,"channel":..,"data":..}` with `data` a JSON string.
frame_ptr make_frame(std::string_view event, std::string_view channel,
                     std::string_view data);

/// A `pusher:error` frame.
frame_ptr error_frame(std::uint16_t code, std::string_view message);

/// The `auth` of a private or presence subscription: the key, ':' and the
/// hex HMAC-SHA256 under the secret of "socket_id:channel", with
/// ":channel_data" when that is not empty.
std::string channel_auth(const broadcast_options& opts,
                         std::string_view socket_id, std::string_view channel,
                         std::string_view channel_data);

} // namespace broadcasting_detail

// -- the hub ------------------------------------------------------------------

struct broadcaster::hub : std::enable_shared_from_this<broadcaster::hub> {
  using frame_ptr = broadcasting_detail::frame_ptr;
  using ws_session = broadcasting_detail::ws_session;

  /// A user of a presence channel, with the connections it has there
  /// and the other members it is connected to (cluster).
  struct member {
    std::size_t connections = 0;
    std::string info; ///< JSON text of its user_info ("null": none).
    std::set<std::string> nodes;
    bool present() const noexcept {
      return connections > 0 || !nodes.empty();
    }
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

  /// Announces that `user` joined (`added`) or left `channel` to the
  /// subscribers older than the change (under `mtx`).
  void announce_member(const std::string& channel, const std::string& user,
                       const std::string& info, bool added,
                       const std::string& except);

  /// Drops `channel`'s entry when nobody subscribes here and no member
  /// is present anywhere (under `mtx`).
  void drop_if_empty(const std::string& channel);

  /// Calls the cluster's presence hook (not under `mtx`).
  void presence_changed();

  /// Hands a frame published here to the cluster's relay (not under
  /// `mtx`).
  void relay(const std::string& channel, const std::string& payload,
             const std::string& except);

  /// Sends `payload` (a Pusher message, JSON text) to the subscribers of
  /// `channel` here; false when there are none.
  bool publish_payload(const std::string& channel, const std::string& payload,
                       const std::string& except);

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
  /// Other members' presence members: member → (channel, user id).
  std::map<std::string, std::set<std::pair<std::string, std::string>>> remote;
  broadcaster::cluster_hooks hooks;
  bool stopped = false;
  std::mt19937_64 rng;

  listener_counters counters;
  std::atomic<std::uint64_t> slow_closed{0};
  std::atomic<std::uint64_t> frames_sent{0};
  std::atomic<std::uint64_t> published{0};
  std::mutex gone_mtx; // with gone_cv: connections reached 0
  std::condition_variable gone_cv;
};

} // namespace switchboard::app::http
