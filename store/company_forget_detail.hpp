#pragma once

// What the two sources of a company's forget share (store/company_forget.cpp:
// finding and deleting its events, and the forget itself;
// store/company_forget_jobs.cpp: its jobs, messages, traces and the
// rest): the databases, the plan of what goes, and the helpers both walk
// them with. Not for other parts: they include store/company_forget.hpp.

#include "store/company_forget.hpp"
#include "store/cursor_detail.hpp"
#include "store/job_queue.hpp"
#include "store/lmdb_util.hpp"
#include "store/outbox.hpp"

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::store::forget_detail {

using opt_dbi = std::optional<MDB_dbi>;

/// The databases a forget reads and writes.
struct handles {
  opt_dbi events, streams, event_ids, by_type, by_time, by_company, by_ref,
      listed, checkpoints;
  opt_dbi audit;
  opt_dbi jobs, due, failed, unique, meta, due_company, counters;
  opt_dbi outbox, outbox_ids;
  opt_dbi traces, trace_done, trace_ends;
  opt_dbi processed, proj_counters, proj_values, stats, parked;
};

/// Calls `fn(key, value)` for every entry of `dbi` (none when absent);
/// `fn` returns an error to stop with it.
template <class F>
result<void> each_entry(MDB_txn* t, const opt_dbi& dbi, const char* what,
                        F fn) {
  if (!dbi)
    return {};
  return cursor_detail::each_entry(
      t, *dbi, "mdb_cursor_open", what,
      [&](std::string_view key, const MDB_val& val) -> result<void> {
        return fn(as_val(key), val);
      });
}

/// Calls `fn(key)` for every key of `dbi` that starts with `prefix`.
template <class F>
result<void> each_with_prefix(MDB_txn* t, const opt_dbi& dbi,
                              std::string_view prefix, const char* what, F fn) {
  if (!dbi)
    return {};
  return cursor_detail::each_with_prefix(t, *dbi, prefix, "mdb_cursor_open",
                                         what, fn);
}

/// Deletes `key` from `dbi`; false when it was not there.
inline result<bool> del(MDB_txn* t, MDB_dbi dbi, std::string_view key,
                        const char* what) {
  auto k = as_val(key);
  auto rc = mdb_del(t, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != 0)
    return fail_mdb(rc, what);
  return true;
}

inline std::string be64_key(std::uint64_t x) {
  std::string k(8, '\0');
  put_be64(k.data(), x);
  return k;
}

/// One of the company's events, as far as its index entries need it.
struct company_event {
  std::uint64_t seq = 0;
  std::string id;
  std::string type;
  timestamp_ms occurred_at = 0;
};

/// Everything a forget deletes, found before anything is written.
struct plan {
  std::vector<company_event> events;                     ///< By sequence.
  std::set<std::pair<std::string, std::string>> streams; ///< Type, id.
  std::set<std::uint64_t> slots;        ///< The company's stream slots.
  std::vector<std::string> stream_keys; ///< Of the streams database.
  std::vector<std::string> ref_keys;    ///< Of by_ref.
  std::vector<std::string> listed_keys; ///< Of listed.
  std::set<std::string> correlations;   ///< Of events, jobs, messages.
  std::vector<std::string> mark_keys;   ///< Of processed_marks.
  std::vector<job> jobs;
  std::vector<std::string> meta_keys;    ///< "rr/<queue>" at the company.
  std::vector<std::string> counter_keys; ///< Of jobs_counters.
  std::vector<outbound_message> messages;
  /// Trace entries, and their ends in trace_done (0: none).
  std::vector<std::pair<std::string, std::uint64_t>> trace_keys;
  std::vector<std::string> proj_counter_keys, proj_value_keys;
  std::vector<std::string> stats_keys, parked_keys;
};

/// Deletes each of `keys` from `dbi`; returns how many were there.
result<std::uint64_t> del_all(MDB_txn* t, const opt_dbi& dbi,
                              const std::vector<std::string>& keys,
                              const char* what);

// -- in store/company_forget_jobs.cpp ----------------------------------------

result<void> find_jobs(MDB_txn* t, const handles& h, std::string_view company,
                       plan& p);
result<void> find_messages(MDB_txn* t, const handles& h,
                           std::string_view company, plan& p);
result<void> find_traces(MDB_txn* t, const handles& h, std::string_view company,
                         plan& p);
result<void> find_rest(MDB_txn* t, const handles& h, std::string_view company,
                       plan& p);
result<void> forget_jobs(MDB_txn* t, const handles& h, const plan& p,
                         forget_counts& n);
result<void> forget_messages(MDB_txn* t, const handles& h, const plan& p,
                             forget_counts& n);
result<void> forget_traces(MDB_txn* t, const handles& h, const plan& p,
                           forget_counts& n);
result<void> forget_rest(MDB_txn* t, const handles& h, const plan& p,
                         forget_counts& n);

} // namespace switchboard::store::forget_detail
