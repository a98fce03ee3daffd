// Forgetting a company (store/company_forget.hpp): its jobs, sent
// messages, traces, processed marks, projections and statistics. Its
// events and the forget itself are in store/company_forget.cpp.
#include "store/company_forget_detail.hpp"

#include "store/audit_log_detail.hpp"
#include "store/cluster_state_detail.hpp"
#include "store/event_store_detail.hpp"
#include "store/job_queue_detail.hpp"
#include "store/outbox_detail.hpp"
#include "store/processed_detail.hpp"
#include "store/record.hpp"
#include "store/stats_detail.hpp"
#include "store/traces_detail.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace switchboard::store::forget_detail {

// -- jobs and messages -------------------------------------------------------

result<void> find_jobs(MDB_txn* t, const handles& h, std::string_view company,
                       plan& p) {
  auto walked = each_entry(
      t, h.jobs, "mdb_cursor_get(jobs)",
      [&](const MDB_val&, const MDB_val& v) -> result<void> {
        auto j = job_detail::decode_job(v);
        if (!j)
          return make_unexpected(j.error());
        if (j->company_id != company)
          return {};
        if (j->state == job_state::leased)
          return fail(errc::version_conflict,
                      "job " + std::to_string(j->id) + " of company "
                          + std::string{company}
                          + " is running: try again once it is done");
        if (!j->correlation_id.empty())
          p.correlations.insert(j->correlation_id);
        p.jobs.push_back(std::move(*j));
        return {};
      });
  if (!walked)
    return walked;
  if (!p.jobs.empty() && (!h.due || !h.failed || !h.due_company))
    return fail(errc::corrupt, "jobs without their indexes");
  if (h.meta) {
    auto names = job_detail::queue_names(t, *h.meta);
    if (!names)
      return make_unexpected(names.error());
    for (const auto& q : *names) {
      std::string k{job_detail::rr_prefix};
      k += q;
      auto key = as_val(k);
      MDB_val val;
      auto rc = mdb_get(t, *h.meta, &key, &val);
      if (rc == 0 && as_view(val) == company)
        p.meta_keys.push_back(std::move(k));
      else if (rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_get(jobs_meta)");
    }
  }
  auto counted
      = each_entry(t, h.counters, "mdb_cursor_get(jobs_counters)",
                   [&](const MDB_val& k, const MDB_val&) -> result<void> {
                     auto of = job_detail::counters_company(as_view(k));
                     if (!of)
                       return fail(errc::corrupt, "jobs_counters: bad entry");
                     if (*of == company)
                       p.counter_keys.emplace_back(as_view(k));
                     return {};
                   });
  if (!counted)
    return counted;
  return each_with_prefix(t, h.parked, cluster_detail::parked_prefix(company),
                          "mdb_cursor_get(cluster_parked)",
                          [&](std::string_view key, const MDB_val&) {
                            p.parked_keys.emplace_back(key);
                          });
}

result<void> find_messages(MDB_txn* t, const handles& h,
                           std::string_view company, plan& p) {
  return each_entry(t, h.outbox, "mdb_cursor_get(outbox)",
                    [&](const MDB_val& k, const MDB_val& v) -> result<void> {
                      auto m = outbox_detail::decode(k, v);
                      if (!m)
                        return make_unexpected(m.error());
                      if (m->company_id != company)
                        return {};
                      if (!m->correlation_id.empty())
                        p.correlations.insert(m->correlation_id);
                      p.messages.push_back(std::move(*m));
                      return {};
                    });
}

/// The company's trace entries: under the correlation ids of its events,
/// jobs and messages (the ones its entries are written under), those
/// whose record names it.
result<void> find_traces(MDB_txn* t, const handles& h, std::string_view company,
                         plan& p) {
  if (!h.traces)
    return {};
  for (const auto& corr : p.correlations) {
    auto base = trace_detail::base_of(corr);
    if (base.empty())
      continue; // never traced
    result<void> failed;
    auto walked = each_with_prefix(
        t, h.traces, base, "mdb_cursor_get(traces)",
        [&](std::string_view key, const MDB_val& v) {
          if (!failed || key.size() != base.size() + 9)
            return;
          record_reader r{v.mv_data, v.mv_size};
          auto format = r.format();
          auto of = r.str();
          if (!r.ok()
              || (format != trace_detail::trace_format_v1
                  && format != trace_detail::trace_format_v2)) {
            failed = fail(errc::corrupt, "trace record: bad entry");
            return;
          }
          if (of != company)
            return;
          std::uint64_t done = 0;
          if (format == trace_detail::trace_format_v2
              && key[base.size()] == 'j') {
            done = r.u64();
            if (!r.ok()) {
              failed = fail(errc::corrupt, "trace record: bad job entry");
              return;
            }
          }
          p.trace_keys.emplace_back(std::string{key}, done);
        });
    if (!walked)
      return walked;
    if (!failed)
      return failed;
  }
  return {};
}

// -- the rest
// -------------------------------------------------------------------

/// True when projection key `key` is the company's: one of its
/// '/'-separated segments is "company=<company>".
bool company_projection(std::string_view key, std::string_view company) {
  std::string segment = "company=";
  segment.append(company);
  segment.push_back('/');
  if (key.substr(0, segment.size()) == segment)
    return true;
  return key.find("/" + segment) != std::string_view::npos;
}

result<void> find_rest(MDB_txn* t, const handles& h, std::string_view company,
                       plan& p) {
  auto mine = [&](std::vector<std::string>& out) {
    return [&out, company](const MDB_val& k, const MDB_val&) -> result<void> {
      if (company_projection(as_view(k), company))
        out.emplace_back(as_view(k));
      return {};
    };
  };
  if (auto ok = each_entry(t, h.proj_counters, "mdb_cursor_get(proj_counters)",
                           mine(p.proj_counter_keys));
      !ok)
    return ok;
  if (auto ok = each_entry(t, h.proj_values, "mdb_cursor_get(proj_values)",
                           mine(p.proj_value_keys));
      !ok)
    return ok;
  return each_with_prefix(t, h.stats, stats_detail::company_prefix(company),
                          "mdb_cursor_get(stats_minutes)",
                          [&](std::string_view key, const MDB_val&) {
                            p.stats_keys.emplace_back(key);
                          });
}

/// Deletes each of `keys` from `dbi`; returns how many were there.
result<std::uint64_t> del_all(MDB_txn* t, const opt_dbi& dbi,
                              const std::vector<std::string>& keys,
                              const char* what) {
  std::uint64_t n = 0;
  for (const auto& k : keys) {
    auto gone = del(t, *dbi, k, what);
    if (!gone)
      return make_unexpected(gone.error());
    n += *gone ? 1 : 0;
  }
  return n;
}

result<void> forget_jobs(MDB_txn* t, const handles& h, const plan& p,
                         forget_counts& n) {
  for (const auto& j : p.jobs) {
    auto state_db = j.state == job_state::pending ? *h.due : *h.failed;
    if (auto ok = job_detail::unindex_job(t, state_db, *h.due_company, j); !ok)
      return ok;
    if (h.unique)
      if (auto ok = job_detail::free_unique_key(t, *h.unique, j); !ok)
        return ok;
    auto gone = del(t, *h.jobs, be64_key(j.id), "mdb_del(jobs)");
    if (!gone)
      return make_unexpected(gone.error());
    n.jobs += *gone ? 1 : 0;
  }
  if (auto ok = del_all(t, h.meta, p.meta_keys, "mdb_del(jobs_meta)"); !ok)
    return make_unexpected(ok.error());
  auto rows = del_all(t, h.counters, p.counter_keys, "mdb_del(jobs_counters)");
  if (!rows)
    return make_unexpected(rows.error());
  n.other += *rows;
  auto parked = del_all(t, h.parked, p.parked_keys, "mdb_del(cluster_parked)");
  if (!parked)
    return make_unexpected(parked.error());
  n.jobs += *parked;
  return {};
}

result<void> forget_messages(MDB_txn* t, const handles& h, const plan& p,
                             forget_counts& n) {
  for (const auto& m : p.messages) {
    auto gone = del(t, *h.outbox, be64_key(m.id), "mdb_del(outbox)");
    if (!gone)
      return make_unexpected(gone.error());
    n.outbox += *gone ? 1 : 0;
    if (m.provider_id.empty() || !h.outbox_ids)
      continue;
    // Its provider's id, unless it names another message.
    auto ik = outbox_detail::id_key(m.provider, m.provider_id);
    auto key = as_val(ik);
    MDB_val val;
    auto rc = mdb_get(t, *h.outbox_ids, &key, &val);
    if (rc == MDB_NOTFOUND
        || (rc == 0 && (val.mv_size != 8 || get_be64(val.mv_data) != m.id)))
      continue;
    if (rc == 0)
      rc = mdb_del(t, *h.outbox_ids, &key, nullptr);
    if (rc != 0)
      return fail_mdb(rc, "mdb_del(outbox_ids)");
  }
  return {};
}

result<void> forget_traces(MDB_txn* t, const handles& h, const plan& p,
                           forget_counts& n) {
  for (const auto& [key, done] : p.trace_keys) {
    auto gone = del(t, *h.traces, key, "mdb_del(traces)");
    if (!gone)
      return make_unexpected(gone.error());
    n.traces += *gone ? 1 : 0;
    // A job's end: under its id in trace_ends, or where its entry points
    // in trace_done.
    bool job = key.size() >= 9 && key[key.size() - 9] == 'j';
    if (done == 0 && job && h.trace_ends) {
      auto id = get_be64(key.data() + key.size() - 8);
      auto ended = del(t, *h.trace_ends, be64_key(id), "mdb_del(trace_ends)");
      if (!ended)
        return make_unexpected(ended.error());
      n.traces += *ended ? 1 : 0;
    }
    if (done == 0 || !h.trace_done)
      continue;
    auto ended = del(t, *h.trace_done, be64_key(done), "mdb_del(trace_done)");
    if (!ended)
      return make_unexpected(ended.error());
    n.traces += *ended ? 1 : 0;
  }
  return {};
}

result<void> forget_rest(MDB_txn* t, const handles& h, const plan& p,
                         forget_counts& n) {
  struct part {
    const opt_dbi& dbi;
    const std::vector<std::string>& keys;
    const char* what;
  };
  part parts[] = {
      {h.proj_counters, p.proj_counter_keys, "mdb_del(proj_counters)"},
      {h.proj_values, p.proj_value_keys, "mdb_del(proj_values)"},
      {h.stats, p.stats_keys, "mdb_del(stats_minutes)"},
  };
  for (const auto& part : parts) {
    auto gone = del_all(t, part.dbi, part.keys, part.what);
    if (!gone)
      return make_unexpected(gone.error());
    n.other += *gone;
  }
  return {};
}

} // namespace switchboard::store::forget_detail
