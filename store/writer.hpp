#pragma once

#include "store/environment.hpp"
#include "store/error.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace switchboard::store {

/// How one operation is kept apart from the others of its batch.
enum class isolation {
  /// The operation checks everything before it writes: when it returns an
  /// error it has written nothing (the event store's append works so).
  validated,
  /// The operation runs in its own nested LMDB transaction, aborted when it
  /// returns an error. Costs a nested transaction per operation.
  nested,
};

/// Who waits for an operation: a transaction takes the foreground
/// operations waiting (up to `options::max_batch`) and at most
/// `options::background_per_commit` background ones besides them (up to
/// `max_batch` when no foreground one waits). FIFO within a lane.
enum class lane : std::uint8_t {
  /// Requests and what they wait for: appends, commands, admin changes.
  foreground,
  /// Work nobody waits for at once: the queues' leases, acks, retries and
  /// the effects of queued listeners.
  background,
};

/// Counters of a writer, for tests, metrics and benchmarks.
struct writer_stats {
  std::uint64_t commits = 0;       ///< Committed write transactions.
  std::uint64_t ops_committed = 0; ///< Operations that succeeded.
  std::uint64_t ops_failed = 0;    ///< Operations that reported an error.
  std::uint64_t batch_retries = 0; ///< Batches redone (map grown, split).
  std::uint64_t largest_batch = 0; ///< Most operations in one commit.
  /// Background operations that ended (committed or failed).
  std::uint64_t background_ops = 0;
  /// Longest write transaction, from its begin to its commit's return
  /// (the data sync included), in microseconds.
  std::uint64_t longest_commit_us = 0;
  /// Longest sync of the completion thread (the meta page), microseconds.
  std::uint64_t longest_sync_us = 0;
};

/// Group commit: one thread owns every write transaction. Operations
/// submitted while a commit is in progress go into the next transaction
/// together (see `lane` for how many), which is committed (and
/// synced, per `options::sync`) before any of them is told the outcome.
/// A second thread runs the completions (after syncing the meta page with
/// `sync_mode::full`), so that the next transaction overlaps with them.
///
/// An operation that fails fails alone: the others of its batch commit.
/// When the whole transaction fails (MDB_MAP_FULL, I/O error, an operation
/// that throws), the writer grows the map and redoes the batch, or redoes
/// each operation in a transaction of its own, so that every operation
/// gets its own answer and none is half-written.
class writer {
public:
  /// An operation: runs on the writer thread inside the shared write
  /// transaction. It may run more than once (when its batch is redone), so
  /// it must have no effect outside the transaction except on its own
  /// result slot. It must not block on the writer (e.g. a blocking
  /// append) nor hold read transactions.
  using op_fn = std::function<result<void>(write_txn&)>;

  /// A completion: called after the operation's transaction committed
  /// (and synced), or with the operation's error, on the writer's
  /// completion thread, in commit order, while the writer thread builds
  /// the next transaction. Keep it short: later completions wait for it.
  using done_fn = std::function<void(const result<void>&)>;

  /// Told when the disk starts failing writes (`recovered` false, with the
  /// first error: `errc::no_space`, `errc::map_full` or `errc::io_error`,
  /// a failed sync included) and when a transaction commits (and syncs)
  /// again after that (`recovered` true). Called on a writer thread, once
  /// per change, never per failed request.
  using fault_fn = std::function<void(const error& cause, bool recovered)>;

  /// Starts the writer thread on `env`, which must outlive the writer.
  explicit writer(environment& env);

  /// Drains the queue, then stops the thread.
  ~writer();

  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  /// Queues `op` in lane `ln`; `done` is called with its outcome. After
  /// `stop`, `done` is called at once, on the calling thread, with
  /// `errc::closed`.
  void submit(op_fn op, done_fn done, isolation iso = isolation::validated,
              lane ln = lane::foreground);

  /// Runs `op` like `submit` and waits for its outcome. Must not be called
  /// from the writer thread (an op or a completion). Errors: the op's,
  /// `errc::closed`, transaction errors.
  result<void> execute(op_fn op, isolation iso = isolation::validated,
                       lane ln = lane::foreground);

  /// Finishes every queued operation, then stops the writer thread.
  /// Idempotent; later submissions fail with `errc::closed`.
  void stop();

  /// A snapshot of the counters.
  writer_stats stats() const;

  /// Sets the fault observer (thread-safe; faults before it are not told).
  void on_fault(fault_fn fn);

  /// True between a write the disk refused and the next commit that
  /// succeeded.
  bool faulted() const noexcept {
    return fault_code_.load() != 0;
  }

  /// How long the write transaction in progress has been going (waiting
  /// for LMDB's write lock included), zero when none is: a long one means
  /// nothing can commit (another process holds the lock, the disk hangs).
  std::chrono::steady_clock::duration busy_for() const noexcept;

  /// True on the writer thread or its completion thread (inside an op or
  /// a completion), where blocking on the writer would deadlock.
  bool on_writer_thread() const noexcept;

private:
  struct item {
    op_fn op;
    done_fn done;
    isolation iso;
    lane ln;
  };

  /// A committed (or failed) batch waiting for its completions.
  struct outcome {
    std::vector<item> items;
    std::vector<result<void>> results;
    /// The commit's number (`commits_` after it), 0 for a failed batch.
    std::uint64_t commit = 0;
  };

  void run();
  /// Waits (holding `lock` on `mtx_`) for more operations before a
  /// commit, per `options::commit_delay`.
  void linger(std::unique_lock<std::mutex>& lock);
  /// Moves the next transaction's operations from the lanes to `batch`.
  void take_batch(std::vector<item>& batch);
  void run_completions();
  void run_batch(std::vector<item>& batch);
  result<void> run_op(write_txn& txn, item& it);
  void complete(std::vector<item> items, std::vector<result<void>> results,
                std::uint64_t commit = 0);
  /// Counts a transaction the disk refused; tells the observer when it is
  /// the first since the writer was healthy.
  void note_fault(const error& err);
  /// Tells the observer when commit number `commit` ends a fault.
  void note_healthy(std::uint64_t commit);

  environment& env_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<item> queue_;      ///< Foreground (or every op: no limit).
  std::deque<item> background_; ///< Background, with a limit per commit.
  bool stopping_ = false;
  std::thread thread_;
  std::mutex done_mtx_;
  std::condition_variable done_cv_;
  std::deque<outcome> done_queue_;
  bool done_stopping_ = false;
  std::thread done_thread_;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> ops_committed_{0};
  std::atomic<std::uint64_t> ops_failed_{0};
  std::atomic<std::uint64_t> batch_retries_{0};
  std::atomic<std::uint64_t> largest_batch_{0};
  std::atomic<std::uint64_t> background_ops_{0};
  std::atomic<std::uint64_t> longest_commit_us_{0};
  std::atomic<std::uint64_t> longest_sync_us_{0};
  /// Operations in the last batch, and when it ended (writer thread).
  std::size_t last_batch_ = 0;
  std::chrono::steady_clock::time_point last_batch_end_{};
  /// steady_clock ticks when the transaction in progress began; 0: none.
  std::atomic<std::int64_t> busy_since_{0};
  fault_fn on_fault_;
  std::mutex fault_mtx_;
  /// The `errc` of the fault in progress, 0 when healthy.
  std::atomic<int> fault_code_{0};
  /// `commits_` and LMDB's last transaction id when the fault began: later
  /// commits that wrote something end it.
  std::uint64_t fault_commit_ = 0;
  std::uint64_t fault_txn_ = 0;
};

} // namespace switchboard::store
