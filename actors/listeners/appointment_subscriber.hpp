#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// AppointmentEventSubscriber: staff availability (slots), branch stats,
/// reminders 24 h and 1 h before the start (delayed unique jobs); a
/// reschedule clears the old slot, moves the reminders and notifies; a
/// cancellation removes the slot and the reminders.
queued_listener_actor::behavior_type
appointment_event_subscriber(queued_listener_actor::pointer self,
                             listener_context ctx);

namespace listeners {

/// AppointmentEventSubscriber (appointment_subscriber.cpp):
/// appointment.created, .updated and .cancelled on queue default, one job
/// listener per event type.
queued_listener_component appointment_subscriber();

} // namespace listeners

} // namespace switchboard
