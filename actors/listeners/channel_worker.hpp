#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard::listeners {

/// The channel workers and reminders (channel_worker.cpp): notify.sms,
/// notify.email, notify.whatsapp, reminder.24h and reminder.1h jobs on queue
/// notifications.
queued_listener_component channel_worker();

} // namespace switchboard::listeners
