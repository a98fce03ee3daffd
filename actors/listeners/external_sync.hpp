#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard::listeners {

/// SyncWithExternalServices (external_sync.cpp): appointment and customer
/// changes on queue default, 5 tries over about 8 minutes.
queued_listener_component external_sync();

} // namespace switchboard::listeners
