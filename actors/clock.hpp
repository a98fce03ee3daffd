#pragma once

#include <functional>

#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>

#include <messages/envelope.hpp>
#include <messages/time.hpp>

namespace switchboard {

/// Wall-clock milliseconds as the runtime sees them.
using clock_fn = std::function<timestamp_ms()>;

/// A clock that follows the actor system's clock (so that timers and due
/// times agree), anchored at `wall_anchor` now. Under the test coordinator
/// it moves only when the test advances simulated time.
inline clock_fn make_clock(caf::actor_system& sys,
                           timestamp_ms wall_anchor = now_ms()) {
  auto* clk = &sys.clock();
  auto start = clk->now();
  return [clk, start, wall_anchor] {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(clk->now()
                                                                   - start);
    return wall_anchor + static_cast<timestamp_ms>(d.count());
  };
}

} // namespace switchboard
