// The call workflow's follow-up as a queued listener of the node; its
// actor and registration live with the call workflow.
#include "actors/listeners/call_follow_up.hpp"

#include <actors/call_workflow.hpp>

namespace switchboard::listeners {

queued_listener_component call_follow_up() {
  queued_listener_component c;
  c.queue = "notifications";
  c.add = register_call_listeners;
  c.served = [](const listener_registry&) {
    return std::vector<std::string>{listener_names::call_follow_up};
  };
  c.spawn = spawn_with_context<switchboard::call_follow_up>;
  return c;
}

} // namespace switchboard::listeners
