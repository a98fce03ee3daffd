#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <messages/registry.hpp>

namespace switchboard {

/// When a queued listener's failed attempt is tried again. Laravel's
/// meaning: `tries` counts attempts; `backoff_s[i]` is the wait before
/// attempt i + 2, and the last value repeats. With `exponential` set the
/// wait before attempt n + 1 is `base_s * 2^(n-1)`, capped at `cap_s`,
/// with full jitter (uniform in [0, that]) when `jitter` is set.
struct retry_policy {
  std::uint32_t tries = 1;
  std::vector<std::uint32_t> backoff_s;
  /// Milliseconds; when not empty it replaces `backoff_s` (config.ini's
  /// `[listener.NAME] backoff_ms`).
  std::vector<std::uint32_t> backoff_ms;
  bool exponential = false;
  std::uint32_t base_s = 1;
  std::uint32_t cap_s = 3600;
  bool jitter = false;
  /// Per attempt; an attempt that takes longer counts as failed.
  std::chrono::milliseconds timeout{60000};
  /// Seconds after the job's creation past which it is not retried
  /// (Laravel's retryUntil); 0 = no deadline.
  std::uint32_t retry_until_s = 0;
  /// Most error answers before the job fails even with tries left
  /// (Laravel's maxExceptions); 0 = no limit.
  std::uint32_t max_exceptions = 0;
};

/// Milliseconds to wait after attempt `attempts_done` (1-based) failed.
/// `random_unit` in [0, 1) draws the jitter.
std::int64_t retry_delay_ms(const retry_policy& p, std::uint32_t attempts_done,
                            double random_unit = 1.0);

/// A listener that runs while the dispatcher waits.
struct sync_listener_spec {
  std::string name;
  int order = 0; ///< Lower runs first.
  std::chrono::milliseconds timeout{1000};
};

/// A listener whose work goes through a durable queue.
struct queued_listener_spec {
  std::string name;
  std::string queue = "default";
  std::uint32_t delay_s = 0; ///< Laravel's $delay: first attempt after it.
  /// When set, replaces `delay_s` (config.ini's `delay_ms`).
  std::optional<std::uint32_t> delay_ms;
  retry_policy retry;

  /// The delay before the first attempt, in milliseconds.
  std::int64_t first_delay_ms() const {
    return delay_ms ? std::int64_t{*delay_ms} : std::int64_t{delay_s} * 1000;
  }
};

/// What config.ini's `[listener.NAME]` changes of a queued listener; each
/// unset field keeps the listener's own value.
struct listener_override {
  std::optional<std::uint32_t> tries;
  std::optional<std::vector<std::uint32_t>> backoff_ms;
  std::optional<std::uint32_t> delay_ms;
  std::optional<std::uint32_t> timeout_ms;
};

/// A subscriber registers several handlers at once (the seed's
/// AppointmentEventSubscriber): one queued listener per event type, all
/// named `<subscriber>@<event type>` and sharing one queue and policy.
struct subscriber_spec {
  std::string name;
  std::string queue = "default";
  retry_policy retry;
  std::vector<std::string> event_types;
};

/// Which listeners each event type has. Built at start, then read-only and
/// shared by the dispatcher and the queue supervisors.
class listener_registry {
public:
  /// Registers a synchronous listener for `event_type` (a wire name).
  /// Returns false when the type is not a registered event type.
  bool listen_sync(std::string_view event_type, sync_listener_spec spec);

  /// Registers a queued listener for `event_type`.
  bool listen_queued(std::string_view event_type, queued_listener_spec spec);

  /// Registers every handler of a subscriber.
  bool subscribe(const subscriber_spec& sub);

  /// Applies `o` to the queued listener `name` (for every event type it
  /// handles), or to every handler of the subscriber `name`. Returns false
  /// when no queued listener or subscriber has that name.
  [[nodiscard]] bool override_queued(std::string_view name,
                                     const listener_override& o);

  /// The sync listeners of `event_type`, in their order.
  const std::vector<sync_listener_spec>&
  sync_for(std::string_view event_type) const;

  /// The queued listeners of `event_type`.
  const std::vector<queued_listener_spec>&
  queued_for(std::string_view event_type) const;

  /// The queued listener named `name`, or nullptr.
  const queued_listener_spec* find_queued(std::string_view name) const;

  /// The seed's assertListening: does `listener` listen to `event_type`
  /// (sync, queued, or as a subscriber)?
  bool is_listening(std::string_view event_type,
                    std::string_view listener) const;

  template <class E>
  bool is_listening(std::string_view listener) const {
    return is_listening(event_traits<E>::wire_name, listener);
  }

  /// Every queue some listener uses.
  std::vector<std::string> queues() const;

  /// Every queued listener name (subscriber handlers included).
  std::vector<std::string> queued_listener_names() const;

private:
  std::map<std::string, std::vector<sync_listener_spec>, std::less<>> sync_;
  std::map<std::string, std::vector<queued_listener_spec>, std::less<>> queued_;
  std::map<std::string, std::vector<std::string>, std::less<>> subscribers_;
};

} // namespace switchboard
