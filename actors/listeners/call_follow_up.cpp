// The call workflow's follow-up as a queued listener of the node; its
// actor lives with the call workflow (actors/call_workflow.cpp).
#include "actors/listeners/call_follow_up.hpp"

#include <actors/call_workflow.hpp>

namespace switchboard::listeners {

queued_listener_component call_follow_up() {
  return listener_of<switchboard::call_follow_up, follow_up_scheduled>(
      listener_names::call_follow_up, "notifications", 3, {10, 60});
}

} // namespace switchboard::listeners
