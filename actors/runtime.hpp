#pragma once

#include <cstddef>

#include <caf/actor_system_config.hpp>
#include <caf/fwd.hpp>

namespace switchboard {

/// The CAF configuration of a Switchboard node: every message type of the
/// project registered (one type-ID block), the I/O module loaded, and the
/// scheduler sized. `max_threads` 0 means one worker per core.
///
/// `sleeping_polls` is how many times an idle worker looks at its queue
/// with a 50 us sleep in between before it blocks until a message wakes
/// it (CAF's own default is 500). Each of those sleeps is a timer wake-up
/// of the thread, and at a steady load, where workers go idle for a
/// moment between messages all the time, they cost more CPU than the
/// polls find work: on this project's benchmark machine they were a third
/// of the actors' CPU per booking. A worker that blocks is woken by the
/// next message sent to it, so 0 costs a wake-up's latency, not a timer's.
class runtime_config : public caf::actor_system_config {
public:
  explicit runtime_config(std::size_t max_threads = 0,
                          std::size_t sleeping_polls = 0);
};

/// Sends what CAF would print for its actors (chiefly "unexpected message"
/// from any actor, including CAF's own spawn and config servers, which
/// every connected node can reach) to the "caf" logger instead of stdout:
/// counted, logged at most once every 10 s with the last one at debug
/// level. Without it a stranger on the cluster port can make the daemon
/// write a line per message it sends and block on a full stdout.
void capture_caf_output(caf::actor_system& sys);

} // namespace switchboard
