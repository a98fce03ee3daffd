#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <boost/json/object.hpp>
#include <spdlog/logger.h>

#include <actors/clock.hpp>
#include <actors/interfaces.hpp>
#include <messages/entities.hpp>

namespace switchboard::store {
class event_store;
} // namespace switchboard::store

namespace switchboard {

/// What the router and the aggregates need, handed over at spawn.
struct aggregate_deps {
  dispatcher_actor dispatcher;
  cache_actor cache;
  store::event_store* events = nullptr;
  clock_fn clock;
  /// An aggregate actor stops after this long without a message.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  /// TTL of cached availability answers.
  std::uint32_t availability_ttl_ms = 60000;
  /// Where the router keeps its running aggregate actors; the node waits
  /// for them at stop. Empty: the router makes its own.
  std::shared_ptr<std::map<caf::actor_addr, aggregate_actor>> children;
};

/// The current state of one aggregate, rebuilt from its stream.
struct aggregate_state {
  std::string type;
  std::string id;
  std::string company_id;
  std::uint64_t version = 0;
  bool exists = false;
  /// For a customer merged away: the customer it was merged into. Such a
  /// customer is a tombstone: read, never changed, booked or merged.
  std::string merged_into;
  customer cust;
  staff stf;
  service svc;
  appointment appt;
};

/// Applies one stored event to the state of its aggregate.
void apply_event(aggregate_state& st, const envelope& ev);

/// Loads an aggregate's state from its stream in the event store.
expected<aggregate_state, caf::error>
load_aggregate(const store::event_store& events, const std::string& type,
               const std::string& company_id, const std::string& id);

/// The state as the API shows it.
boost::json::object state_json(const aggregate_state& st);

/// The state as the API shows it (JSON text).
std::string render_state(const aggregate_state& st);

struct router_state {
  aggregate_deps deps;
  /// "type/company/id" → actor.
  std::map<std::string, aggregate_actor> actors;
  std::map<caf::actor_addr, std::string> keys;
  /// The running aggregate actors; shared with the exit cleanup, which
  /// runs after the state is gone.
  std::shared_ptr<std::map<caf::actor_addr, aggregate_actor>> children
      = std::make_shared<std::map<caf::actor_addr, aggregate_actor>>();
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "router";
};

/// The router: one actor per aggregate key, spawned on demand and
/// rehydrated from its stream; appointments are handled by the calendar
/// actor of their staff member, which is what makes double booking
/// impossible.
router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self, aggregate_deps deps);

} // namespace switchboard
