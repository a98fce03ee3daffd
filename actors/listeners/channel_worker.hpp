#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard {

/// The channel workers (notify.sms, notify.email, notify.whatsapp) and the
/// reminders: a message on a channel with a provider goes to
/// `ctx.messenger` (each sent one is marked, so a retry sends only the
/// rest); with no provider configured, each message goes to the LMDB
/// outbox, with its processed mark in the same transaction.
queued_listener_actor::behavior_type
channel_worker(queued_listener_actor::pointer self, listener_context ctx);

namespace listeners {

/// The channel workers and reminders (channel_worker.cpp): notify.sms,
/// notify.email, notify.whatsapp, reminder.24h and reminder.1h jobs on queue
/// notifications.
queued_listener_component channel_worker();

} // namespace listeners

} // namespace switchboard
