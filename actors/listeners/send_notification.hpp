#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// SendAppointmentNotification: for appointment.created, one channel job
/// per channel the customer prefers (SMS if prefers_sms; email if there is
/// an email and prefers_email; WhatsApp if prefers_whatsapp).
queued_listener_actor::behavior_type
send_appointment_notification(queued_listener_actor::pointer self,
                              listener_context ctx);

namespace listeners {

/// SendAppointmentNotification (send_notification.cpp): appointment.created
/// on queue notifications, 5 s after the booking, 3 tries.
queued_listener_component send_notification();

} // namespace listeners

} // namespace switchboard
