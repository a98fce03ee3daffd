#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/job_queue.hpp"

namespace switchboard::store {

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
/// id, in one database of its own (`traces`), each entry written in the
/// transaction of what it records. Key: the correlation id's length (one
/// byte), the id, a kind byte ('e' event, 'j' job, 'm' message) and the
/// 8-byte big-endian sequence or id; value: a record (format 1) holding
/// the company and, for a job, its outcome, finish time and job record.
/// A job's entry is rewritten on each change of the job, so that the
/// trace keeps the outcome of jobs the queue has deleted (acknowledged).
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

  /// Records (or rewrites) the entry of `j` under its correlation id.
  result<void> job_in(MDB_txn* txn, const job& j, job_outcome outcome,
                      timestamp_ms finished_at);

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
  trace_index(environment& env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}
  environment& env_;
  MDB_dbi dbi_;
};

} // namespace switchboard::store
