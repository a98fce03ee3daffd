#include "store/traces.hpp"

#include "messages/enum_table.hpp"
#include "store/codec.hpp"
#include "store/cursor_detail.hpp"
#include "store/job_queue_detail.hpp"
#include "store/lmdb_util.hpp"
#include "store/record.hpp"
#include "store/traces_detail.hpp"

namespace switchboard::store {

using namespace trace_detail;

namespace {

result<void> put(MDB_txn* txn, MDB_dbi dbi, const std::string& key,
                 const std::string& value, unsigned flags = 0) {
  auto k = as_val(key);
  auto v = as_val(value);
  if (auto rc = mdb_put(txn, dbi, &k, &v, flags); rc != 0)
    return fail_mdb(rc, "mdb_put(traces)");
  return {};
}

/// A job's end as `trace_ends` (and `trace_done`, and a job entry of
/// format 1) keeps it.
std::string ended_job(const job& j, job_outcome outcome,
                      timestamp_ms finished_at) {
  record_writer w{trace_format_v1};
  w.str(j.company_id)
      .u64(static_cast<std::uint64_t>(outcome))
      .i64(finished_at)
      .str(encode_job_record(j));
  return w.bytes();
}

/// Reads what `ended_job` wrote after the company (read by the caller).
result<traced_job> read_ended(record_reader& r) {
  traced_job t;
  auto outcome = r.u64();
  t.finished_at = r.i64();
  auto rec = r.str();
  if (!r.ok() || outcome > static_cast<std::uint64_t>(job_outcome::forgotten))
    return fail(errc::corrupt, "trace record: bad job entry");
  t.outcome = static_cast<job_outcome>(outcome);
  auto j = decode_job_record(rec);
  if (!j)
    return make_unexpected(j.error());
  t.record = std::move(*j);
  return t;
}

constexpr auto job_outcome_names = name_table<job_outcome>(
    {"pending", "leased", "failed", "succeeded", "cancelled", "forgotten"},
    "unknown");
static_assert(job_outcome_names.covers(job_outcome::forgotten));

/// True for the outcomes after which the queue holds no record.
bool ended(job_outcome o) noexcept {
  return o == job_outcome::succeeded || o == job_outcome::cancelled
         || o == job_outcome::forgotten;
}

} // namespace

bool valid_correlation_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_correlation_id)
    return false;
  for (auto c : id)
    if (c <= ' ' || c > '~' || c == '/' || c == '?' || c == '#' || c == '%')
      return false;
  return true;
}

const char* to_string(job_outcome o) noexcept {
  return job_outcome_names(o);
}

result<std::unique_ptr<trace_index>> trace_index::open(environment& env) {
  MDB_dbi d{}, done{}, ends{};
  if (auto ok = open_dbs(
          env, {{traces_db, 0, &d}, {done_db, 0, &done}, {ends_db, 0, &ends}});
      !ok)
    return make_unexpected(ok.error());
  return std::unique_ptr<trace_index>{new trace_index(env, d, done, ends)};
}

std::string trace_index::event_prefix(std::string_view correlation_id) {
  return prefix_of(correlation_id, 'e');
}

result<void> trace_index::event_in(MDB_txn* txn, std::string_view prefix,
                                   std::string_view company_id,
                                   std::uint64_t seq) {
  if (prefix.empty())
    return {};
  record_writer w{trace_format_v1};
  w.str(company_id);
  return put(txn, dbi_, key_of(prefix, seq), w.bytes());
}

result<void> trace_index::job_started_in(MDB_txn* txn, const job& j) {
  auto prefix = prefix_of(j.correlation_id, 'j');
  if (prefix.empty())
    return {};
  record_writer w{trace_format_v2};
  w.str(j.company_id).u64(0);
  return put(txn, dbi_, key_of(prefix, j.id), w.bytes());
}

result<void> trace_index::job_ended_in(MDB_txn* txn, const job& j,
                                       job_outcome outcome,
                                       timestamp_ms finished_at) {
  auto prefix = prefix_of(j.correlation_id, 'j');
  if (prefix.empty())
    return {};
  auto key = key_of(prefix, j.id);
  auto k = as_val(key);
  MDB_val v;
  auto rc = mdb_get(txn, dbi_, &k, &v);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_get(traces)");
  if (rc == MDB_NOTFOUND
      || record_reader{v.mv_data, v.mv_size}.format() != trace_format_v2)
    // Enqueued before `trace_done`: its entry of format 1 keeps the end.
    return put(txn, dbi_, key, ended_job(j, outcome, finished_at));
  // Under the job's id: the entry stays as it was written, so that an end
  // writes one page near the right edge of `trace_ends` (jobs end roughly
  // in the order of their ids), not the older page of its entry too.
  std::string end_key(8, '\0');
  put_be64(end_key.data(), j.id);
  return put(txn, ends_, end_key, ended_job(j, outcome, finished_at));
}

result<void> trace_index::message_in(MDB_txn* txn,
                                     std::string_view correlation_id,
                                     std::string_view company_id,
                                     std::uint64_t id) {
  auto prefix = prefix_of(correlation_id, 'm');
  if (prefix.empty())
    return {};
  record_writer w{trace_format_v1};
  w.str(company_id);
  return put(txn, dbi_, key_of(prefix, id), w.bytes());
}

result<std::optional<traced_job>>
trace_index::read_job(MDB_txn* txn, std::uint8_t format, record_reader& r,
                      std::uint64_t id) const {
  // The queue's record of a live job: its state as of now.
  auto live = [&]() -> result<std::optional<traced_job>> {
    if (!has_jobs_)
      return std::optional<traced_job>{};
    auto j = job_detail::load_job(txn, jobs_dbi_, id);
    if (!j) {
      if (j.error().code == errc::not_found)
        return std::optional<traced_job>{};
      return make_unexpected(j.error());
    }
    traced_job t;
    t.outcome = static_cast<job_outcome>(j->state);
    t.record = std::move(*j);
    return std::optional<traced_job>{std::move(t)};
  };
  if (format == trace_format_v1) {
    auto t = read_ended(r);
    if (!t)
      return make_unexpected(t.error());
    if (!ended(t->outcome)) {
      auto now = live();
      if (!now || *now)
        return now;
    }
    return std::optional<traced_job>{std::move(*t)};
  }
  auto done = r.u64();
  if (!r.ok())
    return fail(errc::corrupt, "trace record: bad job entry");
  std::string key(8, '\0');
  MDB_val v;
  if (done == 0) {
    auto now = live();
    if (!now || *now)
      return now;
    // Ended: its end under its id, or none (it moved to another member).
    put_be64(key.data(), id);
    auto k = as_val(key);
    auto rc = mdb_get(txn, ends_, &k, &v);
    if (rc == MDB_NOTFOUND)
      return std::optional<traced_job>{};
    if (rc != 0)
      return fail_mdb(rc, "mdb_get(trace_ends)");
  } else {
    put_be64(key.data(), done);
    auto k = as_val(key);
    if (auto rc = mdb_get(txn, done_, &k, &v); rc != 0)
      return rc == MDB_NOTFOUND
                 ? fail(errc::corrupt,
                        "trace_done: no entry for job " + std::to_string(id))
                 : fail_mdb(rc, "mdb_get(trace_done)");
  }
  record_reader d{v.mv_data, v.mv_size};
  if (d.format() != trace_format_v1)
    return fail(errc::corrupt, "trace end: unknown format");
  d.str(); // The company, checked at the job's entry.
  auto t = read_ended(d);
  if (!t)
    return make_unexpected(t.error());
  return std::optional<traced_job>{std::move(*t)};
}

result<trace_entries>
trace_index::read(std::string_view correlation_id,
                  const std::function<bool(std::string_view)>& visible,
                  std::size_t max_each) const {
  trace_entries out;
  if (!valid_correlation_id(correlation_id))
    return out;
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  auto base = base_of(correlation_id);
  auto walked = cursor_detail::each_with_prefix(
      rtxn->handle(), dbi_, base, "mdb_cursor_open(traces)",
      "mdb_cursor_get(traces)",
      [&](std::string_view key, const MDB_val& v) -> result<bool> {
        if (key.size() != base.size() + 9)
          return false;
        auto kind = key[base.size()];
        auto id = get_be64(key.data() + base.size() + 1);
        record_reader r{v.mv_data, v.mv_size};
        auto format = r.format();
        if (format != trace_format_v1
            && (format != trace_format_v2 || kind != 'j'))
          return fail(errc::corrupt, "trace record: unknown format");
        auto company = r.str();
        if (!r.ok())
          return fail(errc::corrupt, "trace record: truncated");
        if (!visible(company))
          return true;
        if (kind == 'e') {
          if (out.event_seqs.size() < max_each)
            out.event_seqs.push_back(id);
        } else if (kind == 'm') {
          if (out.message_ids.size() < max_each)
            out.message_ids.push_back(id);
        } else if (kind == 'j' && out.jobs.size() < max_each) {
          auto t = read_job(rtxn->handle(), format, r, id);
          if (!t)
            return make_unexpected(t.error());
          if (*t)
            out.jobs.push_back(std::move(**t));
        }
        return true;
      });
  if (!walked)
    return make_unexpected(walked.error());
  return out;
}

} // namespace switchboard::store
