#pragma once

// The call workflow: the seed's "Call Processing Workflow" state machine as
// an aggregate actor (one per call, spawned by the router), and the queued
// listener that runs scheduled follow-ups.
//
//   started → in_progress → ended → analyzed
//     analyzed → appointment_requested (booking intent)
//       → appointment_created (booked through the staff calendar)
//       | appointment_failed → follow_up_scheduled (a delayed channel job)
//     analyzed → information_only (no booking intent)
//
// Commands (aggregate type "call", id = the provider's call id):
//   start   {from_number, to_number?, started_at?, event_id?}
//   connect {connected_at?, event_id?}
//   end     {ended_at?, duration_s?, end_reason?, transcript?, event_id?}
//   analyze {analysis: call_analysis JSON, analyzed_at?, event_id?}
// A command the current state has no transition for fails with
// runtime_errc::conflict "call X is in state S". A command whose event_id
// is stored already changes nothing (a redelivered webhook).

#include <chrono>
#include <string>
#include <string_view>

#include <actors/aggregates.hpp>
#include <actors/interfaces.hpp>
#include <actors/listeners.hpp>
#include <messages/events.hpp>

namespace switchboard {

/// How long after a failed booking the follow-up goes out.
constexpr std::chrono::hours call_follow_up_delay{1};

/// A UUID-shaped id (version 8, RFC 9562) derived from `key` by SHA-256:
/// the same key gives the same id, so redelivered webhooks append the same
/// event ids and the store's idempotent append stores them once.
std::string derived_id(std::string_view key);

/// The id of the appointment a call books (deterministic per call).
std::string call_appointment_id(const std::string& company_id,
                                const std::string& call_id);

/// The id a caller's customer record gets when the call creates it.
std::string phone_customer_id(const std::string& company_id,
                              const std::string& phone);

/// Keeps '+' and digits: "+49 (30) 123-45" → "+493012345".
std::string normalize_phone(std::string_view phone);

/// The state of one call, rebuilt from its stream.
struct call_record {
  switchboard::call call;
  bool exists = false;
  std::uint64_t version = 0;
  std::string customer_id;
  std::string appointment_id; ///< Set once appointment_created.
  call_analysis analysis;
  std::string failure_reason;
  timestamp_ms follow_up_due_at = 0;
};

/// Applies one event of a call stream.
void apply_call_event(call_record& rec, const envelope& ev);

/// Loads a call (company-scoped: another company's call is not_found).
expected<call_record, caf::error> load_call(const store::event_store& events,
                                            const std::string& company_id,
                                            const std::string& call_id);

/// The call as the API shows it (JSON text).
std::string render_call(const call_record& rec);

/// The id of the company's customer with this phone number (normalised),
/// "" when there is none. Reads the company's customer events.
expected<std::string, caf::error>
find_customer_by_phone(const store::event_store& events,
                       const std::string& company_id, const std::string& phone);

/// Spawns the aggregate actor of one call; `router` books appointments and
/// creates callers' customer records.
aggregate_actor spawn_call_actor(caf::actor_system& sys, call_record initial,
                                 aggregate_deps deps, router_actor router);

namespace listener_names {
constexpr const char* call_follow_up = "call_follow_up";
} // namespace listener_names

/// call_follow_up: for follow_up.scheduled, a notify.sms job to the caller
/// due at the event's due_at (the delayed follow-up message).
queued_listener_actor::behavior_type
call_follow_up(queued_listener_actor::pointer self, listener_context ctx);

} // namespace switchboard
