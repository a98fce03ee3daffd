#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/job_queue.hpp"

namespace switchboard::store {

class record_reader;

/// Most bytes of a correlation id (`X-Correlation-Id`, trace routes).
constexpr std::size_t max_correlation_id = 128;

/// True when `id` may be a correlation id: 1 to `max_correlation_id`
/// bytes of printable ASCII without '/', '?', '#', '%' or spaces (the rule
/// of ids that enter from outside).
bool valid_correlation_id(std::string_view id) noexcept;

/// What became of a job, as its trace entry says.
enum class job_outcome : std::uint8_t {
  pending = 0,   ///< Waiting in its queue (ready or delayed).
  leased = 1,    ///< Running.
  failed = 2,    ///< Out of tries, in the failed jobs.
  succeeded = 3, ///< Acknowledged and deleted from the queue.
  cancelled = 4, ///< Cancelled by its unique key before it ran.
  forgotten = 5, ///< Deleted from the failed jobs.
};

/// Returns the name of `o`, e.g. "succeeded".
const char* to_string(job_outcome o) noexcept;

/// A job as its trace keeps it: the record as of its last change.
struct traced_job {
  job record;
  job_outcome outcome = job_outcome::pending;
  /// When it succeeded, was cancelled or forgotten (0 before).
  timestamp_ms finished_at = 0;
};

/// Everything stored under one correlation id that a reader may see.
struct trace_entries {
  std::vector<std::uint64_t> event_seqs;  ///< Ascending.
  std::vector<traced_job> jobs;           ///< By job id.
  std::vector<std::uint64_t> message_ids; ///< Outbox ids, ascending.
};

/// The causation trace: events, jobs and outbox messages by correlation
/// id, each entry written in the transaction of what it records.
///
/// | database   | key → value                                          |
/// |------------|------------------------------------------------------|
/// | traces     | id length (1 byte), correlation id, kind ('e' event, |
/// |            | 'j' job, 'm' message), 8-byte big-endian sequence or |
/// |            | id → record: the company, and for a job (format 2)   |
/// |            | the key of its end in `trace_done` (0: none there)   |
/// | trace_ends | 8-byte big-endian job id → the company, the outcome,  |
/// |            | the finish time and the job's last record             |
/// | trace_done | the same under a number of its own, for the entries   |
/// |            | that point at it (ends written before trace_ends)     |
///
/// A job costs the trace two small writes: its entry when it is enqueued,
/// and, when it ends (acknowledged, cancelled, forgotten), its record in
/// `trace_ends` under its id. While it lives (pending, leased, failed)
/// the trace reads it from the queue's own record (`read_jobs_from`), so
/// leases and retries write nothing here. Ends keyed by job id land near
/// the right edge of `trace_ends` (jobs end roughly in the order they were
/// enqueued), so the jobs of one commit end in one run of keys whatever
/// their correlation ids, and the entry, in an older page by then, is not
/// written again. Job entries of format 1 (written before, each holding
/// the record as of the job's last change) are still read; a job that has
/// one keeps it up to date at its end; entries that point into
/// `trace_done` are read there.
///
/// Entries without a correlation id, or with one that is not
/// `valid_correlation_id`, are not written. The `*_in` forms run in the
/// writer's transaction; errors are LMDB errors (`poisons_txn`). Reads
/// run in their own read transaction. Thread-safe.
class trace_index {
public:
  /// Opens (creating it if missing) the `traces` database in `env`, which
  /// must outlive the index. Errors: those of `environment::open_db`.
  static result<std::unique_ptr<trace_index>> open(environment& env);

  /// The key prefix of an event's entry (computed off the writer thread);
  /// empty when `correlation_id` is not valid.
  static std::string event_prefix(std::string_view correlation_id);

  /// Records event `seq` of `company_id` under `prefix` (`event_prefix`;
  /// nothing when empty).
  result<void> event_in(MDB_txn* txn, std::string_view prefix,
                        std::string_view company_id, std::uint64_t seq);

  /// Records the entry of the job `j`, just enqueued, under its
  /// correlation id: the trace reads the live job from the queue.
  result<void> job_started_in(MDB_txn* txn, const job& j);

  /// Records the end of `j` (`outcome` succeeded, cancelled or forgotten)
  /// at `finished_at`: its record as it was, kept after the queue deletes
  /// it.
  result<void> job_ended_in(MDB_txn* txn, const job& j, job_outcome outcome,
                            timestamp_ms finished_at);

  /// Where live jobs are read from: the queue's `jobs` database (set by
  /// `job_queue::trace_into`). Without it, live jobs are left out.
  void read_jobs_from(MDB_dbi jobs) noexcept {
    jobs_dbi_ = jobs;
    has_jobs_ = true;
  }

  /// Records outbox message `id` of `company_id` under `correlation_id`.
  result<void> message_in(MDB_txn* txn, std::string_view correlation_id,
                          std::string_view company_id, std::uint64_t id);

  /// Reads the entries of `correlation_id` whose company `visible` accepts,
  /// at most `max_each` of each kind. Errors: `errc::corrupt`, LMDB errors.
  result<trace_entries>
  read(std::string_view correlation_id,
       const std::function<bool(std::string_view company)>& visible,
       std::size_t max_each) const;

private:
  /// The job `id` of an entry of `format` (read up to its company): its
  /// end, or the live job; none when it is neither (it moved away).
  result<std::optional<traced_job>> read_job(MDB_txn* txn, std::uint8_t format,
                                             record_reader& r,
                                             std::uint64_t id) const;

  trace_index(environment& env, MDB_dbi dbi, MDB_dbi done, MDB_dbi ends)
      : env_(env), dbi_(dbi), done_(done), ends_(ends) {}

  environment& env_;
  MDB_dbi dbi_;
  MDB_dbi done_;
  MDB_dbi ends_;
  MDB_dbi jobs_dbi_ = 0;
  bool has_jobs_ = false;
};

} // namespace switchboard::store
