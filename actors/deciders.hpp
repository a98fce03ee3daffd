#pragma once

// What the customer, staff and service aggregates decide: plain functions
// from a state and a command to the events to store. The entity actor
// (actors/entity_actor.hpp) runs them; tests call them directly.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <actors/aggregate_state.hpp>
#include <actors/errors.hpp>
#include <messages/commands.hpp>
#include <messages/envelope.hpp>
#include <messages/events.hpp>
#include <messages/expected.hpp>

namespace switchboard::store {
class event_store;
} // namespace switchboard::store

namespace switchboard {

/// The errors commands answer with, as runtime errors.
namespace command_errors {

/// `WHAT not found` (not_found).
caf::error not_found(const std::string& what);

/// A state conflict, e.g. a slot already taken (conflict).
caf::error conflict(const std::string& what);

/// A create's answer when the company uses the id already (ids are per
/// company: another company's equal id is another stream).
caf::error taken(const std::string& type, const std::string& id);

/// `FIELD: WHAT` (invalid_argument).
caf::error invalid(const std::string& field, const std::string& what);

} // namespace command_errors

/// `s` as a JSON string literal (the form of values in a change set).
std::string quoted(const std::string& s);

/// Records a change of `field` when the value differs.
template <class T>
void track(change_set& changes, const char* field, const T& before,
           const T& after) {
  if (before == after)
    return;
  auto text = [](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, std::string>)
      return quoted(v);
    else if constexpr (std::is_same_v<V, bool>)
      return std::string{v ? "true" : "false"};
    else
      return std::to_string(v);
  };
  changes[field] = change{text(before), text(after)};
}

/// Events a command decides, ready to dispatch.
struct decision {
  std::vector<envelope> events;
  /// Versions expected of the further streams `events` write to, in
  /// order (see dispatch_request::linked_versions).
  std::vector<std::uint64_t> linked_versions;
  aggregate_state after; ///< The state the events lead to.
};

/// What a decider reads besides the state and the command.
struct decide_context {
  /// The time of the decision (the events' `occurred_at`).
  timestamp_ms now = 0;
  /// The event store, for commands that read another stream (a merge
  /// reads the customer merged away).
  const store::event_store* events = nullptr;
};

/// Decides a command against the state of its aggregate.
using decide_fn = expected<decision, caf::error> (*)(const aggregate_state&,
                                                     const aggregate_command&,
                                                     const decide_context&);

/// Customer commands: create, update, merge (merged_id).
expected<decision, caf::error> decide_customer(const aggregate_state& st,
                                               const aggregate_command& cmd,
                                               const decide_context& ctx);

/// Staff commands: create, update, set_working_hours.
expected<decision, caf::error> decide_staff(const aggregate_state& st,
                                            const aggregate_command& cmd,
                                            const decide_context& ctx);

/// Service commands: create, update.
expected<decision, caf::error> decide_service(const aggregate_state& st,
                                              const aggregate_command& cmd,
                                              const decide_context& ctx);

/// The decider of an entity aggregate type (customer, staff, service), or
/// nullptr for any other type.
decide_fn decider_for(std::string_view aggregate_type);

} // namespace switchboard
