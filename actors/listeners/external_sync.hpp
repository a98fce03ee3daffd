#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// SyncWithExternalServices's jobs: Cal.com and CRM for appointment.created,
/// CRM for customer.updated, through `endpoint`; each step done is
/// remembered, so a retry repeats only the steps that failed. Its log
/// reader (`external_sync_catch_up`) makes a job of the events it cannot
/// finish itself.
queued_listener_actor::behavior_type
sync_with_external_services(queued_listener_actor::pointer self,
                            listener_context ctx, endpoint_actor endpoint);

struct catch_up_effect;
struct catch_up_deps;

/// What the log reader of `listener` does with `event`: every step whose
/// target has no provider and that does not act on the stored Cal.com
/// booking uid is a call written to the outbox in the batch's commit; an
/// event with any other step becomes a job too, which runs the rest (the
/// steps written here are marked, so it skips them). A Cal.com create is
/// marked always: a later change of the appointment asks whether it is
/// pending. Errors: the event's data does not decode.
expected<catch_up_effect, decode_error>
external_sync_effect(const listener_context& ctx, const std::string& listener,
                     const envelope& event);

/// What SyncWithExternalServices's reader of the log is given: the event
/// types `spec.name` listens to in `reg`, and `external_sync_effect`.
catch_up_deps external_sync_catch_up(const listener_context& ctx,
                                     const queued_listener_spec& spec,
                                     const listener_registry& reg);

namespace listeners {

/// SyncWithExternalServices (external_sync.cpp): appointment and customer
/// changes, a catch-up listener (actors/listeners/catch_up.hpp) whose
/// reader writes the calls the outbox takes; the events that need a
/// provider or fail run as jobs on queue default, 5 tries over about 8
/// minutes.
queued_listener_component external_sync();

} // namespace listeners

} // namespace switchboard
