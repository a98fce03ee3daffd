#pragma once

// The fixture of the actor tests that send commands to the router: a
// deterministic node whose aggregates idle out after 10 s.

#include <chrono>
#include <utility>

#include <actors/testing.hpp>
#include <messages/commands.hpp>

namespace switchboard::test {

/// A deterministic node, from `start`, whose aggregates idle out after
/// 10 s; commands go to its router.
struct router_fixture {
  explicit router_fixture(timestamp_ms start
                          = testing::deterministic_node::default_start)
      : n{[](node_options& o) {
            o.aggregate_idle = std::chrono::seconds{10};
          },
          start} {}

  testing::deterministic_node n;

  /// Sends `cmd` (an aggregate_command or a typed command) to the router
  /// and returns its answer.
  template <class Command>
  expected<command_result, caf::error> route(Command cmd) {
    return n.call<command_result>(n.node().router(), command_atom::value,
                                  std::move(cmd));
  }
};

} // namespace switchboard::test
