#pragma once

// The node's listeners in one place. Adding a queued listener is its file
// pair under actors/listeners/ (the actor and its component) and one line
// in queued_listeners(); docs/how-to-add-a-listener.md walks through it.

#include <vector>

#include <actors/listeners/component.hpp>

namespace switchboard {

/// Registers the sync listeners: AuditLogger (every audited type) and
/// CacheInvalidator (the types whose changes stale cached reads).
[[nodiscard]] registration_result
register_sync_listeners(listener_registry& reg);

/// Every queued listener the node runs, in registration order.
const std::vector<queued_listener_component>& queued_listeners();

/// Registers the sync listeners and every queued listener of the list
/// (SendAppointmentNotification, the channel workers, UpdateAnalytics,
/// SyncWithExternalServices, the AppointmentEventSubscriber and the call
/// workflow's follow-up). Returns the first refusal, if any.
[[nodiscard]] registration_result
register_seed_listeners(listener_registry& reg);

} // namespace switchboard
