#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard::listeners {

/// UpdateAnalytics (update_analytics.cpp): appointment.created,
/// call.completed and customer.created on queue analytics, 3 tries.
queued_listener_component update_analytics();

} // namespace switchboard::listeners
