#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// SyncWithExternalServices: Cal.com and CRM for appointment.created, CRM
/// for customer.updated, through `endpoint`; each step done is remembered,
/// so a retry repeats only the steps that failed.
queued_listener_actor::behavior_type
sync_with_external_services(queued_listener_actor::pointer self,
                            listener_context ctx, endpoint_actor endpoint);

namespace listeners {

/// SyncWithExternalServices (external_sync.cpp): appointment and customer
/// changes on queue default, 5 tries over about 8 minutes.
queued_listener_component external_sync();

} // namespace listeners

} // namespace switchboard
