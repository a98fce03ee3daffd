#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// AppointmentEventSubscriber: staff availability (slots), branch stats,
/// reminders 24 h and 1 h before the start (delayed unique jobs); a
/// reschedule clears the old slot, moves the reminders and notifies; a
/// cancellation removes the slot and the reminders. Its jobs: those of the
/// events its log reader (`subscriber_catch_up`) could not apply, and
/// those a store made before the reader's first start.
queued_listener_actor::behavior_type
appointment_event_subscriber(queued_listener_actor::pointer self,
                             listener_context ctx);

struct catch_up_deps;

/// What AppointmentEventSubscriber's reader of the log is given: each
/// event's writes (slots, stats, reminders and channel jobs) go into the
/// batch's commit; an event they fail for (a customer that cannot be
/// read) becomes a job.
catch_up_deps subscriber_catch_up(const listener_context& ctx,
                                  const queued_listener_spec& spec,
                                  const listener_registry& reg);

namespace listeners {

/// AppointmentEventSubscriber (appointment_subscriber.cpp):
/// appointment.created, .updated and .cancelled, a catch-up listener
/// (actors/listeners/catch_up.hpp); the jobs of events it cannot apply
/// run on queue default, 3 tries.
queued_listener_component appointment_subscriber();

} // namespace listeners

} // namespace switchboard
