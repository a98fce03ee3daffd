#pragma once

// A queued listener as the node runs it: its spec (name, queue, delay,
// retries), the events it registers for, which job listener names its
// actor serves and how its actor is spawned. Each listener under
// actors/listeners/ gives one; seed.cpp lists them, and the node walks
// that list (queued_listeners()).

#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>

#include <actors/listener_registry.hpp>
#include <actors/listeners/context.hpp>
#include <actors/local_only.hpp>

namespace switchboard {

struct queued_listener_component {
  /// Its name, queue, first delay and retries; a subscriber's handlers
  /// share them.
  queued_listener_spec spec;
  /// Registers `spec` for the listener's events (listens_to,
  /// subscribes_to); null for a listener that registers for no event
  /// (the channel workers: other listeners enqueue their jobs).
  registration_result (*add)(listener_registry&, const queued_listener_spec&)
      = nullptr;
  /// The job listener names its actor serves, read from the registry once
  /// every listener has registered; null: `spec.name` alone.
  std::vector<std::string> (*served)(const listener_registry&,
                                     const queued_listener_spec&)
      = nullptr;
  /// Spawns its actor; `external` is the node's endpoint of external
  /// calls (the CRM, the calendar, Cal.com).
  queued_listener_actor (*spawn)(caf::actor_system&, const listener_context&,
                                 const endpoint_actor& external)
      = nullptr;
  /// A catch-up listener's (`spec.catch_up`) reader of the log, spawned
  /// once beside the actor that runs the jobs of its failed events; its
  /// spec as registered (config.ini's settings applied).
  catch_up_actor (*spawn_catch_up)(caf::actor_system&, const listener_context&,
                                   const queued_listener_spec&,
                                   const listener_registry&)
      = nullptr;
  /// The prefix of a catch-up listener's counters: none stored yet means
  /// it has counted nothing (see `settle_checkpoint`). Empty: it keeps
  /// none, and its first checkpoint is the log's end.
  std::string counters_prefix;

  registration_result register_in(listener_registry& reg) const {
    return add != nullptr ? add(reg, spec) : registration_result{};
  }

  std::vector<std::string> served_in(const listener_registry& reg) const {
    return served != nullptr ? served(reg, spec)
                             : std::vector<std::string>{spec.name};
  }
};

/// The `add` of a listener of the event types `Es`.
template <class... Es>
registration_result listens_to(listener_registry& reg,
                               const queued_listener_spec& spec) {
  return reg.listen_queued_each<Es...>(spec);
}

/// The `add` of a subscriber (one handler per event type of `Es`, named
/// `<name>@<type>`); `subscriber_handlers` is its `served`.
template <class... Es>
registration_result subscribes_to(listener_registry& reg,
                                  const queued_listener_spec& spec) {
  subscriber_spec sub;
  sub.name = spec.name;
  sub.queue = spec.queue;
  sub.retry = spec.retry;
  return reg.subscribe<Es...>(std::move(sub));
}

/// The handlers a subscriber registered: `<name>@<type>` for each type.
inline std::vector<std::string>
subscriber_handlers(const listener_registry& reg,
                    const queued_listener_spec& spec) {
  std::vector<std::string> out;
  auto prefix = spec.name + "@";
  for (const auto& name : reg.queued_listener_names())
    if (name.rfind(prefix, 0) == 0)
      out.push_back(name);
  return out;
}

/// The `spawn` of a listener whose actor needs only the context.
template <auto Actor>
queued_listener_actor spawn_with_context(caf::actor_system& sys,
                                         const listener_context& ctx,
                                         const endpoint_actor&) {
  return spawn_local(sys, Actor, ctx);
}

/// The component of a listener of the event types `Es` on `queue`, tried
/// `tries` times with the backoff `backoff_s`, whose actor `Actor` needs
/// only the context.
template <auto Actor, class... Es>
queued_listener_component listener_of(std::string name, std::string queue,
                                      std::uint32_t tries,
                                      std::vector<std::uint32_t> backoff_s) {
  queued_listener_component c;
  c.spec.name = std::move(name);
  c.spec.queue = std::move(queue);
  c.spec.retry.tries = tries;
  c.spec.retry.backoff_s = std::move(backoff_s);
  c.add = listens_to<Es...>;
  c.spawn = spawn_with_context<Actor>;
  return c;
}

/// As `listener_of`, for a subscriber of the event types `Es` (a handler
/// per type: subscribes_to, subscriber_handlers).
template <auto Actor, class... Es>
queued_listener_component subscriber_of(std::string name, std::string queue,
                                        std::uint32_t tries,
                                        std::vector<std::uint32_t> backoff_s) {
  auto c = listener_of<Actor, Es...>(std::move(name), std::move(queue), tries,
                                     std::move(backoff_s));
  c.add = subscribes_to<Es...>;
  c.served = subscriber_handlers;
  return c;
}

} // namespace switchboard
