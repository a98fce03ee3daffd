#pragma once

// The seed's listeners: what they are given (actors/listeners/context.hpp),
// one header per queued listener and the node's list of them
// (actors/listeners/seed.hpp). See docs/how-to-add-a-listener.md.

#include <actors/listeners/appointment_subscriber.hpp>
#include <actors/listeners/channel_worker.hpp>
#include <actors/listeners/context.hpp>
#include <actors/listeners/external_sync.hpp>
#include <actors/listeners/seed.hpp>
#include <actors/listeners/send_notification.hpp>
#include <actors/listeners/thank_you.hpp>
#include <actors/listeners/update_analytics.hpp>
