#pragma once

#include <actors/aggregates.hpp>
#include <actors/deciders.hpp>
#include <actors/idle_watch.hpp>
#include <actors/interfaces.hpp>

namespace switchboard {

struct entity_state {
  aggregate_state st;
  aggregate_deps deps;
  idle_watch idle;
  static inline const char* name = "aggregate";
};

/// The actor of one customer, staff member or service: decides each
/// command with `decide` against its state, dispatches the events, and
/// answers with the state they lead to. Stops when idle.
aggregate_actor::behavior_type
entity_actor(aggregate_actor::stateful_pointer<entity_state> self,
             aggregate_state initial, aggregate_deps deps, decide_fn decide);

} // namespace switchboard
