#pragma once

// Pausing a node's queued listeners, as Horizon's `horizon:pause` and
// Laravel's `queue:pause` do: while paused, the queue supervisors lease no
// job and the catch-up listeners' readers apply no event; what is already
// running finishes. New events still get their jobs and wait in the log
// and the queues, and everything resumes where it stopped on `continue`.
// All queues are paused at once, or some by name (a catch-up listener
// belongs to its queue: analytics to "analytics", the external sync to
// "default"), so that lower-priority work can wait out a burst while the
// notifications go on. The switches are values in the store, so a restart
// keeps them and the CLI (`switchboard jobs pause`) can flip them while
// the daemon runs; the node reads them again at most `refresh` after the
// last read.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include <store/error.hpp>

namespace switchboard::store {
class projections;
class write_txn;
} // namespace switchboard::store

namespace switchboard {

/// What is paused.
struct pause_state {
  /// Every queue.
  bool all = false;
  /// These queues (besides `all`).
  std::set<std::string, std::less<>> queues;

  bool covers(std::string_view queue) const {
    return all || queues.count(queue) > 0;
  }
};

/// What the store says is paused. Errors: LMDB errors.
store::result<pause_state> read_pause(const store::projections& proj);

/// Pauses (`paused`) or resumes `queue` in `txn`; an empty `queue` is
/// every queue, and resuming it resumes each one paused by name too.
/// Errors: LMDB errors.
store::result<void> write_pause_in(store::write_txn& txn,
                                   store::projections& proj,
                                   std::string_view queue, bool paused);

/// The node's view of the switches, shared by its supervisors and readers
/// (any thread).
class listener_pause {
public:
  explicit listener_pause(const store::projections* proj,
                          std::chrono::milliseconds refresh
                          = std::chrono::milliseconds(500));

  /// Whether `queue` is paused: the state last read or set, read from the
  /// store again once `refresh` has passed since. A store that cannot be
  /// read keeps the last state.
  bool paused(std::string_view queue) const;

  /// The state, as `paused` sees it.
  pause_state state() const;

  /// Reads the store now: what the node's own route does after its write
  /// (reads take turns, so an older one cannot undo it).
  void reload() const;

private:
  void refresh_if_due() const;

  const store::projections* proj_;
  std::int64_t refresh_ns_;
  mutable std::mutex mtx_;
  mutable pause_state state_;
  /// Whether anything is paused (read without the lock).
  mutable std::atomic<bool> any_{false};
  /// steady_clock nanoseconds of the next read from the store.
  mutable std::atomic<std::int64_t> next_read_{0};
};

} // namespace switchboard
