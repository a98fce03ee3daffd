#pragma once

#include <actors/listeners/component.hpp>

namespace switchboard::listeners {

/// The call workflow's follow-up (call_follow_up.cpp; the actor is in
/// actors/call_workflow.cpp): follow_up.scheduled on queue notifications, 3
/// tries.
queued_listener_component call_follow_up();

} // namespace switchboard::listeners
