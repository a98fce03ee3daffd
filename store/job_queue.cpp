// The job queue's writes: opening it, enqueueing, leasing, acking,
// retrying, failing and releasing jobs. Reads are in job_queue_read.cpp,
// failed jobs in job_queue_failed.cpp.
#include "store/job_queue.hpp"
#include "store/cursor_detail.hpp"
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

namespace {

/// `j` once `step(*j)` succeeded: the error of either otherwise.
template <class Step>
result<job> then(result<job> j, Step step) {
  if (!j)
    return j;
  if (auto ok = step(*j); !ok)
    return make_unexpected(ok.error());
  return j;
}

} // namespace

// -- construction -------------------------------------------------------------

job_queue::job_queue(environment& env, writer& w, dbs d)
    : env_(env), writer_(w), db_(d) {
  // nop
}

result<std::unique_ptr<job_queue>> job_queue::open(environment& env, writer& w,
                                                   job_event_lookup lookup) {
  return guarded(
      "job_queue::open", [&]() -> result<std::unique_ptr<job_queue>> {
        dbs d{};
        constexpr unsigned dups = MDB_DUPSORT | MDB_DUPFIXED;
        if (auto ok = open_dbs(env, {{jobs_db, 0, &d.jobs},
                                     {due_db, dups, &d.due},
                                     {leased_db, dups, &d.leased},
                                     {failed_db, dups, &d.failed},
                                     {unique_db, 0, &d.unique},
                                     {meta_db, 0, &d.meta},
                                     {due_company_db, dups, &d.due_company},
                                     {counters_db, 0, &d.counters}});
            !ok)
          return make_unexpected(ok.error());
        std::unique_ptr<job_queue> q{new job_queue(env, w, d)};
        // Is there anything of format v1?
        bool current = false;
        {
          auto txn = env.begin_read();
          if (!txn)
            return make_unexpected(txn.error());
          auto key = as_val(format_key);
          MDB_val val;
          auto rc = mdb_get(txn->handle(), d.meta, &key, &val);
          if (rc == 0)
            current = val.mv_size == 1
                      && *static_cast<const unsigned char*>(val.mv_data)
                             >= job_format_v2;
          else if (rc != MDB_NOTFOUND)
            return fail_mdb(rc, "mdb_get(jobs_meta)");
        }
        if (!current) {
          auto* raw = q.get();
          auto done = run_blocking<bool>(
              w, "job_queue::migrate",
              [raw, &lookup](write_txn& txn) -> result<bool> {
                if (auto r = raw->migrate(txn, lookup); !r)
                  return make_unexpected(r.error());
                return true;
              });
          if (!done)
            return make_unexpected(done.error());
        }
        return q;
      });
}

// -- private helpers
// ------------------------------------------------------------

MDB_dbi job_queue::index_db(job_state s) const noexcept {
  switch (s) {
  case job_state::pending:
    return db_.due;
  case job_state::leased:
    return db_.leased;
  case job_state::failed:
    break;
  }
  return db_.failed;
}

result<void> job_queue::index(MDB_txn* txn, const job& j) {
  index_val iv{j};
  auto key = as_val(j.queue);
  auto val = iv.val();
  if (auto rc = mdb_put(txn, index_db(j.state), &key, &val, MDB_NODUPDATA);
      rc != 0) {
    if (rc == MDB_KEYEXIST)
      return err(errc::corrupt, "job index: entry stored twice");
    return fail_mdb(rc, "mdb_put(job index)");
  }
  if (j.state == job_state::pending) {
    auto ck = company_key(j.queue, j.company_id);
    auto ckey = as_val(ck);
    if (auto rc = mdb_put(txn, db_.due_company, &ckey, &val, MDB_NODUPDATA);
        rc != 0) {
      if (rc == MDB_KEYEXIST)
        return err(errc::corrupt, "jobs_due_company: entry stored twice");
      return fail_mdb(rc, "mdb_put(jobs_due_company)");
    }
  }
  return {};
}

void job_queue::trace_into(trace_index* traces) noexcept {
  traces_ = traces;
  if (traces != nullptr)
    traces->read_jobs_from(db_.jobs);
}

result<void> job_queue::trace(MDB_txn* txn, const job& j, job_outcome outcome,
                              timestamp_ms finished_at) {
  if (traces_ == nullptr || j.correlation_id.empty())
    return {};
  return traces_->job_ended_in(txn, j, outcome, finished_at);
}

result<void> job_queue::unindex(MDB_txn* txn, const job& j) {
  return unindex_job(txn, index_db(j.state), db_.due_company, j);
}

result<void> job_queue::count(MDB_txn* txn, const job& j,
                              std::uint64_t processed, std::uint64_t failed,
                              std::uint64_t retried) {
  auto k = counters_key(j.queue, j.listener, j.company_id);
  auto key = as_val(k);
  MDB_val val;
  std::uint64_t n[3] = {0, 0, 0};
  auto rc = mdb_get(txn, db_.counters, &key, &val);
  if (rc == 0) {
    if (val.mv_size != 24)
      return err(errc::corrupt, "jobs_counters: bad value size");
    for (int i = 0; i < 3; ++i)
      n[i] = get_be64(static_cast<const char*>(val.mv_data) + 8 * i);
  } else if (rc != MDB_NOTFOUND) {
    return fail_mdb(rc, "mdb_get(jobs_counters)");
  }
  n[0] += processed;
  n[1] += failed;
  n[2] += retried;
  char buf[24];
  for (int i = 0; i < 3; ++i)
    put_be64(buf + 8 * i, n[i]);
  auto v = as_val(buf, 24);
  if (rc = mdb_put(txn, db_.counters, &key, &v, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(jobs_counters)");
  return {};
}

result<void> job_queue::free_unique(MDB_txn* txn, const job& j) {
  return free_unique_key(txn, db_.unique, j);
}

result<job> job_queue::load_in_state(MDB_txn* txn, std::uint64_t id,
                                     bool want_failed) const {
  auto j = load_job(txn, db_.jobs, id);
  if (!j)
    return j;
  if ((j->state == job_state::failed) != want_failed)
    return err(errc::not_found,
               "no " + std::string{want_failed ? "failed" : "pending or leased"}
                   + " job " + std::to_string(id));
  return j;
}

result<job> job_queue::unindex_in_state(MDB_txn* txn, std::uint64_t id,
                                        bool want_failed) {
  return then(load_in_state(txn, id, want_failed), [&](const job& j) {
    return unindex(txn, j);
  });
}

result<job> job_queue::unindex_leaving(MDB_txn* txn, std::uint64_t id) {
  return then(unindex_in_state(txn, id, false), [&](const job& j) {
    return free_unique(txn, j);
  });
}

result<void> job_queue::store_indexed(MDB_txn* txn, const job& j) {
  if (auto ok = store_job(txn, db_.jobs, j, 0); !ok)
    return ok;
  return index(txn, j);
}

result<void> job_queue::migrate(write_txn& txn,
                                const job_event_lookup& lookup) {
  auto* t = txn.handle();
  auto c = txn.cursor(db_.jobs);
  if (!c)
    return make_unexpected(c.error());
  std::vector<job> old;
  MDB_val key, val;
  auto rc = mdb_cursor_get(*c, &key, &val, MDB_FIRST);
  while (rc == 0) {
    if (val.mv_size >= 1
        && *static_cast<const unsigned char*>(val.mv_data) == job_format_v1) {
      auto j = decode_job(val);
      if (!j)
        return make_unexpected(j.error());
      old.push_back(std::move(*j));
    }
    rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(jobs)");
  for (auto& j : old) {
    if (lookup) {
      std::string company, type;
      if (lookup(j.event_seq, company, type)
          && company.find('\0') == std::string::npos
          && company.size() <= max_name_size && type.size() <= max_name_size) {
        j.company_id = std::move(company);
        j.event_type = std::move(type);
      }
    }
    if (auto ok = store_job(t, db_.jobs, j, 0); !ok)
      return ok;
    if (j.state == job_state::pending) {
      index_val iv{j};
      auto k = company_key(j.queue, j.company_id);
      auto kv = as_val(k);
      auto v = iv.val();
      if (auto r = mdb_put(t, db_.due_company, &kv, &v, MDB_NODUPDATA);
          r != 0 && r != MDB_KEYEXIST)
        return fail_mdb(r, "mdb_put(jobs_due_company)");
    }
  }
  auto fk = as_val(format_key);
  char v2 = static_cast<char>(job_format_v2);
  auto fv = as_val(&v2, 1);
  if (auto r = mdb_put(t, db_.meta, &fk, &fv, 0); r != 0)
    return fail_mdb(r, "mdb_put(jobs_meta)");
  return {};
}

// -- the outbox
// -----------------------------------------------------------------

result<enqueue_outcome> job_queue::enqueue_in(write_txn& txn, const job& j) {
  return guarded("job_queue::enqueue_in", [&]() -> result<enqueue_outcome> {
    if (auto ok = validate(j); !ok)
      return make_unexpected(ok.error());
    auto* t = txn.handle();
    // 1. A job holding the unique key wins.
    if (!j.unique_key.empty()) {
      auto held
          = find_u64(t, db_.unique, as_val(j.unique_key),
                     "mdb_get(jobs_unique)", "jobs_unique: bad value size");
      if (!held)
        return make_unexpected(std::move(held.error()));
      if (*held)
        return enqueue_outcome{**held, false};
    }
    // 2. The next id.
    std::uint64_t id = 1;
    auto meta_key = as_val(next_id_key);
    MDB_val meta_val;
    if (auto rc = mdb_get(t, db_.meta, &meta_key, &meta_val); rc == 0) {
      if (meta_val.mv_size != 8)
        return err(errc::corrupt, "jobs_meta: bad next_id");
      id = get_be64(meta_val.mv_data);
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_get(jobs_meta)");
    }
    // 3. Write. From here on an error loses the transaction.
    job rec = j;
    rec.id = id;
    rec.state = job_state::pending;
    rec.attempts = 0;
    rec.exceptions = 0;
    rec.first_attempt_at = 0;
    rec.last_attempt_at = 0;
    rec.lease_until = 0;
    rec.failed_at = 0;
    rec.last_error.clear();
    rec.history.clear();
    if (auto ok = store_job(t, db_.jobs, rec, MDB_APPEND); !ok)
      return make_unexpected(ok.error());
    if (auto ok = index(t, rec); !ok)
      return make_unexpected(ok.error());
    if (traces_ != nullptr && !rec.correlation_id.empty())
      if (auto ok = traces_->job_started_in(t, rec); !ok)
        return make_unexpected(ok.error());
    if (!rec.unique_key.empty()) {
      id_key k{id};
      auto key = as_val(rec.unique_key);
      auto val = k.val();
      if (auto rc = mdb_put(t, db_.unique, &key, &val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(jobs_unique)");
    }
    id_key next{id + 1};
    auto next_val = next.val();
    if (auto rc = mdb_put(t, db_.meta, &meta_key, &next_val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(jobs_meta)");
    std::string qkey{queue_prefix};
    qkey += rec.queue;
    auto key = as_val(qkey);
    MDB_val empty{0, nullptr};
    if (auto rc = mdb_put(t, db_.meta, &key, &empty, MDB_NOOVERWRITE);
        rc != 0 && rc != MDB_KEYEXIST)
      return fail_mdb(rc, "mdb_put(jobs_meta)");
    return enqueue_outcome{id, true};
  });
}

// -- the supervisor's cycle
// -------------------------------------------------------

result<std::vector<job>> job_queue::lease_in(write_txn& txn,
                                             std::string_view queue,
                                             timestamp_ms now, std::size_t max,
                                             timestamp_ms lease_until) {
  return guarded("job_queue::lease_in", [&]() -> result<std::vector<job>> {
    std::vector<job> out;
    if (max == 0 || queue.empty() || queue.size() > max_name_size)
      return out;
    auto* t = txn.handle();
    auto c = txn.cursor(db_.due_company);
    if (!c)
      return make_unexpected(c.error());
    std::string prefix{queue};
    prefix.push_back('\0');
    // Where the last lease stopped: the company served last.
    std::string rr_key{rr_prefix};
    rr_key += queue;
    std::string pos;
    bool have_pos = false;
    {
      auto k = as_val(rr_key);
      MDB_val v;
      auto rc = mdb_get(t, db_.meta, &k, &v);
      if (rc == 0) {
        pos.assign(static_cast<const char*>(v.mv_data), v.mv_size);
        have_pos = true;
      } else if (rc != MDB_NOTFOUND) {
        return fail_mdb(rc, "mdb_get(jobs_meta)");
      }
    }
    // Seeks the first company after `pos` (or the first of all); false at
    // the end of the queue's companies.
    std::string seek;
    MDB_val key, val;
    auto next_company = [&](bool from_start) -> result<bool> {
      seek = prefix;
      if (!from_start) {
        seek += pos;
        seek.push_back('\0'); // the least key greater than pos
      }
      key = as_val(seek);
      auto rc = mdb_cursor_get(*c, &key, &val, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND)
        return false;
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(jobs_due_company)");
      auto k = as_view(key);
      return k.size() >= prefix.size()
             && k.compare(0, prefix.size(), prefix) == 0;
    };
    // Round-robin: one ready job of each company in turn; stop after a
    // whole round of companies without a ready job.
    std::optional<std::string> idle_since;
    while (out.size() < max) {
      auto found = next_company(!have_pos);
      if (!found)
        return make_unexpected(found.error());
      if (!*found) {
        if (!have_pos)
          break; // no pending job at all
        found = next_company(true);
        if (!found)
          return make_unexpected(found.error());
        if (!*found)
          break;
      }
      auto company = as_view(key).substr(prefix.size());
      if (idle_since && *idle_since == company)
        break;
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_due_company: bad value size");
      auto due = get_time(val.mv_data);
      auto id = get_be64(static_cast<const char*>(val.mv_data) + 8);
      pos.assign(company.data(), company.size());
      have_pos = true;
      if (due > now) {
        if (!idle_since)
          idle_since = pos;
        continue;
      }
      idle_since.reset();
      auto j = lease_one(t, id, queue, now, lease_until);
      if (!j)
        return make_unexpected(j.error());
      out.push_back(std::move(*j));
    }
    if (!out.empty()) {
      auto k = as_val(rr_key);
      auto v = as_val(out.back().company_id);
      if (auto rc = mdb_put(t, db_.meta, &k, &v, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(jobs_meta)");
    }
    return out;
  });
}

result<job> job_queue::lease_one(MDB_txn* t, std::uint64_t id,
                                 std::string_view queue, timestamp_ms now,
                                 timestamp_ms lease_until) {
  auto j = load_indexed_job(t, db_.jobs, id);
  if (!j)
    return j;
  if (j->state != job_state::pending || j->queue != queue)
    return err(errc::corrupt, "jobs_due: entry of job " + std::to_string(id)
                                  + " that is not pending in this queue");
  if (auto ok = unindex(t, *j); !ok)
    return make_unexpected(ok.error());
  j->state = job_state::leased;
  ++j->attempts;
  if (j->first_attempt_at == 0)
    j->first_attempt_at = now;
  j->last_attempt_at = now;
  j->lease_until = lease_until;
  if (auto ok = store_indexed(t, *j); !ok)
    return make_unexpected(ok.error());
  return j;
}

result<void> job_queue::ack_in(write_txn& txn, std::uint64_t id) {
  return guarded("job_queue::ack_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = unindex_leaving(t, id);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = delete_job(t, db_.jobs, id); !ok)
      return ok;
    if (auto ok = trace(t, *j, job_outcome::succeeded, wall_ms()); !ok)
      return ok;
    return count(t, *j, 1, 0, 0);
  });
}

result<void> job_queue::retry_in(write_txn& txn, std::uint64_t id,
                                 timestamp_ms due_at, std::string_view error,
                                 bool counts_as_exception, timestamp_ms now) {
  return guarded("job_queue::retry_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = unindex_in_state(t, id, false);
    if (!j)
      return make_unexpected(j.error());
    bool ran = j->state == job_state::leased;
    if (ran)
      record_attempt(*j, now, error);
    j->state = job_state::pending;
    j->due_at = due_at;
    j->lease_until = 0;
    j->last_error = cut_error(error);
    if (counts_as_exception)
      ++j->exceptions;
    if (auto ok = store_indexed(t, *j); !ok)
      return ok;
    return ran ? count(t, *j, 0, 0, 1) : result<void>{};
  });
}

result<void> job_queue::fail_in(write_txn& txn, std::uint64_t id,
                                std::string_view error, timestamp_ms now) {
  return guarded("job_queue::fail_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = unindex_leaving(t, id);
    if (!j)
      return make_unexpected(j.error());
    if (j->state == job_state::leased)
      record_attempt(*j, now, error);
    j->state = job_state::failed;
    j->failed_at = now;
    j->lease_until = 0;
    j->last_error = cut_error(error);
    if (auto ok = store_indexed(t, *j); !ok)
      return ok;
    return count(t, *j, 0, 1, 0);
  });
}

result<bool> job_queue::cancel_by_key_in(write_txn& txn, std::string_view key) {
  return guarded("job_queue::cancel_by_key_in", [&]() -> result<bool> {
    if (key.empty() || key.size() > max_name_size)
      return false;
    auto* t = txn.handle();
    auto k = as_val(key);
    auto held = find_u64(t, db_.unique, k, "mdb_get(jobs_unique)",
                         "jobs_unique: bad value size");
    if (!held)
      return make_unexpected(held.error());
    if (!*held)
      return false;
    auto id = **held;
    auto j = load_indexed_job(t, db_.jobs, id);
    if (!j)
      return make_unexpected(j.error());
    if (j->state != job_state::pending)
      return false;
    if (auto ok = unindex(t, *j); !ok)
      return make_unexpected(ok.error());
    if (auto rc = mdb_del(t, db_.unique, &k, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del(jobs_unique)");
    if (auto ok = delete_job(t, db_.jobs, id); !ok)
      return make_unexpected(ok.error());
    if (auto ok = trace(t, *j, job_outcome::cancelled, wall_ms()); !ok)
      return make_unexpected(ok.error());
    return true;
  });
}

result<std::vector<job>> job_queue::take_company_in(write_txn& txn,
                                                    std::string_view company) {
  return guarded(
      "job_queue::take_company_in", [&]() -> result<std::vector<job>> {
        auto* t = txn.handle();
        std::vector<job> out;
        auto walked = cursor_detail::each_entry(
            t, db_.jobs, "mdb_cursor_open", "mdb_cursor_get(jobs)",
            [&](std::string_view, const MDB_val& val) -> result<void> {
              auto j = decode_job(val);
              if (!j)
                return make_unexpected(j.error());
              if (j->company_id == company) {
                if (j->state == job_state::leased)
                  return err(errc::version_conflict,
                             "job " + std::to_string(j->id) + " of company "
                                 + std::string{company} + " is running");
                if (j->state == job_state::pending)
                  out.push_back(std::move(*j));
              }
              return {};
            });
        if (!walked)
          return make_unexpected(walked.error());
        for (const auto& j : out) {
          if (auto ok = unindex(t, j); !ok)
            return make_unexpected(ok.error());
          if (auto ok = free_unique(t, j); !ok)
            return make_unexpected(ok.error());
          if (auto ok = delete_job(t, db_.jobs, j.id); !ok)
            return make_unexpected(ok.error());
        }
        return out;
      });
}

result<std::size_t> job_queue::release_in(write_txn& txn, timestamp_ms deadline,
                                          timestamp_ms now,
                                          std::string_view why) {
  return guarded("job_queue::release", [&]() -> result<std::size_t> {
    auto c = txn.cursor(db_.leased);
    if (!c)
      return make_unexpected(c.error());
    // 1. The expired leases of every queue.
    std::vector<std::uint64_t> ids;
    MDB_val key, val;
    auto rc = mdb_cursor_get(*c, &key, &val, MDB_FIRST);
    while (rc == 0) {
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_leased: bad value size");
      if (get_time(val.mv_data) > deadline) {
        rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT_NODUP);
        continue;
      }
      ids.push_back(get_be64(static_cast<const char*>(val.mv_data) + 8));
      rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs_leased)");
    // 2. Back to pending, due now.
    auto* t = txn.handle();
    for (auto id : ids) {
      auto j = load_indexed_job(t, db_.jobs, id);
      if (!j)
        return make_unexpected(j.error());
      if (j->state != job_state::leased)
        return err(errc::corrupt, "jobs_leased: entry of job "
                                      + std::to_string(id)
                                      + " that is not leased");
      if (auto ok = unindex(t, *j); !ok)
        return make_unexpected(ok.error());
      record_attempt(*j, now, why);
      j->state = job_state::pending;
      j->due_at = now;
      j->lease_until = 0;
      j->last_error = std::string{why};
      if (auto ok = store_indexed(t, *j); !ok)
        return make_unexpected(ok.error());
    }
    return ids.size();
  });
}

result<std::size_t> job_queue::release_expired_in(write_txn& txn,
                                                  timestamp_ms now) {
  return release_in(txn, now, now, "lease expired");
}

result<std::size_t> job_queue::release_all_leases_in(write_txn& txn,
                                                     timestamp_ms now) {
  return release_in(txn, std::numeric_limits<timestamp_ms>::max(), now,
                    "lease released at start: the process holding it ended");
}

result<std::size_t> job_queue::release_all_leases(timestamp_ms now) {
  return run_blocking<std::size_t>(writer_, "job_queue::release_all_leases",
                                   [&](write_txn& txn) {
                                     return release_all_leases_in(txn, now);
                                   });
}

} // namespace switchboard::store
