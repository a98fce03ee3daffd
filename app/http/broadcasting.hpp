#pragma once

// Broadcasting: the Pusher Channels protocol (version 7) over WebSocket at
// /app/{key} on the gateway's port and threads, so that Laravel Echo and
// pusher-js connect unchanged. Public, private- and presence- channels;
// private ones are signed by POST /broadcasting/auth. Committed events
// reach the subscribers of their company's channel.
//
// Each connection lives on one server thread, and so does its side of
// every channel (a list of subscribers per thread): a frame is serialized
// once per channel, shared by every subscriber, and handed to each thread
// that has some. Only subscription counts and presence members are shared
// between threads, under one mutex. Each connection has a bounded send
// queue; a slow consumer is closed (4100), never waited for.
//
// Free of Beast and CAF (app/http/upgrade.hpp carries the socket in).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <app/http/fwd.hpp>
#include <messages/envelope.hpp>
#include <messages/expected.hpp>

namespace switchboard::app::http {

/// Settings of broadcasting ([broadcasting] in config.ini).
struct broadcast_options {
  std::string app_id; ///< Empty: broadcasting is off.
  std::string key;
  std::string secret;
  std::chrono::milliseconds activity_timeout{30000};
  std::size_t max_message_bytes = 10000;
  std::size_t max_connections = 10000;
  /// Host patterns allowed as Origin ('*' matches any run); {"*"}: any.
  std::vector<std::string> allowed_origins{"*"};
  bool client_events = true; ///< From subscribers of private/presence.
  std::uint32_t client_events_per_s = 10;
  std::size_t send_queue_frames = 1000;

  bool enabled() const noexcept {
    return !app_id.empty();
  }
};

/// Reads [broadcasting]. Errors: only some of app_id, key and secret set
/// (the text names the missing ones).
expected<broadcast_options, std::string>
broadcast_options_from(const config& cfg);

/// Counters of the broadcaster.
struct broadcast_stats {
  std::uint64_t connections = 0; ///< Open now.
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;     ///< Unknown key, origin, over quota.
  std::uint64_t slow_closed = 0; ///< Closed with a full send queue.
  std::uint64_t frames_sent = 0; ///< Frames queued to connections.
  std::uint64_t published = 0;   ///< Events handed to a channel.
};

/// One channel as the HTTP API reports it.
struct channel_summary {
  std::string name;
  std::size_t subscriptions = 0; ///< Connections subscribed.
  std::size_t users = 0;         ///< Distinct users (presence channels).
};

/// The Pusher protocol server. Thread-safe.
class broadcaster {
public:
  /// `threads`: the number of the HTTP server's threads.
  broadcaster(broadcast_options opts, std::size_t threads);
  ~broadcaster();
  broadcaster(const broadcaster&) = delete;
  broadcaster& operator=(const broadcaster&) = delete;

  const broadcast_options& options() const noexcept;

  /// Takes over a WebSocket upgrade to /app/{key}; on the connection's
  /// server thread.
  void accept(upgrade&& u);

  /// Broadcasts the events of one commit that the registry marks for
  /// broadcasting, each on its company's channel. Never blocks.
  void publish_committed(const std::vector<envelope>& events);

  /// Sends event `name` with `data` (text, passed on as a JSON string) to
  /// the subscribers of `channel`, except the connection `except_socket`.
  /// Returns false when nobody subscribes here (nothing is serialized).
  /// Events sent with the HTTP API also go to the relay (see `relay_to`).
  bool publish(std::string_view channel, std::string_view name,
               std::string_view data, std::string_view except_socket = {});

  /// A cluster's hooks (set before the server takes connections).
  struct cluster_hooks {
    /// This node's presence members changed (called outside any lock).
    std::function<void()> presence_changed;
    /// A frame published here with the HTTP API or by a client, for the
    /// subscribers on other members: channel, Pusher message (JSON text),
    /// the socket it skips.
    std::function<void(const std::string&, const std::string&,
                       const std::string&)>
        relay;
  };
  void set_cluster_hooks(cluster_hooks hooks);

  /// Sends `payload` (a Pusher message, JSON text) from another member to
  /// this node's subscribers of `channel`, except `except_socket`.
  void publish_relayed(const std::string& channel, const std::string& payload,
                       const std::string& except_socket);

  /// The presence members connected to this node: channel, user id and
  /// user info (JSON text), repeated.
  std::vector<std::string> local_presence() const;

  /// Takes `member`'s presence members (triples as `local_presence`
  /// gives), replacing what it had; users that appear or go (counting
  /// every node's connections) are announced to this node's subscribers.
  void set_remote_presence(const std::string& member,
                           const std::vector<std::string>& triples);

  /// The auth of a subscription: "key:" + hex HMAC-SHA256 of
  /// "socket_id:channel" (":channel_data" when not empty) under the secret.
  std::string channel_auth(std::string_view socket_id, std::string_view channel,
                           std::string_view channel_data = {}) const;

  /// Hex HMAC-SHA256 of `text` under the secret.
  std::string sign(std::string_view text) const;

  /// Occupied channels whose name starts with `prefix`, by name.
  std::vector<channel_summary> channels(std::string_view prefix = {}) const;

  /// One channel; empty when nobody subscribes.
  std::optional<channel_summary> channel(std::string_view name) const;

  /// The user ids of a presence channel.
  std::vector<std::string> users(std::string_view name) const;

  /// Closes every connection (4200: reconnect), waits a moment for them
  /// to go, and publishes nothing afterwards. Call before the server
  /// stops; idempotent.
  void stop();

  /// Drops what the threads kept (call once the server's threads are
  /// joined).
  void release();

  broadcast_stats stats() const;

  struct hub;

private:
  std::shared_ptr<hub> hub_;
};

/// True when `origin` (an Origin header, "https://host[:port]") is one of
/// `allowed_origins`; an empty origin only when any is allowed ("*").
bool origin_allowed(const broadcast_options& opts,
                    std::string_view origin) noexcept;

/// True for a Pusher socket id ("123.456").
bool valid_socket_id(std::string_view s) noexcept;

/// True for a Pusher channel name: 1 to 200 of [A-Za-z0-9_-=@,.;].
bool valid_channel_name(std::string_view s) noexcept;

} // namespace switchboard::app::http
