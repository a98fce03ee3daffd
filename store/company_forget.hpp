#pragma once

// Forgetting a company: deleting what one company has in a node's store
// (`switchboard cluster forget COMPANY`, once the company has moved to
// another cluster member, which keeps its own copy). Its tenancy
// (tenants.hpp: the company, its tokens, revoked tokens and settings) is
// not touched: the company lives on elsewhere in the cluster.
//
// What goes, by database:
//
// | what          | databases                                           |
// |---------------|-----------------------------------------------------|
// | events        | events, streams, event_ids, by_type, by_time,       |
// |               | by_company, by_ref, listed                          |
// | audit records | audit                                               |
// | jobs          | jobs (pending, delayed, failed), jobs_due,          |
// |               | jobs_failed, jobs_due_company, jobs_unique, the     |
// |               | company's rows of jobs_counters and its round-robin |
// |               | place in jobs_meta; cluster_parked                  |
// | messages      | outbox, outbox_ids                                  |
// | traces        | traces, trace_ends, trace_done                      |
// | the rest      | processed_marks, proj_counters, proj_values,        |
// |               | stats_minutes                                       |
//
// The event log keeps a gap where the company's events were: the
// sequences are recorded in `events_forgotten` and never given again
// (company_forget.cpp explains why and what relies on the log having no
// gaps).

#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/event_store.hpp"

#include <cstdint>
#include <string_view>

namespace switchboard::store {

/// What a forget deleted: records, not the index entries that went with
/// them.
struct forget_counts {
  std::uint64_t events = 0; ///< Event records.
  std::uint64_t audit = 0;  ///< Audit records.
  /// Job records in any state, and parked jobs (cluster_parked).
  std::uint64_t jobs = 0;
  std::uint64_t outbox = 0; ///< Outbox messages.
  std::uint64_t traces = 0; ///< Entries of traces and trace_done.
  /// Processed marks, projection counters and values, minute buckets
  /// and rows of job counters.
  std::uint64_t other = 0;
};

/// How `forget_company` reaches what the event store keeps in memory.
struct forget_options {
  /// The event store's stream hash (`event_store_config::hash`); null:
  /// `event_store::default_stream_hash`.
  stream_hash_fn hash = nullptr;
  /// True when an event store is open on the environment (the daemon's)
  /// and is not told of the forget: its stream index in memory holds the
  /// entries of the events past the checkpoint `streams_index`, which
  /// the forget cannot reach, and which a later flush would write back
  /// pointing at deleted events. The forget then refuses while the
  /// company has an event past that checkpoint. False: no event store is
  /// open on the environment (its next open rebuilds the index from the
  /// log as the forget left it).
  bool live_stream_index = true;
};

/// Deletes everything `company` has in the store (see above) inside
/// `txn`: a failed commit, or an abort, keeps all of it. Checks before it
/// writes: when it returns `errc::invalid_argument` or
/// `errc::version_conflict` it has written nothing and `txn` is usable;
/// other errors (`poisons_txn`) lose the transaction: return them from
/// the op. A second forget of the same company deletes nothing and
/// returns zeros.
///
/// Databases are looked up through `txn` (the environment's handles, and
/// those the process has not opened yet), never created, except
/// `events_forgotten`; a database the store never had holds nothing to
/// forget. The walks are by key where the company is part of one (its
/// events through by_company, its minute buckets, its parked jobs) and
/// whole scans elsewhere (jobs, outbox, by_ref, listed, jobs_counters,
/// proj_counters, proj_values): the node's writes wait for it, as for
/// any write transaction; meant for a rare admin operation.
///
/// Projection keys are the company's when one of their '/'-separated
/// segments is `company=<company>` (listeners' projection_keys); processed
/// marks when they name the company and one of its events.
///
/// @param company 1 to 255 bytes, no NUL, no '/'.
/// Errors: `errc::invalid_argument` (the company; `env` is not the
/// environment of `txn`; stream keys of format 1, not yet migrated; a
/// stream of another company sits past one of the company's on its
/// hash's probe path, and would no longer be found), `errc::version_conflict`
/// (a job of the company is leased, or, with `live_stream_index`, an
/// event of it is past the streams checkpoint: try again later),
/// `errc::corrupt`, LMDB errors.
result<forget_counts> forget_company(write_txn& txn, environment& env,
                                     std::string_view company,
                                     const forget_options& opts = {});

} // namespace switchboard::store
