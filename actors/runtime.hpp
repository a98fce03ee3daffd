#pragma once

#include <cstddef>

#include <caf/actor_system_config.hpp>

namespace switchboard {

/// The CAF configuration of a Switchboard node: every message type of the
/// project registered (one type-ID block), the I/O module loaded, and the
/// scheduler sized. `max_threads` 0 means one worker per core.
class runtime_config : public caf::actor_system_config {
public:
  explicit runtime_config(std::size_t max_threads = 0);
};

} // namespace switchboard
