#pragma once

// The state of an aggregate folded from its events, and what the store
// derives from appointment events (references, sorted lists). Plain
// functions: no actor is involved.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include <actors/errors.hpp>
#include <messages/entities.hpp>
#include <messages/envelope.hpp>
#include <messages/expected.hpp>

namespace switchboard::store {
class event_store;
struct listing;
} // namespace switchboard::store

namespace switchboard {

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
/// id) among the company's appointments of its status, its staff
/// member's and its customer's. Three entries, not six: the lists of any
/// status are the status lists read as one (`appointment_lists_of`,
/// event_store::read_lists), which costs a listing a few keys more and
/// each booking three fewer index writes (one of them a page of its own:
/// the staff member's).
void appointment_lists(const envelope& e, store::listing& out);

/// The list holding the appointments of `company` with the given filters
/// and `status` (not empty): the staff member's when named, else the
/// customer's, else the company's. A staff member and a customer together
/// give the staff member's list (filter the customer).
std::string appointment_list(const std::string& company,
                             const std::string& staff_id,
                             const std::string& customer_id,
                             const std::string& status);

/// The lists that together hold the appointments with the given filters
/// (`status` empty: any): `appointment_list`'s for the status, or one
/// for each status.
std::vector<std::string> appointment_lists_of(const std::string& company,
                                              const std::string& staff_id,
                                              const std::string& customer_id,
                                              const std::string& status);

/// The sort key of an appointment in the lists: its start time (8 bytes,
/// in order) and its id. `id` empty: the first key at `start`.
std::string appointment_sort_key(timestamp_ms start, const std::string& id);

/// What a customer event says about the company's customers: the customer
/// as it is after the event, and, for a merge, the id merged away (its
/// record lives on only as a tombstone).
struct customer_change {
  customer now;
  std::string merged_away;
};

/// The change of a customer.created, .updated or .merged event; nothing
/// for any other event (or one that does not decode).
std::optional<customer_change> customer_change_of(const envelope& ev);

/// The company's customers as they are now, by id (those merged away
/// left out), folded from the company's whole log with
/// `customer_change_of`. It reads every event of the company: for
/// matches by contact that no index serves yet.
expected<std::map<std::string, customer>, caf::error>
current_customers(const store::event_store& events,
                  const std::string& company_id);

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

} // namespace switchboard
