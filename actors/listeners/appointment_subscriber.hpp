#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard::listeners {

/// AppointmentEventSubscriber (appointment_subscriber.cpp):
/// appointment.created, .updated and .cancelled on queue default, one job
/// listener per event type.
queued_listener_component appointment_subscriber();

} // namespace switchboard::listeners
