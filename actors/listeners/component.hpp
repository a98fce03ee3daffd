#pragma once

// A queued listener as the node runs it: how it registers, which job
// listener names its actor serves, its queue and how its actor is spawned.
// Each listener under actors/listeners/ gives one; seed.cpp lists them,
// and the node walks that list (queued_listeners()).

#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include <actors/listeners.hpp>

namespace switchboard {

struct queued_listener_component {
  /// Registers the listener: its events, queue, delay and retries. The
  /// channel workers register nothing: other listeners enqueue their jobs.
  registration_result (*add)(listener_registry&) = nullptr;
  /// The job listener names its actor serves, read from the registry
  /// once every listener has registered.
  std::vector<std::string> (*served)(const listener_registry&) = nullptr;
  /// The queue its actor runs on.
  const char* queue = "";
  /// Spawns its actor; `external` is the node's endpoint of external
  /// calls (the CRM, the calendar, Cal.com).
  queued_listener_actor (*spawn)(caf::actor_system&, const listener_context&,
                                 const endpoint_actor& external)
      = nullptr;
};

/// The `spawn` of a listener whose actor needs only the context.
template <auto Actor>
queued_listener_actor spawn_with_context(caf::actor_system& sys,
                                         const listener_context& ctx,
                                         const endpoint_actor&) {
  return sys.spawn(Actor, ctx);
}

} // namespace switchboard
