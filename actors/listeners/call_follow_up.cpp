// The call workflow's follow-up as a queued listener of the node; its
// actor lives with the call workflow (actors/call_workflow.cpp).
#include "actors/listeners/call_follow_up.hpp"

#include <actors/call_workflow.hpp>

namespace switchboard::listeners {

queued_listener_component call_follow_up() {
  queued_listener_component c;
  c.spec.name = listener_names::call_follow_up;
  c.spec.queue = "notifications";
  c.spec.retry.tries = 3;
  c.spec.retry.backoff_s = {10, 60};
  c.add = listens_to<follow_up_scheduled>;
  c.spawn = spawn_with_context<switchboard::call_follow_up>;
  return c;
}

} // namespace switchboard::listeners
