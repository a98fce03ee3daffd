#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// SendThankYouNote: for appointment.completed, one channel job per
/// channel the customer prefers, thanking them for the visit.
queued_listener_actor::behavior_type
send_thank_you_note(queued_listener_actor::pointer self, listener_context ctx);

namespace listeners {

/// SendThankYouNote (thank_you.cpp): appointment.completed on queue
/// notifications, 3 tries.
queued_listener_component send_thank_you_note();

} // namespace listeners

} // namespace switchboard
