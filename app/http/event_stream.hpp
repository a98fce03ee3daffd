#pragma once

// The dashboard's live feed: committed events as server-sent events
// (GET /admin/events/stream, text/event-stream). Each stream belongs to
// one company (or, for an admin, to all), and its events are those the
// node commits after it opens; `id:` is the event's sequence, so a client
// that reconnects with `Last-Event-ID` is first sent what it missed, read
// from the store.
//
// A stream lives on the server thread whose connection it took over. A
// commit serializes each event once, shared by every stream that may see
// it, and queues it to each; a stream whose queue passes its bound is
// closed rather than waited for (the client reconnects and resumes from
// the store). Comments (": heartbeat") go out when a stream has been
// quiet for a while, so that proxies and the client see it alive.
//
// In a cluster a member's log holds the events of the companies it owns;
// the events other members commit are relayed here (app/http/cluster.hpp)
// and queued too. A company's stream takes them with their `id:` (the
// owner's sequence: a resume is read from the owner); a stream of every
// company takes them without one, since its `id:` is a sequence of this
// member's log (its resume reads this member's events only).
//
// Free of Beast and CAF (app/http/upgrade.hpp carries the socket in).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <app/http/fwd.hpp>
#include <messages/envelope.hpp>

namespace switchboard::app::http {

/// Settings of the event streams ([http] event_stream_* in config.ini).
struct event_stream_options {
  /// A comment is sent after this long without a frame.
  std::chrono::milliseconds heartbeat{15000};
  /// Frames a stream may have queued; past it the stream is closed.
  std::size_t max_frames = 1000;
  /// Streams one company may have open (an admin's count as one company).
  std::size_t per_company = 16;
  /// Streams open at most, all companies together.
  std::size_t max_streams = 1024;
};

/// Reads the [http] event_stream_* options.
event_stream_options event_stream_options_from(const config& cfg);

/// Counters of the streams.
struct event_stream_stats {
  std::uint64_t open = 0;        ///< Streams open now (or opening).
  std::uint64_t accepted = 0;    ///< Streams opened.
  std::uint64_t refused = 0;     ///< Over a limit.
  std::uint64_t slow_closed = 0; ///< Closed with a full queue.
  std::uint64_t frames_sent = 0; ///< Event frames queued to streams.
};

/// The streams of the gateway. Thread-safe.
class event_streams {
public:
  /// One stream, opened but not yet given its connection.
  struct stream;

  explicit event_streams(event_stream_options opts);
  ~event_streams();
  event_streams(const event_streams&) = delete;
  event_streams& operator=(const event_streams&) = delete;

  const event_stream_options& options() const noexcept;

  /// Why `open` refused.
  enum class refusal { none, company_full, full, stopped };

  /// Opens a stream of `company`'s events ("" : every company's) that
  /// sends events of sequences above `after` only. From now on it queues
  /// what is committed; it goes when the returned pointer is dropped
  /// without `attach`. Null when refused (`why` says for what).
  std::shared_ptr<stream> open(const std::string& company, std::uint64_t after,
                               refusal& why);

  /// Gives `s` its connection (on the connection's thread), whose answer
  /// header has gone out with the events up to `sent` in its body: the
  /// queued events above `sent` follow, then the live ones.
  void attach(const std::shared_ptr<stream>& s, upgrade&& u,
              std::uint64_t sent);

  /// Queues the events of one commit to the streams that may see them.
  /// Never blocks on a connection.
  void publish_committed(const std::vector<envelope>& events);

  /// Queues events another member of the cluster committed (of the
  /// companies it owns): to the streams of their company with their id,
  /// to the streams of every company without one. Never blocks.
  void publish_relayed(const std::vector<envelope>& events);

  /// Closes every stream and opens none afterwards. Call before the
  /// server stops; idempotent.
  void stop();

  /// Drops what is kept of the streams (after the server's threads are
  /// joined).
  void release();

  event_stream_stats stats() const;

  struct hub;

private:
  std::shared_ptr<hub> hub_;
};

/// The frame of one event: `id: <sequence>` (unless `with_id` is false)
/// and `data: <CloudEvent JSON>`.
std::string event_frame(const envelope& e, bool with_id = true);

/// The header field of a stream's catch-up that one member asks of the
/// member owning the company (its value: the company). The member asking
/// has authenticated the client; the owner honours the field only on a
/// request forwarded by a member, and members never pass a client's on.
inline constexpr std::string_view stream_company_header
    = "x-switchboard-stream-company";

/// The owner's answer to that catch-up: the last sequence sent, and "1"
/// when more events wait than one answer takes.
inline constexpr std::string_view stream_sent_header
    = "x-switchboard-stream-sent";
inline constexpr std::string_view stream_more_header
    = "x-switchboard-stream-more";

/// The first lines of every stream: a comment and the client's reconnect
/// delay (`retry:`).
std::string_view event_stream_prelude();

} // namespace switchboard::app::http
