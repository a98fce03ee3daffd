#pragma once

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/writer.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::store {

/// The format version written as the first byte of every job record.
constexpr std::uint8_t job_format_v1 = 1;

/// Where a job is in its life.
enum class job_state : std::uint8_t {
  /// Waiting in its queue until `due_at`.
  pending = 0,
  /// Handed to a listener until `lease_until`.
  leased = 1,
  /// Out of tries; kept in the failed jobs until retried or deleted.
  failed = 2,
};

/// Returns the name of `s`, e.g. "leased".
const char* to_string(job_state s) noexcept;

/// One run of one queued listener for one event: the outbox entry the
/// dispatcher writes in the transaction of the event. Fields marked "store"
/// are set by the queue; `enqueue_in` ignores the values given.
struct job {
  std::uint64_t id = 0; ///< store: unique, increasing, never reused.
  std::string queue;    ///< Queue name, 1 to 255 bytes.
  std::string listener; ///< Listener name, 1 to 255 bytes.
  std::string event_id; ///< The event the job handles; at most 255 bytes.
  std::uint64_t event_seq = 0; ///< The event's global sequence.
  std::string payload;         ///< Opaque (JSON); at most 16 MiB.
  /// While a job with this key is pending or leased, enqueueing another
  /// with the same key returns the first. Empty: none. At most 255 bytes.
  std::string unique_key;
  timestamp_ms created_at = 0;
  timestamp_ms due_at = 0; ///< Not leased before this time.
  /// store: attempts started; each lease increments it.
  std::uint32_t attempts = 0;
  /// Laravel `$tries`: most attempts; 0 is unlimited.
  std::uint32_t max_tries = 1;
  /// Laravel `$backoff`: seconds before try n + 1 after attempt n fails;
  /// the last entry repeats. Empty: retry at once. At most 64 entries.
  std::vector<std::uint32_t> backoff_s;
  std::uint32_t timeout_ms = 0; ///< How long one attempt may run.
  /// Laravel `retryUntil`: when set (non-zero), it replaces `max_tries`.
  timestamp_ms retry_until = 0;
  /// Laravel `$maxExceptions`: fail after this many exceptions; 0: none.
  std::uint32_t max_exceptions = 0;
  std::uint32_t exceptions = 0;         ///< store: attempts that threw.
  timestamp_ms first_attempt_at = 0;    ///< store: start of attempt 1.
  timestamp_ms last_attempt_at = 0;     ///< store: start of the last attempt.
  timestamp_ms lease_until = 0;         ///< store: while leased.
  timestamp_ms failed_at = 0;           ///< store: when it moved to failed.
  std::string last_error;               ///< store: the last attempt's error.
  job_state state = job_state::pending; ///< store.
};

/// What `enqueue_in` did.
struct enqueue_outcome {
  /// The new job's id, or that of the pending or leased job holding the
  /// same unique key.
  std::uint64_t id = 0;
  /// False when a job with the same unique key was already there.
  bool created = false;
};

/// Jobs of one queue by state. `ready + delayed` are the pending jobs.
struct queue_counts {
  std::uint64_t ready = 0;   ///< Pending with due_at <= now.
  std::uint64_t delayed = 0; ///< Pending with due_at > now.
  std::uint64_t leased = 0;
  std::uint64_t failed = 0;
};

// -- Laravel retry rules (pure; the queue supervisor applies them) -----------

/// True when a job just leased must fail without running (Laravel's
/// MaxAttemptsExceeded): with `retry_until`, when `now` is past it;
/// otherwise when `max_tries` > 0 and `attempts` > `max_tries` (a job whose
/// lease expired came back after its last try).
bool exceeds_max_attempts(const job& j, timestamp_ms now) noexcept;

/// True when an attempt of `j` (leased, so `attempts` counts it) that just
/// failed must not be retried: with `retry_until`, when `now` >= it;
/// otherwise when `max_tries` > 0 and `attempts` >= `max_tries`; and in
/// either case when `max_exceptions` > 0 and the exceptions, counting this
/// failure if `counts_as_exception`, reach it.
bool will_exceed_max_attempts(const job& j, timestamp_ms now,
                              bool counts_as_exception) noexcept;

/// Seconds to wait before the next try after attempt `j.attempts` failed:
/// `backoff_s[attempts - 1]`, the last entry when past the end, 0 when
/// `backoff_s` is empty.
std::uint32_t backoff_delay_s(const job& j) noexcept;

/// The durable job queue: the outbox of the dispatcher and the store of the
/// queue supervisors. Named databases (keys big-endian; times mapped with
/// `order_preserving`):
///
/// | database    | key → value                              | flags         |
/// |-------------|------------------------------------------|---------------|
/// | jobs        | id → job record (all states)             | appended      |
/// | jobs_due    | queue → (due_at, id), ... (pending)      | DUPSORT/FIXED |
/// | jobs_leased | queue → (lease_until, id), ... (leased)  | DUPSORT/FIXED |
/// | jobs_failed | queue → id, ... (failed)                 | DUPSORT/FIXED |
/// | jobs_unique | unique key → id (pending or leased)      |               |
/// | jobs_meta   | "next_id" → id; "queue/<name>" → (empty) |               |
///
/// Leasing is a scan of one queue's due entries from the oldest; the
/// number of pending, leased and failed jobs of a queue is LMDB's count of
/// its duplicates; telling ready from delayed ones reads the due entries
/// a page at a time up to `now` (a binary search in the last page).
///
/// Every change has an `*_in(write_txn&, ...)` form that runs inside the
/// writer's transaction, so that a caller can compose it with other
/// modules' writes (events, the processed set) into one commit. Each
/// checks before it writes: when it returns `errc::not_found` or
/// `errc::invalid_argument` it has written nothing and `txn` is usable;
/// other errors (`poisons_txn`) lose the transaction: return them from the
/// op. An op that writes before a later step that may fail must be
/// submitted with `isolation::nested`, or the writes stay.
///
/// The blocking forms run the `*_in` form as one writer operation and wait
/// for its commit; they must not be called on the writer thread or while
/// holding a read transaction. They add `errc::closed` and commit errors to
/// the errors of their `*_in` form. Reads run in their own read
/// transaction on the calling thread. Thread-safe.
class job_queue {
public:
  /// Opens (creating them if missing) the queue's databases in `env` and
  /// returns a queue that writes through `w`. Both must outlive it.
  /// Errors: those of `environment::open_db`.
  static result<std::unique_ptr<job_queue>> open(environment& env, writer& w);

  // -- the outbox ------------------------------------------------------------

  /// Enqueues `j` as a pending job due at `j.due_at`, with the store fields
  /// reset (attempts 0, state pending, ...). When `j.unique_key` is held by
  /// a pending or leased job, enqueues nothing and returns that job's id.
  /// @returns the job's id and whether it was created.
  /// Errors: `errc::invalid_argument` (the size rules of `job`),
  /// `errc::corrupt`, LMDB errors.
  result<enqueue_outcome> enqueue_in(write_txn& txn, const job& j);

  /// Blocking `enqueue_in`.
  result<enqueue_outcome> enqueue(const job& j);

  // -- the supervisor's cycle -------------------------------------------------

  /// Leases up to `max` pending jobs of `queue` with due_at <= `now`, the
  /// earliest due first (ties by id): each gets state leased, attempts + 1,
  /// last_attempt_at `now` (and first_attempt_at on its first attempt) and
  /// `lease_until`, after which `release_expired_in` takes it back.
  /// @returns the leased jobs as stored after the lease; empty when none is
  /// due or `max` is 0. An unknown queue has no jobs.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<job>> lease_in(write_txn& txn, std::string_view queue,
                                    timestamp_ms now, std::size_t max,
                                    timestamp_ms lease_until);

  /// Blocking `lease_in`.
  result<std::vector<job>> lease(std::string_view queue, timestamp_ms now,
                                 std::size_t max, timestamp_ms lease_until);

  /// Deletes the pending or leased job `id` (it succeeded), its index entry
  /// and its unique key. Errors: `errc::not_found` (no such job, or it
  /// failed), `errc::corrupt`, LMDB errors.
  result<void> ack_in(write_txn& txn, std::uint64_t id);

  /// Blocking `ack_in`.
  result<void> ack(std::uint64_t id);

  /// Puts the pending or leased job `id` back to pending, due at `due_at`,
  /// with `error` as its last error (cut to 4 KiB); `counts_as_exception`
  /// adds one to its exceptions. Attempts are unchanged: the lease counted
  /// the attempt. Errors: `errc::not_found` (no such job, or it failed),
  /// `errc::corrupt`, LMDB errors.
  result<void> retry_in(write_txn& txn, std::uint64_t id, timestamp_ms due_at,
                        std::string_view error, bool counts_as_exception);

  /// Blocking `retry_in`.
  result<void> retry(std::uint64_t id, timestamp_ms due_at,
                     std::string_view error, bool counts_as_exception);

  /// Moves the pending or leased job `id` to the failed jobs, keeping its
  /// payload, attempts and attempt times, with `error` (cut to 4 KiB) and
  /// failed_at `now`; frees its unique key. Errors: `errc::not_found` (no
  /// such job, or it failed already), `errc::corrupt`, LMDB errors.
  result<void> fail_in(write_txn& txn, std::uint64_t id, std::string_view error,
                       timestamp_ms now);

  /// Blocking `fail_in`.
  result<void> fail(std::uint64_t id, std::string_view error, timestamp_ms now);

  /// Deletes the pending job holding unique key `key`. A leased job (it
  /// runs) is not cancelled.
  /// @returns true when a job was cancelled.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<bool> cancel_by_key_in(write_txn& txn, std::string_view key);

  /// Blocking `cancel_by_key_in`.
  result<bool> cancel_by_key(std::string_view key);

  /// Puts every leased job whose lease_until <= `now` back to pending, due
  /// at `now` (its holder died or hung). Attempts are unchanged, so the
  /// lost attempt counts; the last error says the lease expired.
  /// @returns the number of jobs released.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::size_t> release_expired_in(write_txn& txn, timestamp_ms now);

  /// Blocking `release_expired_in`.
  result<std::size_t> release_expired(timestamp_ms now);

  /// Like `release_expired_in` for every lease, whatever its deadline. Call
  /// once at start, before any lease: the leases are of a process that
  /// ended. @returns the number of jobs released.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::size_t> release_all_leases_in(write_txn& txn, timestamp_ms now);

  /// Blocking `release_all_leases_in`.
  result<std::size_t> release_all_leases(timestamp_ms now);

  // -- failed jobs -----------------------------------------------------------

  /// Lists failed jobs of `queue` (empty: of all queues) with id >
  /// `after_id`, by id, at most `max`. To page, pass the last id seen.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<job>> list_failed(std::string_view queue,
                                       std::uint64_t after_id,
                                       std::size_t max) const;

  /// Puts the failed job `id` back to pending, due at `now`, with attempts,
  /// exceptions, failed_at and the attempt times reset (the last error is
  /// kept). It takes its unique key back if no other job holds it; if one
  /// does, it runs without holding it.
  /// Errors: `errc::not_found` (no such failed job), `errc::corrupt`, LMDB
  /// errors.
  result<void> retry_failed_in(write_txn& txn, std::uint64_t id,
                               timestamp_ms now);

  /// Blocking `retry_failed_in`.
  result<void> retry_failed(std::uint64_t id, timestamp_ms now);

  /// Deletes the failed job `id`. Errors: `errc::not_found` (no such failed
  /// job), `errc::corrupt`, LMDB errors.
  result<void> delete_failed_in(write_txn& txn, std::uint64_t id);

  /// Blocking `delete_failed_in`.
  result<void> delete_failed(std::uint64_t id);

  // -- reads -----------------------------------------------------------------

  /// Reads the job `id`, in any state. Errors: `errc::not_found`,
  /// `errc::corrupt`, LMDB errors.
  result<job> get(std::uint64_t id) const;

  /// Reads the job `id` inside `txn` (seeing its uncommitted changes).
  /// Errors: as `get`.
  result<job> get_in(write_txn& txn, std::uint64_t id) const;

  /// Lists the pending and leased jobs of `queue` (empty: of all queues)
  /// with id > `after_id`, by id, at most `max`. Scans the job records from
  /// `after_id`: meant for inspection, not for the hot path.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<job>> list_pending(std::string_view queue,
                                        std::uint64_t after_id,
                                        std::size_t max) const;

  /// Counts the jobs of `queue` (empty: of all queues) by state; pending
  /// jobs are ready when due_at <= `now`. Errors: `errc::corrupt`, LMDB
  /// errors.
  result<queue_counts> counts(std::string_view queue, timestamp_ms now) const;

  /// Returns the names of the queues that have or had jobs, sorted.
  /// Errors: LMDB errors.
  result<std::vector<std::string>> queues() const;

  /// Returns the earliest due_at of the pending jobs of `queue` (the
  /// supervisor's next wake-up). Errors: `errc::not_found` (no pending
  /// job), `errc::corrupt`, LMDB errors.
  result<timestamp_ms> next_due(std::string_view queue) const;

  /// Returns the earliest lease_until of the leased jobs of `queue` (empty:
  /// of all queues), when `release_expired` has work. Errors:
  /// `errc::not_found` (no leased job), `errc::corrupt`, LMDB errors.
  result<timestamp_ms> next_lease_expiry(std::string_view queue) const;

  /// The writer the blocking forms go through.
  writer& get_writer() const noexcept {
    return writer_;
  }

private:
  struct dbs {
    MDB_dbi jobs, due, leased, failed, unique, meta;
  };

  job_queue(environment& env, writer& w, dbs d);

  /// The index database of jobs in state `s`.
  MDB_dbi index_db(job_state s) const noexcept;
  /// Adds or removes the index entry of `j` for its state.
  result<void> index(MDB_txn* txn, const job& j);
  result<void> unindex(MDB_txn* txn, const job& j);
  /// Deletes `j`'s unique key if `j` holds it.
  result<void> free_unique(MDB_txn* txn, const job& j);
  /// Loads the job `id`, which must not be failed (`want_failed` false)
  /// or must be (true); else `errc::not_found`.
  result<job> load_in_state(MDB_txn* txn, std::uint64_t id,
                            bool want_failed) const;
  result<std::size_t> release_in(write_txn& txn, timestamp_ms deadline,
                                 timestamp_ms now, std::string_view why);

  environment& env_;
  writer& writer_;
  dbs db_;
};

} // namespace switchboard::store
