#include "store/traces.hpp"

#include "store/codec.hpp"
#include "store/lmdb_util.hpp"
#include "store/record.hpp"

namespace switchboard::store {

namespace {

constexpr std::uint8_t trace_format_v1 = 1;

std::string key_of(std::string_view prefix, std::uint64_t id) {
  std::string k{prefix};
  k.resize(prefix.size() + 8);
  put_be64(k.data() + prefix.size(), id);
  return k;
}

std::string prefix_of(std::string_view correlation_id, char kind) {
  std::string p;
  if (!valid_correlation_id(correlation_id))
    return p;
  p.reserve(correlation_id.size() + 2);
  p.push_back(static_cast<char>(correlation_id.size()));
  p.append(correlation_id);
  p.push_back(kind);
  return p;
}

result<void> put(MDB_txn* txn, MDB_dbi dbi, const std::string& key,
                 const std::string& value) {
  auto k = as_val(key);
  auto v = as_val(value);
  if (auto rc = mdb_put(txn, dbi, &k, &v, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(traces)");
  return {};
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
  switch (o) {
  case job_outcome::pending:
    return "pending";
  case job_outcome::leased:
    return "leased";
  case job_outcome::failed:
    return "failed";
  case job_outcome::succeeded:
    return "succeeded";
  case job_outcome::cancelled:
    return "cancelled";
  case job_outcome::forgotten:
    return "forgotten";
  }
  return "unknown";
}

result<std::unique_ptr<trace_index>> trace_index::open(environment& env) {
  auto d = env.open_db("traces");
  if (!d)
    return make_unexpected(d.error());
  return std::unique_ptr<trace_index>{new trace_index(env, *d)};
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

result<void> trace_index::job_in(MDB_txn* txn, const job& j,
                                 job_outcome outcome,
                                 timestamp_ms finished_at) {
  auto prefix = prefix_of(j.correlation_id, 'j');
  if (prefix.empty())
    return {};
  record_writer w{trace_format_v1};
  w.str(j.company_id)
      .u64(static_cast<std::uint64_t>(outcome))
      .i64(finished_at)
      .str(encode_job_record(j));
  return put(txn, dbi_, key_of(prefix, j.id), w.bytes());
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
  MDB_cursor* cur = nullptr;
  if (auto rc = mdb_cursor_open(rtxn->handle(), dbi_, &cur); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open(traces)");
  std::string base;
  base.push_back(static_cast<char>(correlation_id.size()));
  base.append(correlation_id);
  auto k = as_val(base);
  MDB_val v;
  auto rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  result<trace_entries> res = out;
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    auto key = as_view(k);
    if (key.size() != base.size() + 9 || key.substr(0, base.size()) != base)
      break;
    auto kind = key[base.size()];
    auto id = get_be64(key.data() + base.size() + 1);
    record_reader r{v.mv_data, v.mv_size};
    if (r.format() != trace_format_v1) {
      res = fail(errc::corrupt, "trace record: unknown format");
      break;
    }
    auto company = r.str();
    if (!r.ok()) {
      res = fail(errc::corrupt, "trace record: truncated");
      break;
    }
    if (!visible(company))
      continue;
    if (kind == 'e') {
      if (res->event_seqs.size() < max_each)
        res->event_seqs.push_back(id);
    } else if (kind == 'm') {
      if (res->message_ids.size() < max_each)
        res->message_ids.push_back(id);
    } else if (kind == 'j' && res->jobs.size() < max_each) {
      traced_job t;
      auto outcome = r.u64();
      t.finished_at = r.i64();
      auto rec = r.str();
      if (!r.ok()
          || outcome > static_cast<std::uint64_t>(job_outcome::forgotten)) {
        res = fail(errc::corrupt, "trace record: bad job entry");
        break;
      }
      t.outcome = static_cast<job_outcome>(outcome);
      auto j = decode_job_record(rec);
      if (!j) {
        res = make_unexpected(j.error());
        break;
      }
      t.record = std::move(*j);
      res->jobs.push_back(std::move(t));
    }
  }
  mdb_cursor_close(cur);
  if (!res)
    return res;
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(traces)");
  return res;
}

} // namespace switchboard::store
