#pragma once

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

#include <actors/branches.hpp>
#include <actors/clock.hpp>
#include <actors/interfaces.hpp>
#include <messages/entities.hpp>

namespace switchboard::store {
class event_store;
class tenants;
struct listing;
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

/// The event store's references of appointment events (event_store_config
/// ::refs): the appointment synced with a Cal.com booking, under each uid
/// it had (a Cal.com reschedule makes a new one). Lists, not references,
/// serve calendars and listings.
void appointment_refs(const envelope& e, std::vector<std::string>& out);

/// The reference of the appointment synced with Cal.com booking `uid`.
std::string calcom_booking_ref(const std::string& company,
                               const std::string& uid);

/// The store's sorted lists of appointments (event_store_config::lists):
/// each appointment, as of its last event, is listed by start time (then
/// id) among the company's appointments, its staff member's and its
/// customer's, each also per status, so that a filtered list reads one
/// page of one list.
void appointment_lists(const envelope& e, store::listing& out);

/// The list holding the appointments of `company` with the given filters
/// (empty: any): the staff member's when named, else the customer's, else
/// the company's; per status when one is named. A staff member and a
/// customer together give the staff member's list (filter the customer).
std::string appointment_list(const std::string& company,
                             const std::string& staff_id,
                             const std::string& customer_id,
                             const std::string& status);

/// The sort key of an appointment in the lists: its start time (8 bytes,
/// in order) and its id. `id` empty: the first key at `start`.
std::string appointment_sort_key(timestamp_ms start, const std::string& id);

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
  /// Keys of the live actors, least recently used first (an actor asked
  /// to passivate is no longer listed), and where each key is.
  std::list<std::string> lru;
  std::unordered_map<std::string, std::list<std::string>::iterator> lru_at;
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
