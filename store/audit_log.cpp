#include "store/audit_log.hpp"
#include "store/lmdb_util.hpp"

#include "store/audit_log_detail.hpp"
#include "store/codec.hpp"
#include "store/record.hpp"

#include <limits>
#include <tuple>

namespace switchboard::store {

using namespace audit_detail;

namespace {

constexpr std::uint8_t audit_format_v1 = 1;
constexpr std::string_view consumer = "audit";

/// The fields of an audit record, in their stored order.
template <class Record>
auto fields(Record& r) {
  return std::tie(r.sequence, r.event_id, r.event_type, r.model_type,
                  r.model_id, r.user_id, r.company_id, r.data, r.ip_address,
                  r.user_agent, r.occurred_at);
}

std::string encode(const audit_record& r) {
  record_writer w{audit_format_v1};
  w.put(fields(r));
  return w.bytes();
}

result<audit_record> decode(const MDB_val& v) {
  return record_reader::decode<audit_record>(
      v.mv_data, v.mv_size, audit_format_v1, audit_format_v1, "audit record",
      [](record_reader& r, audit_record& out) {
        r.get(fields(out));
      });
}

/// The first sequence of the log at or after `from`; 0 past its end. A
/// sequence missing below a stored one belongs to a forgotten event
/// (company_forget.hpp): the walks step over it.
result<std::uint64_t> first_stored(MDB_txn* txn, MDB_dbi events,
                                   std::uint64_t from) {
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, events, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open(events)");
  auto key_bytes = seq_key(from);
  auto key = as_val(key_bytes);
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  return u64_or_zero(rc, key, "mdb_cursor_get(events)", "events: bad key size");
}

/// The sequence of the first event stored after `seq`, decoded into `ev`:
/// 0 when there is none.
result<std::uint64_t> next_stored(MDB_txn* txn, MDB_dbi events,
                                  std::uint64_t seq, envelope_view& ev) {
  auto next = seq + 1;
  auto key_bytes = seq_key(next);
  auto key = as_val(key_bytes);
  MDB_val val;
  auto rc = mdb_get(txn, events, &key, &val);
  if (rc == MDB_NOTFOUND) {
    // The end of the log, or forgotten events before its next one.
    auto after = first_stored(txn, events, next);
    if (!after || *after == 0)
      return after;
    next = *after;
    key_bytes = seq_key(next);
    key = as_val(key_bytes);
    rc = mdb_get(txn, events, &key, &val);
  }
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(events)");
  auto decoded = decode_record(val.mv_data, val.mv_size);
  if (!decoded)
    return make_unexpected(decoded.error());
  ev = *decoded;
  return next;
}

/// Calls `fn(seq, ev)` for the events stored after `from`, in order, at
/// most `max_count` of them, until it returns false or an error.
template <class F>
result<void> each_stored(MDB_txn* txn, MDB_dbi events, std::uint64_t from,
                         std::size_t max_count, F fn) {
  auto seq = from;
  for (std::size_t i = 0; i < max_count; ++i) {
    envelope_view ev;
    auto next = next_stored(txn, events, seq, ev);
    if (!next)
      return make_unexpected(next.error());
    if (*next == 0)
      break;
    seq = *next;
    auto go_on = fn(seq, ev);
    if (!go_on)
      return make_unexpected(go_on.error());
    if (!*go_on)
      break;
  }
  return {};
}

} // namespace

audit_log::audit_log(environment& env, const event_store& store,
                     audited_fn audited, MDB_dbi records, MDB_dbi checkpoints,
                     MDB_dbi events)
    : env_(env), store_(store), audited_(std::move(audited)), records_(records),
      checkpoints_(checkpoints), events_(events) {}

result<std::unique_ptr<audit_log>> audit_log::open(environment& env,
                                                   const event_store& events,
                                                   audited_fn audited) {
  MDB_dbi records{}, checkpoints{}, log{};
  if (auto ok = open_dbs(env, {{audit_db, 0, &records},
                               {"checkpoints", 0, &checkpoints},
                               {"events", 0, &log}});
      !ok)
    return make_unexpected(ok.error());
  return std::unique_ptr<audit_log>{new audit_log(
      env, events, std::move(audited), records, checkpoints, log)};
}

result<void> audit_log::advance_in(MDB_txn* txn) {
  auto cp = read_checkpoint(txn, checkpoints_, consumer);
  if (!cp)
    return make_unexpected(cp.error());
  auto next = *cp;
  auto walked = each_stored(
      txn, events_, next, std::numeric_limits<std::size_t>::max(),
      [&](std::uint64_t seq, const envelope_view& ev) -> result<bool> {
        if (audited_(ev.type)) {
          auto has = has_record(txn, seq);
          if (!has)
            return make_unexpected(has.error());
          if (!*has) {
            next = seq - 1; // past the forgotten events before it, if any
            return false;
          }
        }
        next = seq;
        return true;
      });
  if (!walked)
    return walked;
  if (next != *cp)
    return write_checkpoint(txn, checkpoints_, consumer, next);
  return {};
}

result<bool> audit_log::has_record(MDB_txn* txn, std::uint64_t seq) const {
  auto key_bytes = seq_key(seq);
  auto key = as_val(key_bytes);
  MDB_val rec;
  auto rc = mdb_get(txn, records_, &key, &rec);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(audit)");
  return true;
}

result<void> audit_log::record_in(write_txn& txn, const envelope& ev) {
  auto* t = txn.handle();
  if (audited_(ev.type)) {
    audit_record r;
    r.sequence = ev.sequence;
    r.event_id = ev.id;
    r.event_type = ev.type;
    r.model_type = ev.aggregate_type;
    r.model_id = ev.aggregate_id;
    r.user_id = ev.metadata.user_id;
    r.company_id = ev.company_id;
    r.data = ev.data;
    r.ip_address = ev.metadata.ip_address;
    r.user_agent = ev.metadata.user_agent;
    r.occurred_at = ev.occurred_at;
    auto key_bytes = seq_key(ev.sequence);
    auto key = as_val(key_bytes);
    auto bytes = encode(r);
    auto val = as_val(bytes);
    if (auto rc = mdb_put(t, records_, &key, &val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(audit)");
  }
  return advance_in(t);
}

result<std::uint64_t> audit_log::catch_up(writer& w, std::size_t batch) {
  std::uint64_t written = 0;
  for (;;) {
    bool more = false;
    std::uint64_t count = 0;
    auto res = w.execute([&](write_txn& txn) -> result<void> {
      count = 0;
      more = false;
      auto* t = txn.handle();
      auto cp = read_checkpoint(t, checkpoints_, consumer);
      if (!cp)
        return make_unexpected(cp.error());
      auto seq = *cp;
      auto walked = each_stored(
          t, events_, seq, batch,
          [&](std::uint64_t next, const envelope_view& view) -> result<bool> {
            seq = next;
            if (!audited_(view.type))
              return true;
            auto has = has_record(t, seq);
            if (!has)
              return make_unexpected(has.error());
            if (*has)
              return true;
            if (auto ok = record_in(txn, view.to_envelope()); !ok)
              return make_unexpected(ok.error());
            ++count;
            return true;
          });
      if (!walked)
        return walked;
      more = seq != *cp;
      return write_checkpoint(t, checkpoints_, consumer, seq);
    });
    if (!res)
      return make_unexpected(res.error());
    written += count;
    if (!more)
      return written;
  }
}

template <class Visit>
result<std::vector<audit_record>> audit_log::collect(std::size_t max_count,
                                                     Visit visit) const {
  std::vector<audit_record> out;
  if (max_count == 0)
    return out;
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  auto* t = rtxn->handle();
  result<void> failed;
  auto walked = visit(*rtxn, [&](std::uint64_t seq) {
    auto key_bytes = seq_key(seq);
    auto key = as_val(key_bytes);
    MDB_val rec;
    auto rc = mdb_get(t, records_, &key, &rec);
    if (rc == MDB_NOTFOUND)
      return true; // not an audited event
    if (rc != 0) {
      failed = fail_mdb(rc, "mdb_get(audit)");
      return false;
    }
    auto r = decode(rec);
    if (!r) {
      failed = make_unexpected(r.error());
      return false;
    }
    out.push_back(std::move(*r));
    return out.size() < max_count;
  });
  if (!walked)
    return make_unexpected(walked.error());
  if (!failed)
    return make_unexpected(failed.error());
  return out;
}

result<std::vector<audit_record>>
audit_log::by_company(std::string_view company_id, std::uint64_t after_seq,
                      std::size_t max_count) const {
  return collect(max_count, [&](const read_txn& txn, const auto& fn) {
    return store_.visit_company(txn, company_id, after_seq, fn);
  });
}

result<std::vector<audit_record>>
audit_log::by_model(std::string_view company_id, std::string_view model_type,
                    std::string_view model_id, std::uint64_t after_seq,
                    std::size_t max_count) const {
  // The stream's sequences first, in the event store's own snapshot (one
  // read transaction per thread at a time), then the records.
  std::vector<std::uint64_t> seqs;
  auto walked = store_.visit_stream(company_id, model_type, model_id, after_seq,
                                    [&seqs](std::uint64_t seq) {
                                      seqs.push_back(seq);
                                      return true;
                                    });
  if (!walked)
    return make_unexpected(walked.error());
  return collect(max_count, [&](const read_txn&, const auto& fn) {
    for (auto seq : seqs)
      if (!fn(seq))
        break;
    return result<void>{};
  });
}

result<std::uint64_t> audit_log::checkpoint() const {
  return read_checkpoint(env_, checkpoints_, consumer);
}

result<bool> audit_log::recorded(const envelope& ev) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  auto* t = rtxn->handle();
  if (audited_(ev.type))
    return has_record(t, ev.sequence);
  auto cp = read_checkpoint(t, checkpoints_, consumer);
  if (!cp)
    return make_unexpected(cp.error());
  return *cp >= ev.sequence;
}

} // namespace switchboard::store
