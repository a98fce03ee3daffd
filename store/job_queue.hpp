#pragma once

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/writer.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::store {

/// The first format of job records (read, never written any more).
constexpr std::uint8_t job_format_v1 = 1;

/// The format version written as the first byte of every job record: v1
/// and the company, the event type, the backoff in milliseconds and the
/// attempt history.
constexpr std::uint8_t job_format_v2 = 2;

/// Most attempts a job's history keeps (the latest).
constexpr std::size_t max_attempts_kept = 20;

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

/// One attempt of a job that did not succeed.
struct job_attempt {
  timestamp_ms started_at = 0;   ///< When the attempt was leased.
  std::uint32_t duration_ms = 0; ///< From its start to its failure.
  std::string error;             ///< Why it failed (at most 4 KiB).
};

inline bool operator==(const job_attempt& a, const job_attempt& b) {
  return a.started_at == b.started_at && a.duration_ms == b.duration_ms
         && a.error == b.error;
}

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
  /// The company of the event; jobs are leased fairly across companies.
  /// At most 255 bytes, no NUL. Empty: none (jobs of format v1 that the
  /// migration could not attribute).
  std::string company_id;
  std::string event_type; ///< The event's wire name; at most 255 bytes.
  /// Milliseconds before try n + 1 after attempt n fails; when not empty
  /// it replaces `backoff_s` (the last entry repeats). At most 64 entries.
  std::vector<std::uint32_t> backoff_ms;
  /// store: the failed attempts, oldest first, the last
  /// `max_attempts_kept` of them.
  std::vector<job_attempt> history;
  /// The correlation id of the event (whose id, `event_id`, is the job's
  /// causation); at most 255 bytes. Empty: none (jobs written before).
  std::string correlation_id;
};

/// The record of `j` as the jobs database stores it (for the trace).
std::string encode_job_record(const job& j);

/// Decodes what `encode_job_record` made. Errors: `errc::corrupt`.
result<job> decode_job_record(std::string_view bytes);

class trace_index;
enum class job_outcome : std::uint8_t;

/// Which jobs a listing or a bulk change takes: every field that is not
/// empty must match.
struct job_filter {
  std::string queue;
  std::string listener;
  std::string event_type;
  std::string event_id;
  std::string company_id;

  /// True when `j` passes the filter.
  bool matches(const job& j) const noexcept;
};

/// Which pending, leased or failed jobs a listing takes.
enum class job_list_state : std::uint8_t {
  pending, ///< Ready and delayed.
  ready,   ///< Pending with due_at <= now.
  delayed, ///< Pending with due_at > now.
  leased,
  failed,
};

/// Returns the name of `s`, e.g. "delayed".
const char* to_string(job_list_state s) noexcept;

/// Parses a name of `to_string(job_list_state)`; false when unknown.
bool parse_job_list_state(std::string_view text, job_list_state& out) noexcept;

/// A page of a listing.
struct job_page {
  std::vector<job> jobs;
  /// Pass as `after_id` for the next page; 0 when there is none.
  std::uint64_t next_after = 0;
};

/// Counters of one (queue, listener, company), kept in LMDB and changed in
/// the transactions of the acks, retries and fails they count.
struct job_counters {
  std::string queue;
  std::string listener;
  std::string company_id;
  std::uint64_t processed = 0; ///< Attempts that succeeded (acks).
  std::uint64_t failed = 0;    ///< Jobs moved to the failed jobs.
  std::uint64_t retried = 0;   ///< Failed attempts scheduled again.
};

/// Tells the migration of v1 records the company and event type of the
/// event at a sequence; false when unknown.
using job_event_lookup = std::function<bool(
    std::uint64_t event_seq, std::string& company_id, std::string& type)>;

/// What `enqueue_in` did.
struct enqueue_outcome {
  /// The new job's id, or that of the pending or leased job holding the
  /// same unique key.
  std::uint64_t id = 0;
  /// False when a job with the same unique key was already there.
  bool created = false;
};

/// A company's oldest pending job in a queue (job_queue::pending_heads).
struct pending_head {
  std::string queue;
  std::string company_id;
  timestamp_ms due_at = 0;
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

/// Milliseconds to wait before the next try after attempt `j.attempts`
/// failed: from `backoff_ms` when it is not empty, else from `backoff_s`.
std::int64_t backoff_delay_ms(const job& j) noexcept;

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
/// | jobs_meta   | "next_id" → id; "queue/<name>" → (empty); |              |
/// |             | "rr/<queue>" → last company leased;       |              |
/// |             | "format" → 2 once v1 records are migrated |              |
/// | jobs_due_company | queue NUL company → (due_at, id), ... | DUPSORT/FIXED |
/// | jobs_counters | queue NUL listener NUL company → processed, failed,
/// retried | |
///
/// Leasing is fair across companies: it walks the companies of a queue
/// that have pending jobs (`jobs_due_company`) round-robin from the one
/// after the company leased last (kept in `jobs_meta`, so a restart goes
/// on where it stopped), and takes each ready company's earliest due job
/// in turn. A lease costs O(batch) seeks plus one per company whose jobs
/// are all delayed, whatever the number of jobs. The number of pending,
/// leased and failed jobs of a queue is LMDB's count of its duplicates;
/// telling ready from delayed ones reads the due entries a page at a time
/// up to `now` (a binary search in the last page).
///
/// Records of format v1 (without company) are rewritten as v2 when the
/// queue opens, the company and event type taken from `lookup`.
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
/// The blocking forms (of the admin changes the CLI makes; tests find the
/// others in tests/store/job_queue_blocking.hpp) run the `*_in` form as one
/// writer operation and wait for its commit; they must not be called on the
/// writer thread or while holding a read transaction. They add
/// `errc::closed` and commit errors to the errors of their `*_in` form. Reads
/// run in their own read transaction on the calling thread. Thread-safe.
class job_queue {
public:
  /// Opens (creating them if missing) the queue's databases in `env` and
  /// returns a queue that writes through `w`. Both must outlive it. A
  /// store with records of format v1 is migrated in one transaction
  /// through `w` (which must run), each job's company and event type taken
  /// from `lookup` (empty when it is unset or does not know the event).
  /// Errors: those of `environment::open_db`, `errc::corrupt`, LMDB errors.
  static result<std::unique_ptr<job_queue>> open(environment& env, writer& w,
                                                 job_event_lookup lookup = {});

  // -- the outbox ------------------------------------------------------------

  /// Enqueues `j` as a pending job due at `j.due_at`, with the store fields
  /// reset (attempts 0, state pending, ...). When `j.unique_key` is held by
  /// a pending or leased job, enqueues nothing and returns that job's id.
  /// @returns the job's id and whether it was created.
  /// Errors: `errc::invalid_argument` (the size rules of `job`),
  /// `errc::corrupt`, LMDB errors.
  result<enqueue_outcome> enqueue_in(write_txn& txn, const job& j);

  // -- the supervisor's cycle -------------------------------------------------

  /// Leases up to `max` pending jobs of `queue` with due_at <= `now`, one
  /// per company with ready jobs in turn (round-robin from the company
  /// after the one leased last), each company's earliest due first (ties
  /// by id): each gets state leased, attempts + 1,
  /// last_attempt_at `now` (and first_attempt_at on its first attempt) and
  /// `lease_until`, after which `release_expired_in` takes it back.
  /// @returns the leased jobs as stored after the lease; empty when none is
  /// due or `max` is 0. An unknown queue has no jobs.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<job>> lease_in(write_txn& txn, std::string_view queue,
                                    timestamp_ms now, std::size_t max,
                                    timestamp_ms lease_until);

  /// Deletes the pending or leased job `id` (it succeeded), its index entry
  /// and its unique key; counts it as processed. Errors: `errc::not_found` (no
  /// such job, or it failed), `errc::corrupt`, LMDB errors.
  result<void> ack_in(write_txn& txn, std::uint64_t id);

  /// Puts the pending or leased job `id` back to pending, due at `due_at`,
  /// with `error` as its last error (cut to 4 KiB); `counts_as_exception`
  /// adds one to its exceptions. Attempts are unchanged: the lease counted
  /// the attempt. A leased job's attempt goes to its history (ended at
  /// `now`; 0: when it started) and counts as retried. Errors:
  /// `errc::not_found` (no such job, or it failed), `errc::corrupt`, LMDB
  /// errors.
  result<void> retry_in(write_txn& txn, std::uint64_t id, timestamp_ms due_at,
                        std::string_view error, bool counts_as_exception,
                        timestamp_ms now = 0);

  /// Moves the pending or leased job `id` to the failed jobs, keeping its
  /// payload, attempts and attempt times, with `error` (cut to 4 KiB) and
  /// failed_at `now`; frees its unique key. A leased job's attempt goes to
  /// its history; the job counts as failed. Errors: `errc::not_found` (no
  /// such job, or it failed already), `errc::corrupt`, LMDB errors.
  result<void> fail_in(write_txn& txn, std::uint64_t id, std::string_view error,
                       timestamp_ms now);

  /// Deletes the pending job holding unique key `key`. A leased job (it
  /// runs) is not cancelled.
  /// @returns true when a job was cancelled.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<bool> cancel_by_key_in(write_txn& txn, std::string_view key);

  /// Removes every pending job (ready or delayed, all queues) of
  /// `company` and returns them in id order: a company moving to another
  /// cluster member takes its jobs along. Failed jobs stay. Errors:
  /// `errc::version_conflict` while a job of the company is leased (try
  /// again once it is done; nothing is removed), LMDB errors.
  result<std::vector<job>> take_company_in(write_txn& txn,
                                           std::string_view company);

  /// Stores `j`, a failed job of another cluster member (its record as
  /// that member kept it), among the failed jobs under a new id, with its
  /// attempts, errors and history; it holds no unique key and counts
  /// nothing again. @returns its id. Errors: `errc::invalid_argument` (not
  /// a failed job, or what `enqueue_in` refuses), LMDB errors.
  result<std::uint64_t> restore_failed_in(write_txn& txn, const job& j);

  /// Puts every leased job whose lease_until <= `now` back to pending, due
  /// at `now` (its holder died or hung). Attempts are unchanged, so the
  /// lost attempt counts; the last error says the lease expired.
  /// @returns the number of jobs released.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::size_t> release_expired_in(write_txn& txn, timestamp_ms now);

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

  /// Retries (as `retry_failed_in`) up to `max` failed jobs that match
  /// `f`, by id. @returns how many. Errors: `errc::corrupt`, LMDB errors.
  result<std::size_t> retry_failed_where_in(write_txn& txn, const job_filter& f,
                                            timestamp_ms now, std::size_t max);

  /// Retries every failed job that matches `f`, `batch` per transaction.
  /// @returns how many. Errors: as `retry_failed_where_in`.
  result<std::size_t> retry_failed_where(const job_filter& f, timestamp_ms now,
                                         std::size_t batch = 1000);

  /// Deletes up to `max` failed jobs that match `f`, by id (Horizon's
  /// flush). @returns how many. Errors: `errc::corrupt`, LMDB errors.
  result<std::size_t>
  delete_failed_where_in(write_txn& txn, const job_filter& f, std::size_t max);

  /// Deletes every failed job that matches `f`, `batch` per transaction.
  /// @returns how many. Errors: as `delete_failed_where_in`.
  result<std::size_t> delete_failed_where(const job_filter& f,
                                          std::size_t batch = 1000);

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

  /// Lists the jobs in state `state` that match `f`, by id, from id >
  /// `after_id`, at most `max`, reading at most `scan` records (a page may
  /// then hold fewer than `max`; `next_after` goes on). Meant for
  /// inspection: failed jobs are read through their index, the others by a
  /// scan of the records. Errors: `errc::corrupt`, LMDB errors.
  result<job_page> list(const job_filter& f, job_list_state state,
                        timestamp_ms now, std::uint64_t after_id,
                        std::size_t max, std::size_t scan = 100000) const;

  /// Counts the jobs of `queue` (empty: of all queues) by state; pending
  /// jobs are ready when due_at <= `now`. Errors: `errc::corrupt`, LMDB
  /// errors.
  result<queue_counts> counts(std::string_view queue, timestamp_ms now) const;

  /// Counts the jobs of `queue` whose company is `company_id`: pending ones
  /// through `jobs_due_company`, leased and failed ones by reading the
  /// queue's leased and failed records. Errors: `errc::corrupt`, LMDB
  /// errors.
  result<queue_counts> company_counts(std::string_view queue,
                                      std::string_view company_id,
                                      timestamp_ms now) const;

  /// The counters of `queue` (empty: every queue) and `company_id` (empty:
  /// every company), one row per (queue, listener, company), sorted.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<job_counters>> counters(std::string_view queue,
                                             std::string_view company_id) const;

  /// Returns the names of the queues that have or had jobs, sorted.
  /// Errors: LMDB errors.
  result<std::vector<std::string>> queues() const;

  /// Returns the earliest due_at of the pending jobs of `queue` (the
  /// supervisor's next wake-up). Errors: `errc::not_found` (no pending
  /// job), `errc::corrupt`, LMDB errors.
  result<timestamp_ms> next_due(std::string_view queue) const;

  /// The events (company, event id) of `listener`'s jobs that are
  /// pending, leased or failed, read in `txn` (a replay marks them handled
  /// in the transaction that replaces what they would add to). Reads every
  /// live job record. Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<std::pair<std::string, std::string>>>
  live_events_in(write_txn& txn, std::string_view listener) const;

  /// The earliest due_at of each company's pending jobs in each queue (one
  /// row per queue and company with a pending job), for the queues' lag.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<pending_head>> pending_heads() const;

  /// Returns the earliest lease_until of the leased jobs of `queue` (empty:
  /// of all queues), when `release_expired` has work. Errors:
  /// `errc::not_found` (no leased job), `errc::corrupt`, LMDB errors.
  result<timestamp_ms> next_lease_expiry(std::string_view queue) const;

  /// The writer the blocking forms go through.
  writer& get_writer() const noexcept {
    return writer_;
  }

  /// Records every job with a correlation id in `traces` (traces.hpp) in
  /// the transactions that enqueue it and end it (ack, cancel, forget),
  /// and lets the trace read live jobs from this queue; null: none. Set it
  /// before the first write; it must outlive the queue.
  void trace_into(trace_index* traces) noexcept;

private:
  struct dbs {
    MDB_dbi jobs, due, leased, failed, unique, meta, due_company, counters;
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
  /// Loads the job `id` as `load_in_state` does and removes its index
  /// entry: the first step of a change of its state.
  result<job> unindex_in_state(MDB_txn* txn, std::uint64_t id,
                               bool want_failed);
  /// Unindexes the pending or leased job `id` as `unindex_in_state` does
  /// and frees its unique key: the first step of an ack or a fail.
  result<job> unindex_leaving(MDB_txn* txn, std::uint64_t id);
  /// Writes `j` and adds its index entry: the last step of a change of its
  /// state.
  result<void> store_indexed(MDB_txn* txn, const job& j);
  result<std::size_t> release_in(write_txn& txn, timestamp_ms deadline,
                                 timestamp_ms now, std::string_view why);
  /// Adds `processed`, `failed` and `retried` to the counters of `j`.
  result<void> count(MDB_txn* txn, const job& j, std::uint64_t processed,
                     std::uint64_t failed, std::uint64_t retried);
  /// Leases the pending job `id` of `queue` (lease_in's step).
  result<job> lease_one(MDB_txn* txn, std::uint64_t id, std::string_view queue,
                        timestamp_ms now, timestamp_ms lease_until);
  /// Rewrites v1 records as v2 and indexes them by company.
  result<void> migrate(write_txn& txn, const job_event_lookup& lookup);

  /// Writes the trace entry of `j` (nothing without a trace index or a
  /// correlation id).
  result<void> trace(MDB_txn* txn, const job& j, job_outcome outcome,
                     timestamp_ms finished_at);

  environment& env_;
  writer& writer_;
  dbs db_;
  trace_index* traces_ = nullptr;
};

} // namespace switchboard::store
