// The job queue's reads: one job, pending jobs, counts, due times, pages
// by state and the counters.
#include "store/cursor_detail.hpp"
#include "store/job_queue_detail.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <tuple>

namespace switchboard::store {

using namespace job_detail;

// -- reads
// ------------------------------------------------------------------------

result<job> job_queue::get(std::uint64_t id) const {
  return guarded("job_queue::get", [&]() -> result<job> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return load_job(txn->handle(), db_.jobs, id);
  });
}

result<job> job_queue::get_in(write_txn& txn, std::uint64_t id) const {
  return guarded("job_queue::get_in", [&]() -> result<job> {
    return load_job(txn.handle(), db_.jobs, id);
  });
}

result<std::vector<job>> job_queue::list_pending(std::string_view queue,
                                                 std::uint64_t after_id,
                                                 std::size_t max) const {
  return guarded("job_queue::list_pending", [&]() -> result<std::vector<job>> {
    std::vector<job> out;
    if (max == 0 || after_id == std::numeric_limits<std::uint64_t>::max())
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    id_key from{after_id + 1};
    auto walked = cursor_detail::each_with_prefix_from(
        txn->handle(), db_.jobs, {}, as_view(from.val()), "mdb_cursor_open",
        "mdb_cursor_get(jobs)",
        [&](std::string_view, const MDB_val& val) -> result<bool> {
          auto j = decode_job(val);
          if (!j)
            return make_unexpected(j.error());
          if (j->state != job_state::failed
              && (queue.empty() || j->queue == queue))
            out.push_back(std::move(*j));
          return out.size() < max;
        });
    if (!walked)
      return make_unexpected(walked.error());
    return out;
  });
}

result<queue_counts> job_queue::counts(std::string_view queue,
                                       timestamp_ms now) const {
  return guarded("job_queue::counts", [&]() -> result<queue_counts> {
    queue_counts out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto* t = txn->handle();
    std::vector<std::string> names;
    if (queue.empty()) {
      auto all = queue_names(t, db_.meta);
      if (!all)
        return make_unexpected(all.error());
      names = std::move(*all);
    } else {
      names.emplace_back(queue);
    }
    cursor_guard due, leased, failed;
    for (auto [dbi, c] :
         {std::pair{db_.due, &due}, std::pair{db_.leased, &leased},
          std::pair{db_.failed, &failed}})
      if (auto rc = mdb_cursor_open(t, dbi, &c->c); rc != 0)
        return fail_mdb(rc, "mdb_cursor_open");
    for (auto& name : names) {
      if (name.empty() || name.size() > max_name_size)
        continue;
      auto n = dup_count(leased.c, name);
      if (!n)
        return make_unexpected(n.error());
      out.leased += *n;
      n = dup_count(failed.c, name);
      if (!n)
        return make_unexpected(n.error());
      out.failed += *n;
      n = dup_count(due.c, name);
      if (!n)
        return make_unexpected(n.error());
      if (*n == 0)
        continue;
      // Ready: the due entries <= now. dup_count left the cursor on the
      // queue's first entry.
      char limit[8];
      put_time(limit, now);
      auto is_ready = [&limit](const char* entry) {
        return std::memcmp(entry, limit, 8) <= 0;
      };
      MDB_val key, val;
      auto rc = mdb_cursor_get(due.c, &key, &val, MDB_GET_CURRENT);
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(jobs_due)");
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_due: bad value size");
      std::uint64_t ready = 0;
      if (*n == 1) {
        // A single entry is stored inline: no page of duplicates.
        ready = is_ready(static_cast<const char*>(val.mv_data)) ? 1 : 0;
      } else {
        // A page of entries at a time; binary search in the last one.
        rc = mdb_cursor_get(due.c, &key, &val, MDB_GET_MULTIPLE);
        while (rc == 0) {
          if (val.mv_size == 0 || val.mv_size % 16 != 0)
            return err(errc::corrupt, "jobs_due: bad page of entries");
          auto* first = static_cast<const char*>(val.mv_data);
          auto count = val.mv_size / 16;
          if (is_ready(first + 16 * (count - 1))) {
            ready += count;
            rc = mdb_cursor_get(due.c, &key, &val, MDB_NEXT_MULTIPLE);
            continue;
          }
          std::size_t lo = 0;
          std::size_t hi = count; // the first entry not ready
          while (lo < hi) {
            auto mid = lo + (hi - lo) / 2;
            if (is_ready(first + 16 * mid))
              lo = mid + 1;
            else
              hi = mid;
          }
          ready += lo;
          break;
        }
      }
      if (rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_cursor_get(jobs_due)");
      out.ready += ready;
      out.delayed += *n - ready;
    }
    return out;
  });
}

result<std::vector<std::string>> job_queue::queues() const {
  return guarded("job_queue::queues",
                 [&]() -> result<std::vector<std::string>> {
                   auto txn = env_.begin_read();
                   if (!txn)
                     return make_unexpected(txn.error());
                   return queue_names(txn->handle(), db_.meta);
                 });
}

result<timestamp_ms> job_queue::next_due(std::string_view queue) const {
  return guarded("job_queue::next_due", [&]() -> result<timestamp_ms> {
    if (queue.empty() || queue.size() > max_name_size)
      return err(errc::not_found, "no pending job");
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return first_time(txn->handle(), db_.due, queue);
  });
}

result<std::vector<std::pair<std::string, std::string>>>
job_queue::live_events_in(write_txn& txn, std::string_view listener) const {
  return guarded(
      "job_queue::live_events_in",
      [&]() -> result<std::vector<std::pair<std::string, std::string>>> {
        std::vector<std::pair<std::string, std::string>> out;
        auto walked = cursor_detail::each_entry(
            txn.handle(), db_.jobs, "mdb_cursor_open", "mdb_cursor_get(jobs)",
            [&](std::string_view, const MDB_val& val) -> result<void> {
              auto j = decode_job(val);
              if (!j)
                return make_unexpected(j.error());
              if (j->listener == listener)
                out.emplace_back(std::move(j->company_id),
                                 std::move(j->event_id));
              return {};
            });
        if (!walked)
          return make_unexpected(walked.error());
        return out;
      });
}

result<std::vector<pending_head>> job_queue::pending_heads() const {
  return guarded(
      "job_queue::pending_heads", [&]() -> result<std::vector<pending_head>> {
        std::vector<pending_head> out;
        auto rd = cursor_detail::open_read_cursor(env_, db_.due_company);
        if (!rd)
          return make_unexpected(rd.error());
        // The first value of each key is its earliest due time.
        MDB_val key, val;
        auto rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_FIRST);
        while (rc == 0) {
          if (val.mv_size != 16)
            return err(errc::corrupt, "jobs_due_company: bad value size");
          auto k = as_view(key);
          auto nul = k.find('\0');
          if (nul == std::string_view::npos)
            return err(errc::corrupt, "jobs_due_company: key without company");
          out.push_back({std::string{k.substr(0, nul)},
                         std::string{k.substr(nul + 1)},
                         get_time(val.mv_data)});
          rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_NEXT_NODUP);
        }
        if (rc != MDB_NOTFOUND)
          return fail_mdb(rc, "mdb_cursor_get(jobs_due_company)");
        return out;
      });
}

result<timestamp_ms>
job_queue::next_lease_expiry(std::string_view queue) const {
  return guarded("job_queue::next_lease_expiry", [&]() -> result<timestamp_ms> {
    if (queue.size() > max_name_size)
      return err(errc::not_found, "no leased job");
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    if (!queue.empty())
      return first_time(txn->handle(), db_.leased, queue);
    auto names = dup_keys(txn->handle(), db_.leased);
    if (!names)
      return make_unexpected(names.error());
    std::optional<timestamp_ms> best;
    for (auto& name : *names) {
      auto t = first_time(txn->handle(), db_.leased, name);
      if (!t)
        return t;
      if (!best || *t < *best)
        best = *t;
    }
    if (!best)
      return err(errc::not_found, "no leased job");
    return *best;
  });
}

result<job_page> job_queue::list(const job_filter& f, job_list_state state,
                                 timestamp_ms now, std::uint64_t after_id,
                                 std::size_t max, std::size_t scan) const {
  return guarded("job_queue::list", [&]() -> result<job_page> {
    job_page out;
    if (max == 0 || after_id == std::numeric_limits<std::uint64_t>::max())
      return out;
    scan = std::max<std::size_t>(scan, 1);
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto* t = txn->handle();
    auto wanted = [&](const job& j) {
      switch (state) {
      case job_list_state::pending:
        return j.state == job_state::pending;
      case job_list_state::ready:
        return j.state == job_state::pending && j.due_at <= now;
      case job_list_state::delayed:
        return j.state == job_state::pending && j.due_at > now;
      case job_list_state::leased:
        return j.state == job_state::leased;
      case job_list_state::failed:
        return j.state == job_state::failed;
      }
      return false;
    };
    std::size_t scanned = 0;
    std::uint64_t last = after_id;
    if (state == job_list_state::failed) {
      auto ids = failed_ids(t, db_.failed, f.queue, after_id, scan);
      if (!ids)
        return make_unexpected(ids.error());
      for (auto id : *ids) {
        if (out.jobs.size() >= max)
          break;
        ++scanned;
        last = id;
        auto j = load_job(t, db_.jobs, id);
        if (!j)
          return make_unexpected(j.error());
        if (f.matches(*j))
          out.jobs.push_back(std::move(*j));
      }
      bool more = out.jobs.size() >= max || ids->size() >= scan;
      if (more) {
        // Is there a failed job past `last`?
        auto rest = failed_ids(t, db_.failed, f.queue, last, 1);
        if (!rest)
          return make_unexpected(rest.error());
        if (!rest->empty())
          out.next_after = last;
      }
      return out;
    }
    cursor_guard c;
    if (auto rc = mdb_cursor_open(t, db_.jobs, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    id_key from{after_id + 1};
    auto key = from.val();
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && out.jobs.size() < max && scanned < scan) {
      auto j = decode_job(val);
      if (!j)
        return make_unexpected(j.error());
      ++scanned;
      last = j->id;
      if (wanted(*j) && f.matches(*j))
        out.jobs.push_back(std::move(*j));
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
    }
    if (rc == 0)
      out.next_after = last; // records past `last` remain
    else if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs)");
    return out;
  });
}

result<queue_counts> job_queue::company_counts(std::string_view queue,
                                               std::string_view company_id,
                                               timestamp_ms now) const {
  return guarded("job_queue::company_counts", [&]() -> result<queue_counts> {
    queue_counts out;
    if (queue.empty() || queue.size() > max_name_size)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto* t = txn->handle();
    // Pending: the company's due entries, ready up to now.
    cursor_guard c;
    if (auto rc = mdb_cursor_open(t, db_.due_company, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    auto ck = company_key(queue, company_id);
    auto key = as_val(ck);
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_KEY);
    while (rc == 0) {
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_due_company: bad value size");
      if (get_time(val.mv_data) <= now)
        ++out.ready;
      else
        ++out.delayed;
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_DUP);
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs_due_company)");
    // Leased and failed: their records.
    for (auto [dbi, n, width] : {std::tuple{db_.leased, &out.leased, 16},
                                 std::tuple{db_.failed, &out.failed, 8}}) {
      cursor_guard ic;
      if (auto r = mdb_cursor_open(t, dbi, &ic.c); r != 0)
        return fail_mdb(r, "mdb_cursor_open");
      auto k = as_val(queue);
      MDB_val v;
      auto r = mdb_cursor_get(ic.c, &k, &v, MDB_SET_KEY);
      while (r == 0) {
        if (v.mv_size != static_cast<std::size_t>(width))
          return err(errc::corrupt, "job index: bad value size");
        auto id = get_be64(static_cast<const char*>(v.mv_data) + width - 8);
        auto j = load_job(t, db_.jobs, id);
        if (!j)
          return make_unexpected(j.error());
        if (j->company_id == company_id)
          ++*n;
        r = mdb_cursor_get(ic.c, &k, &v, MDB_NEXT_DUP);
      }
      if (r != MDB_NOTFOUND)
        return fail_mdb(r, "mdb_cursor_get(job index)");
    }
    return out;
  });
}

result<std::vector<job_counters>>
job_queue::counters(std::string_view queue, std::string_view company_id) const {
  return guarded(
      "job_queue::counters", [&]() -> result<std::vector<job_counters>> {
        std::vector<job_counters> out;
        auto txn = env_.begin_read();
        if (!txn)
          return make_unexpected(txn.error());
        // A queue's rows are together: from its prefix to the next queue.
        std::string prefix;
        if (!queue.empty()) {
          prefix = std::string{queue};
          prefix.push_back('\0');
        }
        auto walked = cursor_detail::each_with_prefix(
            txn->handle(), db_.counters, prefix, "mdb_cursor_open",
            "mdb_cursor_get(jobs_counters)",
            [&](std::string_view k, const MDB_val& val) -> result<bool> {
              auto company = counters_company(k);
              if (!company || val.mv_size != 24)
                return err(errc::corrupt, "jobs_counters: bad entry");
              auto a = k.find('\0');
              auto b = k.size() - company->size() - 1;
              job_counters row;
              row.queue = std::string{k.substr(0, a)};
              row.listener = std::string{k.substr(a + 1, b - a - 1)};
              row.company_id = std::string{*company};
              auto* p = static_cast<const char*>(val.mv_data);
              row.processed = get_be64(p);
              row.failed = get_be64(p + 8);
              row.retried = get_be64(p + 16);
              if ((queue.empty() || row.queue == queue)
                  && (company_id.empty() || row.company_id == company_id))
                out.push_back(std::move(row));
              return true;
            });
        if (!walked)
          return make_unexpected(walked.error());
        return out;
      });
}

} // namespace switchboard::store
