#pragma once

#include <messages/decode_error.hpp>
#include <messages/events.hpp>
#include <messages/expected.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

/// The event type registry: every event type is listed once, here.
///
/// Adding an event type: define its struct and its field list
/// (messages/fields.hpp) in messages/events.hpp, and one line below. Codecs,
/// `inspect`, `==`, the CAF type-ID block, the tests and every caller that
/// walks the registry pick it up (docs/how-to-add-an-event-type.md).

/// Lists every event type as X(cpp_type, wire_name, aggregate_type, audited,
/// broadcast_as, channel_prefix):
/// - wire_name: dotted, past tense; the envelope's `type`.
/// - aggregate_type: the stream the event belongs to.
/// - audited: whether the AuditLogger records it (the seed's ShouldAudit).
/// - broadcast_as: the Pusher event name (the seed's broadcastAs); "" when
///   the event is not broadcast.
/// - channel_prefix: "company" means the private channel company.<company_id>
///   (Pusher name "private-company.<company_id>"); "" when not broadcast.
// clang-format off
#define SWITCHBOARD_EVENT_TYPES(X)                                             \
  X(appointment_created, "appointment.created", "appointment", true,          \
    "appointment.created", "company")                                          \
  X(appointment_updated, "appointment.updated", "appointment", true,          \
    "appointment.updated", "company")                                          \
  X(appointment_cancelled, "appointment.cancelled", "appointment", true,      \
    "appointment.cancelled", "company")                                        \
  X(appointment_completed, "appointment.completed", "appointment", true,      \
    "appointment.completed", "company")                                        \
  X(customer_created, "customer.created", "customer", true,                   \
    "customer.created", "company")                                             \
  X(customer_updated, "customer.updated", "customer", true,                   \
    "customer.updated", "company")                                             \
  X(customer_merged, "customer.merged", "customer", true,                     \
    "customer.merged", "company")                                              \
  X(staff_updated, "staff.updated", "staff", true,                            \
    "staff.updated", "company")                                                \
  X(service_updated, "service.updated", "service", true,                      \
    "service.updated", "company")                                              \
  X(call_completed, "call.completed", "call", true,                           \
    "call.completed", "company")                                               \
  X(call_started, "call.started", "call", false, "call.started", "company")   \
  X(call_connected, "call.connected", "call", false, "", "")                  \
  X(call_ended, "call.ended", "call", false, "call.ended", "company")         \
  X(call_analyzed, "call.analyzed", "call", false, "", "")                    \
  X(appointment_requested, "appointment.requested", "call", false, "", "")    \
  X(appointment_failed, "appointment.failed", "call", true,                   \
    "appointment.failed", "company")                                           \
  X(follow_up_scheduled, "follow_up.scheduled", "call", true,                 \
    "follow_up.scheduled", "company")                                          \
  X(notification_sent, "notification.sent", "notification", false, "", "")   \
  X(call_information_only, "call.information_only", "call", false, "", "")
// clang-format on

/// Lists the message types that are not events (entities, parts of events,
/// the envelope) as X(cpp_type). The JSON codecs and the CAF type-ID block
/// cover these too.
#define SWITCHBOARD_VALUE_TYPES(X)                                             \
  X(company)                                                                   \
  X(branch)                                                                    \
  X(work_interval)                                                             \
  X(staff)                                                                     \
  X(service)                                                                   \
  X(customer)                                                                  \
  X(appointment)                                                               \
  X(call)                                                                      \
  X(change)                                                                    \
  X(appointment_request)                                                       \
  X(call_analysis)                                                             \
  X(event_metadata)                                                            \
  X(envelope)                                                                  \
  X(decode_error)

namespace switchboard {

/// Runtime description of one event type.
struct event_type_info {
  std::string_view wire_name;      ///< e.g. "appointment.created".
  std::string_view cpp_name;       ///< e.g. "appointment_created".
  std::string_view aggregate_type; ///< e.g. "appointment".
  bool audited;
  std::string_view broadcast_as;   ///< "" when not broadcast.
  std::string_view channel_prefix; ///< "" when not broadcast.
  std::size_t index;               ///< Position in SWITCHBOARD_EVENT_TYPES.
  /// Decodes `data` (the JSON text of an envelope's payload) as this event
  /// type, discarding the result: checks that a payload is well-formed.
  expected<void, decode_error> (*validate)(std::string_view data);
};

/// Returns the event type with this wire name, or nullptr.
const event_type_info* find_event_type(std::string_view wire_name) noexcept;

/// Returns the event type of a PHP event class of the seed (Laravel's
/// `get_class($event)`, e.g. "App\Events\AppointmentCreated" or just
/// "AppointmentCreated"), by its short name in snake case
/// ("appointment_created"), or nullptr.
const event_type_info* find_event_type_by_class(std::string_view php_class);

/// Returns every event type, in registry order.
const std::vector<event_type_info>& all_event_types() noexcept;

/// Returns the Pusher channel an event of type `info` is broadcast on for a
/// company, e.g. "private-company.42" (Laravel's PrivateChannel("company.42")),
/// or "" when the type is not broadcast.
std::string broadcast_channel(const event_type_info& info,
                              std::string_view company_id);

/// Compile-time facts about event type `E` (specialised for each registered
/// event; undefined for anything else).
template <class E>
struct event_traits;

/// True for registered event types.
template <class E, class = void>
struct is_event : std::false_type {};

template <class E>
struct is_event<E, std::void_t<decltype(event_traits<E>::wire_name)>>
    : std::true_type {};

template <class E>
inline constexpr bool is_event_v = is_event<E>::value;

#define SWITCHBOARD_COUNT_EVENT(...) +1
/// Number of registered event types.
inline constexpr std::size_t event_type_count
    = 0 SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_COUNT_EVENT);
#undef SWITCHBOARD_COUNT_EVENT

namespace detail {

/// Registry position of each event type, by declaration order.
enum class event_index : std::size_t {
#define SWITCHBOARD_EVENT_INDEX(type, ...) type,
  SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_EVENT_INDEX)
#undef SWITCHBOARD_EVENT_INDEX
};

} // namespace detail

#define SWITCHBOARD_EVENT_TRAITS(type, wire, aggregate, audit, broadcast,      \
                                 channel)                                      \
  template <>                                                                  \
  struct event_traits<type> {                                                  \
    static constexpr std::string_view wire_name = wire;                        \
    static constexpr std::string_view cpp_name = #type;                        \
    static constexpr std::string_view aggregate_type = aggregate;              \
    static constexpr bool audited = audit;                                     \
    static constexpr std::string_view broadcast_as = broadcast;                \
    static constexpr std::string_view channel_prefix = channel;                \
    static constexpr std::size_t index                                         \
        = static_cast<std::size_t>(detail::event_index::type);                 \
  };
SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_EVENT_TRAITS)
#undef SWITCHBOARD_EVENT_TRAITS

/// A value standing for the type `T` (for generic lambdas).
template <class T>
struct type_tag {
  using type = T;
};

/// Calls `f(type_tag<E>{})` for every registered event type `E`, in
/// registry order.
template <class F>
void for_each_event_type(F&& f) {
#define SWITCHBOARD_VISIT_EVENT(type, ...) f(type_tag<type>{});
  SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_VISIT_EVENT)
#undef SWITCHBOARD_VISIT_EVENT
}

/// Calls `f(type_tag<T>{})` for every registered non-event message type.
template <class F>
void for_each_value_type(F&& f) {
#define SWITCHBOARD_VISIT_VALUE(type) f(type_tag<type>{});
  SWITCHBOARD_VALUE_TYPES(SWITCHBOARD_VISIT_VALUE)
#undef SWITCHBOARD_VISIT_VALUE
}

} // namespace switchboard
