#pragma once

// What the HTTP server (app/http/server.cpp) and the broadcaster's
// WebSocket server (app/http/broadcast_session.cpp) share: the counters of
// their connections and the sweep of their threads' sessions.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace switchboard::app::http {

/// The connection counters of a server, bumped by its threads.
struct listener_counters {
  std::atomic<std::uint64_t> connections{0}; ///< Open now.
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};

  /// Copies the counters into the fields of the same names of `stats`.
  template <class Stats>
  void load_into(Stats& stats) const {
    stats.connections = connections.load();
    stats.accepted = accepted.load();
    stats.refused = refused.load();
  }
};

/// Runs `sweep(now)` on each of a thread's `sessions` (it closes or pings
/// the ones past a deadline) and drops those gone or answering false.
template <class Session, class TimePoint>
void sweep_sessions(std::vector<std::weak_ptr<Session>>& sessions,
                    TimePoint now) {
  sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                [now](const std::weak_ptr<Session>& w) {
                                  auto s = w.lock();
                                  return !s || !s->sweep(now);
                                }),
                 sessions.end());
}

} // namespace switchboard::app::http
