#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard::listeners {

/// SendAppointmentNotification (send_notification.cpp): appointment.created
/// on queue notifications, 5 s after the booking, 3 tries.
queued_listener_component send_notification();

} // namespace switchboard::listeners
