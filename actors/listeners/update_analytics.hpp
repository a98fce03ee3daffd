#pragma once

#include <cstdint>
#include <optional>
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
  /// The log reader's first checkpoint, once read (none: every event).
  std::optional<std::uint64_t> first_checkpoint;
  static inline const char* name = "update_analytics";
};

/// UpdateAnalytics's jobs: those of the events its log reader (see
/// `analytics_catch_up`) could not read, which fail again, and those made
/// before the reader's first start. It counts appointments (by company,
/// branch, service, source, day; value; lead time; those completed and
/// their value), calls (by sentiment, booking intent) and customers (by
/// source). The jobs that arrive while a write is in flight are folded
/// into the next: one add per counter for all of them, with each job's
/// processed mark, in one nested transaction, and every job answered when
/// it commits.
queued_listener_actor::behavior_type
update_analytics(queued_listener_actor::stateful_pointer<analytics_state> self,
                 listener_context ctx);

struct catch_up_deps;

/// What UpdateAnalytics's reader of the log is given: the event types
/// `spec.name` listens to in `reg`, and `analytics_deltas`.
catch_up_deps analytics_catch_up(const listener_context& ctx,
                                 const queued_listener_spec& spec,
                                 const listener_registry& reg);

namespace listeners {

/// UpdateAnalytics (update_analytics.cpp): appointment.created,
/// appointment.completed, call.completed and customer.created, a catch-up
/// listener (actors/listeners/catch_up.hpp): it reads the log after its
/// checkpoint and folds each batch into one commit; the jobs of events
/// that fail run on queue analytics, 3 tries.
queued_listener_component update_analytics();

} // namespace listeners

} // namespace switchboard
