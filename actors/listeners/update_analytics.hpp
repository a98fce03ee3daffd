#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <actors/listeners/component.hpp>

namespace switchboard {

/// The counter deltas UpdateAnalytics applies for `ev` (empty for types
/// it does not count). Pure: the listener and `switchboard replay
/// analytics` share it. Errors: the event's data does not decode.
expected<std::vector<std::pair<std::string, std::int64_t>>, decode_error>
analytics_deltas(const envelope& ev);

/// A job of UpdateAnalytics waiting for the write its deltas go into.
struct folded_job {
  std::string listener;
  std::string company;
  std::string event_id;
  std::vector<std::pair<std::string, std::int64_t>> deltas;
  caf::typed_response_promise<ok_atom> rp;
};

/// What UpdateAnalytics keeps between jobs: those waiting for the next
/// write, and how many writes are in flight.
struct analytics_state {
  listener_context ctx;
  std::vector<folded_job> waiting;
  std::uint32_t writes_in_flight = 0;
  static inline const char* name = "update_analytics";
};

/// UpdateAnalytics: projections of appointments (by company, branch,
/// service, source, day; value; lead time; those completed and their
/// value), calls (by sentiment, booking
/// intent) and customers (by source). The jobs that arrive while a write
/// is in flight are folded into the next: one add per counter for all of
/// them, with each job's processed mark, in one nested transaction, and
/// every job answered when it commits (Laravel's listener, run for many
/// jobs at once).
queued_listener_actor::behavior_type
update_analytics(queued_listener_actor::stateful_pointer<analytics_state> self,
                 listener_context ctx);

namespace listeners {

/// UpdateAnalytics (update_analytics.cpp): appointment.created,
/// appointment.completed, call.completed and customer.created on queue
/// analytics, 3 tries.
queued_listener_component update_analytics();

} // namespace listeners

} // namespace switchboard
