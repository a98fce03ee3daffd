#pragma once

// The router of the aggregates and what it hands them. The aggregates are
// split by concern: actors/aggregate_state.hpp folds events into a state,
// actors/deciders.hpp decides customer, staff and service commands (plain
// functions), actors/entity_actor.hpp runs those deciders, and
// actors/calendar.hpp is the staff calendar that decides appointments.

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>
#include <spdlog/logger.h>

#include <actors/aggregate_state.hpp>
#include <actors/branches.hpp>
#include <actors/clock.hpp>
#include <actors/interfaces.hpp>
#include <messages/entities.hpp>

namespace switchboard::store {
class event_store;
class tenants;
} // namespace switchboard::store

namespace switchboard {

/// What the router and the aggregates need, handed over at spawn.
struct aggregate_deps {
  dispatcher_actor dispatcher;
  cache_actor cache;
  store::event_store* events = nullptr;
  /// The companies, for their and their branches' time zones (none: UTC).
  const store::tenants* tenants = nullptr;
  clock_fn clock;
  /// An aggregate actor stops after this long without a message.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  /// Most aggregate and calendar actors alive at once: past it, the least
  /// recently used is passivated (stopped; rebuilt from the store when
  /// next needed).
  std::size_t max_live = 10000;
  /// Aggregate actors alive now (the router's count), for /ready.
  std::shared_ptr<std::atomic<std::size_t>> live
      = std::make_shared<std::atomic<std::size_t>>(0);
  /// TTL of cached availability answers.
  std::uint32_t availability_ttl_ms = 60000;
  /// Where the router keeps its running aggregate actors; the node waits
  /// for them at stop. Empty: the router makes its own.
  std::shared_ptr<std::map<caf::actor_addr, routed_actor>> children;
};

struct router_state {
  aggregate_deps deps;
  /// "type/company/id" → the actor of a customer, staff member, service
  /// or call.
  std::map<std::string, aggregate_actor> aggregates;
  /// "calendar/company/staff" → the calendar of a staff member.
  std::map<std::string, calendar_actor> calendars;
  std::map<caf::actor_addr, std::string> keys;
  /// Keys of the live actors, least recently used first (an actor asked
  /// to passivate is no longer listed), and where each key is.
  std::list<std::string> lru;
  std::unordered_map<std::string, std::list<std::string>::iterator> lru_at;
  /// The running aggregate actors; shared with the exit cleanup, which
  /// runs after the state is gone.
  std::shared_ptr<std::map<caf::actor_addr, routed_actor>> children
      = std::make_shared<std::map<caf::actor_addr, routed_actor>>();
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "router";
};

/// The router: one actor per aggregate key, spawned on demand and
/// rehydrated from its stream; appointment commands (typed, see
/// messages/calendar_commands.hpp) are handled by the calendar actor of
/// their staff member, which is what makes double booking impossible.
router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self, aggregate_deps deps);

} // namespace switchboard
