// The LMDB helpers of the job queue (job_queue_detail.hpp).
#include "store/job_queue_detail.hpp"
#include "store/cursor_detail.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <tuple>

namespace switchboard::store::job_detail {

result<job> load_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id) {
  id_key k{id};
  auto key = k.val();
  MDB_val val;
  if (auto rc = mdb_get(txn, jobs, &key, &val); rc != 0) {
    if (rc == MDB_NOTFOUND)
      return err(errc::not_found, "no job " + std::to_string(id));
    return fail_mdb(rc, "mdb_get(jobs)");
  }
  auto j = decode_job(val);
  if (j && j->id != id)
    return err(errc::corrupt, "jobs: record id differs from its key");
  return j;
}

result<job> load_indexed_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id) {
  return indexed(load_job(txn, jobs, id));
}

result<void> delete_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id) {
  id_key k{id};
  auto key = k.val();
  if (auto rc = mdb_del(txn, jobs, &key, nullptr); rc != 0)
    return fail_mdb(rc, "mdb_del(jobs)");
  return {};
}

result<void> store_job(MDB_txn* txn, MDB_dbi jobs, const job& j,
                       unsigned flags) {
  auto rec = encode_job(j);
  id_key k{j.id};
  auto key = k.val();
  auto val = as_val(rec);
  if (auto rc = mdb_put(txn, jobs, &key, &val, flags); rc != 0) {
    if (rc == MDB_KEYEXIST)
      return err(errc::corrupt, "jobs: id " + std::to_string(j.id)
                                    + " is not past the last one");
    return fail_mdb(rc, "mdb_put(jobs)");
  }
  return {};
}

result<void> unindex_job(MDB_txn* txn, MDB_dbi state_db, MDB_dbi due_company,
                         const job& j) {
  index_val iv{j};
  auto key = as_val(j.queue);
  auto val = iv.val();
  if (auto rc = mdb_del(txn, state_db, &key, &val); rc != 0) {
    if (rc == MDB_NOTFOUND)
      return err(errc::corrupt, "job index: no entry for job "
                                    + std::to_string(j.id) + " ("
                                    + to_string(j.state) + ")");
    return fail_mdb(rc, "mdb_del(job index)");
  }
  if (j.state == job_state::pending) {
    auto ck = company_key(j.queue, j.company_id);
    auto ckey = as_val(ck);
    if (auto rc = mdb_del(txn, due_company, &ckey, &val); rc != 0) {
      if (rc == MDB_NOTFOUND)
        return err(errc::corrupt, "jobs_due_company: no entry for job "
                                      + std::to_string(j.id));
      return fail_mdb(rc, "mdb_del(jobs_due_company)");
    }
  }
  return {};
}

result<void> free_unique_key(MDB_txn* txn, MDB_dbi unique, const job& j) {
  if (j.unique_key.empty())
    return {};
  auto key = as_val(j.unique_key);
  auto holder = find_u64(txn, unique, key, "mdb_get(jobs_unique)",
                         "jobs_unique: bad value size");
  if (!holder)
    return make_unexpected(holder.error());
  if (*holder != j.id)
    return {}; // none, or another job holds the key
  if (auto rc = mdb_del(txn, unique, &key, nullptr); rc != 0)
    return fail_mdb(rc, "mdb_del(jobs_unique)");
  return {};
}

std::string cut_error(std::string_view error) {
  return std::string{error.substr(0, max_error_size)};
}

/// Adds the attempt of `j` that started at `last_attempt_at` and failed at
/// `now` (0: unknown) with `error` to its history.
void record_attempt(job& j, timestamp_ms now, std::string_view error) {
  auto ended = now == 0 ? j.last_attempt_at : now;
  auto took = std::max<timestamp_ms>(0, ended - j.last_attempt_at);
  j.history.push_back(
      {j.last_attempt_at,
       static_cast<std::uint32_t>(std::min<timestamp_ms>(took, UINT32_MAX)),
       cut_error(error)});
  if (j.history.size() > max_attempts_kept)
    j.history.erase(j.history.begin(),
                    j.history.begin()
                        + static_cast<std::ptrdiff_t>(j.history.size()
                                                      - max_attempts_kept));
}

/// Returns the keys of a DUPSORT database.
result<std::vector<std::string>> dup_keys(MDB_txn* txn, MDB_dbi dbi) {
  std::vector<std::string> out;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, dbi, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
  while (rc == 0) {
    out.emplace_back(as_view(key));
    rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_NODUP);
  }
  if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get");
  return out;
}

/// Returns the number of duplicates under `key`, 0 when absent.
result<std::uint64_t> dup_count(MDB_cursor* c, std::string_view key_text) {
  auto key = as_val(key_text);
  MDB_val val;
  auto rc = mdb_cursor_get(c, &key, &val, MDB_SET);
  if (rc == MDB_NOTFOUND)
    return std::uint64_t{0};
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get");
  std::size_t n = 0;
  if (auto rc2 = mdb_cursor_count(c, &n); rc2 != 0)
    return fail_mdb(rc2, "mdb_cursor_count");
  return static_cast<std::uint64_t>(n);
}

/// Returns the first duplicate's time under `key` (jobs_due, jobs_leased).
result<timestamp_ms> first_time(MDB_txn* txn, MDB_dbi dbi,
                                std::string_view key_text) {
  auto key = as_val(key_text);
  MDB_val val;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, dbi, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND)
    return err(errc::not_found, "no job in queue " + std::string{key_text});
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get");
  if (val.mv_size != 16)
    return err(errc::corrupt, "job index: bad value size");
  return get_time(val.mv_data);
}

/// Returns the queue names recorded in jobs_meta, sorted.
result<std::vector<std::string>> queue_names(MDB_txn* txn, MDB_dbi meta) {
  std::vector<std::string> out;
  auto walked = cursor_detail::each_with_prefix(
      txn, meta, queue_prefix, "mdb_cursor_open", "mdb_cursor_get(jobs_meta)",
      [&](std::string_view k, const MDB_val&) {
        out.emplace_back(k.substr(queue_prefix.size()));
      });
  if (!walked)
    return make_unexpected(walked.error());
  return out;
}

/// Checks the fields of a job to enqueue.
result<void> validate(const job& j) {
  for (auto [s, field, required] :
       {std::tuple{&j.queue, "queue", true},
        {&j.listener, "listener", true},
        {&j.event_id, "event_id", false},
        {&j.unique_key, "unique_key", false},
        {&j.company_id, "company_id", false},
        {&j.event_type, "event_type", false},
        {&j.correlation_id, "correlation_id", false}})
    if ((required && s->empty()) || s->size() > max_name_size)
      return err(errc::invalid_argument,
                 std::string{"job: "} + field + " must have "
                     + (required ? "1" : "0") + " to 255 bytes");
  for (auto [s, field] : {std::pair{&j.queue, "queue"},
                          {&j.listener, "listener"},
                          {&j.company_id, "company_id"}})
    if (s->find('\0') != std::string::npos)
      return err(errc::invalid_argument,
                 std::string{"job: "} + field + " must not contain NUL");
  if (j.payload.size() > max_payload_size)
    return err(errc::invalid_argument, "job: payload larger than 16 MiB");
  if (j.backoff_s.size() > max_backoff_entries
      || j.backoff_ms.size() > max_backoff_entries)
    return err(errc::invalid_argument, "job: more than 64 backoff entries");
  return {};
}

/// The ids of the failed jobs of `queue` (empty: every queue) with id >
/// `after_id`, sorted, at most `max`.
result<std::vector<std::uint64_t>> failed_ids(MDB_txn* t, MDB_dbi failed,
                                              std::string_view queue,
                                              std::uint64_t after_id,
                                              std::size_t max) {
  std::vector<std::uint64_t> ids;
  std::vector<std::string> names;
  if (queue.empty()) {
    auto keys = dup_keys(t, failed);
    if (!keys)
      return make_unexpected(keys.error());
    names = std::move(*keys);
  } else {
    names.emplace_back(queue);
  }
  if (after_id == std::numeric_limits<std::uint64_t>::max())
    return ids;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(t, failed, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  for (auto& name : names) {
    id_key from{after_id + 1};
    auto key = as_val(name);
    auto val = from.val();
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_GET_BOTH_RANGE);
    for (std::size_t n = 0; rc == 0 && n < max; ++n) {
      if (val.mv_size != 8)
        return err(errc::corrupt, "jobs_failed: bad value size");
      ids.push_back(get_be64(val.mv_data));
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_DUP);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs_failed)");
  }
  std::sort(ids.begin(), ids.end());
  if (ids.size() > max)
    ids.resize(max);
  return ids;
}

} // namespace switchboard::store::job_detail
