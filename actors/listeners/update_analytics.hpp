#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// The counter deltas UpdateAnalytics applies for `ev` (empty for types
/// it does not count). Pure: the listener and `switchboard replay
/// analytics` share it. Errors: the event's data does not decode.
expected<std::vector<std::pair<std::string, std::int64_t>>, decode_error>
analytics_deltas(const envelope& ev);

/// UpdateAnalytics: projections of appointments (by company, branch,
/// service, source, day; value; lead time; those completed and their
/// value), calls (by sentiment, booking
/// intent) and customers (by source).
queued_listener_actor::behavior_type
update_analytics(queued_listener_actor::pointer self, listener_context ctx);

namespace listeners {

/// UpdateAnalytics (update_analytics.cpp): appointment.created,
/// appointment.completed, call.completed and customer.created on queue
/// analytics, 3 tries.
queued_listener_component update_analytics();

} // namespace listeners

} // namespace switchboard
