// The job queue's failed jobs: listing, retrying and deleting them, one
// at a time or by filter.
#include "store/job_queue_detail.hpp"
#include "store/traces.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <tuple>

namespace switchboard::store {

using namespace job_detail;

// -- failed jobs
// ------------------------------------------------------------------

result<std::vector<job>> job_queue::list_failed(std::string_view queue,
                                                std::uint64_t after_id,
                                                std::size_t max) const {
  return guarded("job_queue::list_failed", [&]() -> result<std::vector<job>> {
    std::vector<job> out;
    if (max == 0 || after_id == std::numeric_limits<std::uint64_t>::max()
        || queue.size() > max_name_size)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto ids = failed_ids(txn->handle(), db_.failed, queue, after_id, max);
    if (!ids)
      return make_unexpected(ids.error());
    out.reserve(ids->size());
    for (auto id : *ids) {
      auto j = load_job(txn->handle(), db_.jobs, id);
      if (!j)
        return make_unexpected(j.error());
      out.push_back(std::move(*j));
    }
    return out;
  });
}

result<void> job_queue::retry_failed_in(write_txn& txn, std::uint64_t id,
                                        timestamp_ms now) {
  return guarded("job_queue::retry_failed_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = unindex_in_state(t, id, true);
    if (!j)
      return make_unexpected(j.error());
    j->state = job_state::pending;
    j->due_at = now;
    j->attempts = 0;
    j->exceptions = 0;
    j->first_attempt_at = 0;
    j->last_attempt_at = 0;
    j->failed_at = 0;
    if (auto ok = store_indexed(t, *j); !ok)
      return ok;
    if (!j->unique_key.empty()) {
      id_key k{id};
      auto key = as_val(j->unique_key);
      auto val = k.val();
      auto rc = mdb_put(t, db_.unique, &key, &val, MDB_NOOVERWRITE);
      if (rc != 0 && rc != MDB_KEYEXIST)
        return fail_mdb(rc, "mdb_put(jobs_unique)");
    }
    return {};
  });
}

result<std::uint64_t> job_queue::restore_failed_in(write_txn& txn,
                                                   const job& j) {
  if (j.state != job_state::failed)
    return err(errc::invalid_argument, "restore_failed_in: not a failed job");
  // Enqueued without its unique key (a failed job holds none), then made
  // what it was.
  job pending = j;
  pending.unique_key.clear();
  auto added = enqueue_in(txn, pending);
  if (!added)
    return make_unexpected(added.error());
  return guarded("job_queue::restore_failed_in",
                 [&]() -> result<std::uint64_t> {
                   auto* t = txn.handle();
                   auto rec = load_job(t, db_.jobs, added->id);
                   if (!rec)
                     return make_unexpected(rec.error());
                   if (auto ok = unindex(t, *rec); !ok)
                     return make_unexpected(ok.error());
                   rec->state = job_state::failed;
                   rec->unique_key = j.unique_key;
                   rec->attempts = j.attempts;
                   rec->exceptions = j.exceptions;
                   rec->first_attempt_at = j.first_attempt_at;
                   rec->last_attempt_at = j.last_attempt_at;
                   rec->failed_at = j.failed_at;
                   rec->last_error = j.last_error;
                   rec->history = j.history;
                   if (auto ok = store_indexed(t, *rec); !ok)
                     return make_unexpected(ok.error());
                   return added->id;
                 });
}

result<void> job_queue::retry_failed(std::uint64_t id, timestamp_ms now) {
  return run_blocking<void>(writer_, "job_queue::retry_failed",
                            [&](write_txn& txn) {
                              return retry_failed_in(txn, id, now);
                            });
}

result<void> job_queue::delete_failed_in(write_txn& txn, std::uint64_t id) {
  return guarded("job_queue::delete_failed_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = unindex_in_state(t, id, true);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = delete_job(t, db_.jobs, id); !ok)
      return ok;
    return trace(t, *j, job_outcome::forgotten, wall_ms());
  });
}

result<void> job_queue::delete_failed(std::uint64_t id) {
  return run_blocking<void>(writer_, "job_queue::delete_failed",
                            [&](write_txn& txn) {
                              return delete_failed_in(txn, id);
                            });
}

namespace {

/// Calls `act(id)` for each failed job that `f` matches, in id order, at
/// most `max` of them; returns how many.
template <class Act>
result<std::size_t> each_failed_where(MDB_txn* t, MDB_dbi failed, MDB_dbi jobs,
                                      const job_filter& f, std::size_t max,
                                      Act act) {
  std::size_t done = 0;
  std::uint64_t after = 0;
  while (done < max) {
    auto ids = failed_ids(t, failed, f.queue, after, 1024);
    if (!ids)
      return make_unexpected(ids.error());
    if (ids->empty())
      break;
    for (auto id : *ids) {
      after = id;
      if (done >= max)
        break;
      auto j = load_job(t, jobs, id);
      if (!j)
        return make_unexpected(j.error());
      if (!f.matches(*j))
        continue;
      if (auto r = act(id); !r)
        return make_unexpected(r.error());
      ++done;
    }
  }
  return done;
}

/// Runs `op(txn, batch)` in write transactions of its own until one does
/// fewer than `batch`; returns the sum.
template <class Op>
result<std::size_t> in_batches(writer& w, const char* what, std::size_t batch,
                               Op op) {
  std::size_t total = 0;
  batch = std::max<std::size_t>(batch, 1);
  for (;;) {
    auto n = run_blocking<std::size_t>(w, what, [&](write_txn& txn) {
      return op(txn, batch);
    });
    if (!n)
      return n;
    total += *n;
    if (*n < batch)
      return total;
  }
}

} // namespace

result<std::size_t> job_queue::retry_failed_where_in(write_txn& txn,
                                                     const job_filter& f,
                                                     timestamp_ms now,
                                                     std::size_t max) {
  return guarded("job_queue::retry_failed_where_in", [&] {
    return each_failed_where(txn.handle(), db_.failed, db_.jobs, f, max,
                             [&](std::uint64_t id) {
                               return retry_failed_in(txn, id, now);
                             });
  });
}

result<std::size_t> job_queue::retry_failed_where(const job_filter& f,
                                                  timestamp_ms now,
                                                  std::size_t batch) {
  return in_batches(writer_, "job_queue::retry_failed_where", batch,
                    [&](write_txn& txn, std::size_t n) {
                      return retry_failed_where_in(txn, f, now, n);
                    });
}

result<std::size_t> job_queue::delete_failed_where_in(write_txn& txn,
                                                      const job_filter& f,
                                                      std::size_t max) {
  return guarded("job_queue::delete_failed_where_in", [&] {
    return each_failed_where(txn.handle(), db_.failed, db_.jobs, f, max,
                             [&](std::uint64_t id) {
                               return delete_failed_in(txn, id);
                             });
  });
}

result<std::size_t> job_queue::delete_failed_where(const job_filter& f,
                                                   std::size_t batch) {
  return in_batches(writer_, "job_queue::delete_failed_where", batch,
                    [&](write_txn& txn, std::size_t n) {
                      return delete_failed_where_in(txn, f, n);
                    });
}

} // namespace switchboard::store
