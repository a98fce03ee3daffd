#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <messages/expected.hpp>
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
  /// A catch-up listener (actors/listeners/catch_up.hpp): it reads the
  /// log after its checkpoint, a batch at a time, instead of getting a
  /// job per event; the dispatcher enqueues nothing for it. Only an event
  /// whose effect fails becomes a job (its tries, backoff and failed()).
  bool catch_up = false;
  /// A catch-up listener's wait before it reads again after a read that
  /// did not fill a batch, busy or idle (config.ini's `poll_ms`); unset:
  /// its reader's own (catch_up_deps).
  std::optional<std::uint32_t> poll_ms;

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
  std::optional<std::uint32_t> poll_ms;
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

/// Why a listener registration was refused.
enum class registration_errc : std::uint8_t {
  none = 0,
  /// The event type is no registered event type (messages/registry.hpp).
  unknown_event_type,
  /// The listener's name is empty or longer than the job queue stores.
  invalid_name,
  /// The name already listens to that event type, or a queued listener of
  /// that name already uses another queue.
  duplicate_listener,
  /// The queue's name is empty or too long, or the listener's actor runs
  /// on another queue (checked by the node at start).
  unknown_queue,
  /// The retry policy holds more backoff steps than the job queue stores.
  invalid_policy,
  /// No actor serves a listener of that name (checked by the node at
  /// start).
  unknown_listener,
};

/// The code's name, e.g. "unknown_event_type".
std::string_view to_string(registration_errc code) noexcept;

/// A refused registration: what was refused (the listener and the event
/// type) and why.
struct registration_error {
  registration_errc code = registration_errc::none;
  std::string listener;
  std::string event_type;
  /// Why, in words, e.g. "no event type is named appointment.teleported".
  std::string reason;
};

/// One line for logs: `listener NAME for TYPE refused (CODE): REASON`.
std::string to_string(const registration_error& err);

/// Success, or why a registration was refused.
using registration_result = expected<void, registration_error>;

/// Which listeners each event type has. Built at start, then read-only and
/// shared by the dispatcher and the queue supervisors. Every registration
/// answers whether it was taken; the node refuses to start on a refusal.
class listener_registry {
public:
  /// Registers a synchronous listener for the event type `E` (a struct of
  /// messages/events.hpp).
  template <class E>
  [[nodiscard]] registration_result listen_sync(sync_listener_spec spec) {
    static_assert(is_event<E>::value, "E must be an event of the registry");
    return listen_sync(event_traits<E>::wire_name, std::move(spec));
  }

  /// Registers a queued listener for the event type `E`.
  template <class E>
  [[nodiscard]] registration_result listen_queued(queued_listener_spec spec) {
    static_assert(is_event<E>::value, "E must be an event of the registry");
    return listen_queued(event_traits<E>::wire_name, std::move(spec));
  }

  /// Registers one synchronous listener for each of the event types `Es`;
  /// stops at the first refusal.
  template <class... Es>
  [[nodiscard]] registration_result
  listen_sync_each(const sync_listener_spec& spec) {
    return listen_each<Es...>(&listener_registry::listen_sync, spec);
  }

  /// Registers one queued listener for each of the event types `Es`;
  /// stops at the first refusal.
  template <class... Es>
  [[nodiscard]] registration_result
  listen_queued_each(const queued_listener_spec& spec) {
    return listen_each<Es...>(&listener_registry::listen_queued, spec);
  }

  /// Registers a subscriber whose handlers take the event types `Es`
  /// (they replace `sub.event_types`).
  template <class... Es>
  [[nodiscard]] registration_result subscribe(subscriber_spec sub) {
    static_assert((is_event<Es>::value && ...),
                  "Es must be events of the registry");
    sub.event_types = {std::string{event_traits<Es>::wire_name}...};
    return subscribe(sub);
  }

  /// Registers a synchronous listener for `event_type` (a wire name), for
  /// callers that walk the event table. Refused: unknown_event_type,
  /// invalid_name, duplicate_listener.
  [[nodiscard]] registration_result listen_sync(std::string_view event_type,
                                                sync_listener_spec spec);

  /// Registers a queued listener for `event_type`. Refused:
  /// unknown_event_type, invalid_name, duplicate_listener, unknown_queue,
  /// invalid_policy; a refused listener is not registered at all.
  [[nodiscard]] registration_result listen_queued(std::string_view event_type,
                                                  queued_listener_spec spec);

  /// Registers every handler of a subscriber, or none of them when one is
  /// refused (same refusals as listen_queued).
  [[nodiscard]] registration_result subscribe(const subscriber_spec& sub);

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

  /// Every sync listener name.
  std::vector<std::string> sync_listener_names() const;

private:
  /// Registers `spec` with `listen` for each of the event types `Es`;
  /// stops at the first refusal.
  template <class... Es, class Spec>
  registration_result listen_each(
      registration_result (listener_registry::*listen)(std::string_view, Spec),
      const Spec& spec) {
    static_assert((is_event<Es>::value && ...),
                  "Es must be events of the registry");
    registration_result out;
    static_cast<void>(
        ((out = (this->*listen)(event_traits<Es>::wire_name, spec), bool(out))
         && ...));
    return out;
  }

  /// Refuses `spec` when its name already listens to `event_type`, or
  /// uses another queue for another event type.
  registration_result check_queued_name(std::string_view event_type,
                                        const queued_listener_spec& spec) const;

  /// Refuses the queued listener `spec` for `event_type` when the event
  /// type is unknown, the spec is more than the job queue stores, or its
  /// name is taken (see `check_queued_name`); refusals name `listener`
  /// for the event type (a subscriber's name for its handlers).
  registration_result check_queued_listener(std::string_view event_type,
                                            const queued_listener_spec& spec,
                                            std::string_view listener) const;

  std::map<std::string, std::vector<sync_listener_spec>, std::less<>> sync_;
  std::map<std::string, std::vector<queued_listener_spec>, std::less<>> queued_;
  std::map<std::string, std::vector<std::string>, std::less<>> subscribers_;
};

} // namespace switchboard
