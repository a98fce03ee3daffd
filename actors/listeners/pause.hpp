#pragma once

// Pausing a node's queued listeners, as Horizon's `horizon:pause` and
// Laravel's `queue:pause` do: while paused, the queue supervisors lease no
// job and the catch-up listeners' readers apply no event; what is already
// running finishes. New events still get their jobs and wait in the log
// and the queues, and everything resumes where it stopped on `continue`.
// The switch is a value in the store, so a restart keeps it and the CLI
// (`switchboard jobs pause`) can flip it while the daemon runs; the node
// reads it again at most `refresh` after the last read.

#include <atomic>
#include <chrono>
#include <cstdint>

#include <store/error.hpp>

namespace switchboard::store {
class projections;
class write_txn;
} // namespace switchboard::store

namespace switchboard {

/// The projection value that holds the switch ("1" while paused).
inline constexpr const char* paused_key = "#listeners/paused";

/// Whether the store says the listeners are paused. Errors: LMDB errors.
store::result<bool> read_paused(const store::projections& proj);

/// Sets the switch in `txn`. Errors: LMDB errors.
store::result<void> write_paused_in(store::write_txn& txn,
                                    store::projections& proj, bool paused);

/// The node's view of the switch, shared by its supervisors and readers
/// (any thread).
class listener_pause {
public:
  explicit listener_pause(const store::projections* proj,
                          std::chrono::milliseconds refresh
                          = std::chrono::milliseconds(500));

  /// Whether the listeners are paused: the last value read or set, read
  /// from the store again once `refresh` has passed since. A store that
  /// cannot be read keeps the last value.
  bool paused() const;

  /// What the node's own route has just written.
  void set(bool paused);

private:
  const store::projections* proj_;
  std::int64_t refresh_ns_;
  /// Bit 0: paused; the bits above count the `set` calls, so that a read
  /// from the store that began before one does not undo it.
  mutable std::atomic<std::uint64_t> state_{0};
  /// steady_clock nanoseconds of the next read from the store.
  mutable std::atomic<std::int64_t> next_read_{0};
};

} // namespace switchboard
