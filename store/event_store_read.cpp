// The event store's reads: streams, by type, company, reference, time,
// the sorted lists, single events and the stats.
#include "store/event_store_detail.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

namespace switchboard::store {

// -- reads --------------------------------------------------------------------

namespace {

/// The sequences of a stream from `from_version` on, at most `max_count`:
/// the streams database's entries (a gap-free prefix) and then memory's
/// newer ones (the two overlap while a flush is being let go).
result<std::vector<tail_entry>>
stream_entries(MDB_txn* txn, MDB_dbi streams, std::uint64_t slot,
               const std::vector<tail_entry>& mem, std::uint64_t from_version,
               std::size_t max_count) {
  std::vector<tail_entry> out;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, streams, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  stream_key k{slot, std::max<std::uint64_t>(from_version, 1)};
  auto key = k.val();
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  for (; rc == 0 && out.size() < max_count;
       rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
    if (key.mv_size != 16 || val.mv_size != 8)
      return fail(errc::corrupt, "streams: bad key or value size");
    if (get_be64(key.mv_data) != slot)
      break;
    out.push_back({get_be64(static_cast<const char*>(key.mv_data) + 8),
                   get_be64(val.mv_data)});
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(streams)");
  for (const auto& e : mem) {
    if (out.size() >= max_count)
      break;
    if (e.version < from_version
        || (!out.empty() && e.version <= out.back().version))
      continue;
    out.push_back(e);
  }
  return out;
}

} // namespace

result<std::vector<envelope>> event_store::read_stream(
    std::string_view company_id, std::string_view aggregate_type,
    std::string_view aggregate_id, std::uint64_t from_version,
    std::size_t max_count) const {
  return guarded("read_stream", [&]() -> result<std::vector<envelope>> {
    std::vector<envelope> out;
    if (max_count == 0 || aggregate_type.empty() || aggregate_id.empty())
      return out;
    auto f = find_for_read(company_id, aggregate_type, aggregate_id);
    if (!f)
      return make_unexpected(f.error());
    if (!f->slot.exists || f->slot.version < from_version)
      return out;
    auto* t = f->txn.handle();
    auto entries = stream_entries(t, db_.streams, f->slot.slot, f->mem,
                                  from_version, max_count);
    if (!entries)
      return make_unexpected(entries.error());
    out.reserve(entries->size());
    for (const auto& e : *entries) {
      auto ev = indexed(load(t, db_.events, e.seq));
      if (!ev)
        return make_unexpected(ev.error());
      out.push_back(ev->to_envelope());
    }
    return out;
  });
}

result<void> event_store::visit_stream(
    std::string_view company_id, std::string_view aggregate_type,
    std::string_view aggregate_id, std::uint64_t after_seq,
    const std::function<bool(std::uint64_t)>& fn) const {
  return guarded("visit_stream", [&]() -> result<void> {
    if (aggregate_type.empty() || aggregate_id.empty())
      return {};
    auto f = find_for_read(company_id, aggregate_type, aggregate_id);
    if (!f)
      return make_unexpected(f.error());
    if (!f->slot.exists)
      return {};
    auto entries = stream_entries(f->txn.handle(), db_.streams, f->slot.slot,
                                  f->mem, 1, f->slot.version);
    if (!entries)
      return make_unexpected(entries.error());
    for (const auto& e : *entries)
      if (e.seq > after_seq && !fn(e.seq))
        return {};
    return {};
  });
}

result<void>
event_store::visit_company(const read_txn& txn, std::string_view company_id,
                           std::uint64_t after_seq,
                           const std::function<bool(std::uint64_t)>& fn) const {
  return guarded("visit_company", [&]() -> result<void> {
    return each_in_name_index(txn.handle(), db_.by_company, company_id,
                              after_seq + 1, "mdb_cursor_get(by_company)",
                              [&](std::uint64_t seq) -> result<bool> {
                                return fn(seq);
                              });
  });
}

result<std::vector<envelope>>
event_store::read_by(event_index index, std::string_view name,
                     std::uint64_t from_seq, std::size_t max_count) const {
  bool by_type = index == event_index::type;
  return read_name_index(by_type ? "read_by_type" : "read_by_ref", env_,
                         by_type ? db_.by_type : db_.by_ref, db_.events, name,
                         from_seq, max_count);
}

result<std::vector<envelope>>
event_store::read_by_company(std::string_view company_id,
                             std::uint64_t from_seq,
                             std::size_t max_count) const {
  return read_name_index("read_by_company", env_, db_.by_company, db_.events,
                         company_id, from_seq, max_count);
}

result<std::vector<envelope>>
event_store::read_by_company_before(std::string_view company_id,
                                    std::uint64_t before_seq,
                                    std::size_t max_count) const {
  return guarded(
      "read_by_company_before", [&]() -> result<std::vector<envelope>> {
        std::vector<envelope> out;
        if (company_id.empty() || company_id.size() > max_name_size
            || max_count == 0 || before_seq <= 1)
          return out;
        auto rd = cursor_detail::open_read_cursor(env_, db_.by_company);
        if (!rd)
          return make_unexpected(rd.error());
        name_key start{company_id, before_seq};
        auto prefix = start.prefix();
        auto key = start.val();
        MDB_val val;
        // The first key at or past the start, then back.
        auto rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
          rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_LAST);
        else if (rc == 0)
          rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_PREV);
        for (; rc == 0 && out.size() < max_count;
             rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_PREV)) {
          if (key.mv_size != prefix.size() + 8
              || std::memcmp(key.mv_data, prefix.data(), prefix.size()) != 0)
            break;
          auto seq
              = get_be64(static_cast<const char*>(key.mv_data) + prefix.size());
          if (seq >= before_seq)
            continue;
          auto ev = load(rd->txn.handle(), db_.events, seq);
          if (!ev)
            return make_unexpected(ev.error());
          out.push_back(ev->to_envelope());
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
          return fail_mdb(rc, "mdb_cursor_get(by_company)");
        return out;
      });
}

result<std::vector<envelope>>
event_store::read_by_time(timestamp_ms from_ms, timestamp_ms to_ms,
                          std::uint64_t after_seq,
                          std::size_t max_count) const {
  return guarded("read_by_time", [&]() -> result<std::vector<envelope>> {
    std::vector<envelope> out;
    if (max_count == 0 || from_ms >= to_ms)
      return out;
    auto rd = cursor_detail::open_read_cursor(env_, db_.by_time);
    if (!rd)
      return make_unexpected(rd.error());
    char start[16];
    auto from = order_preserving(from_ms);
    if (after_seq == ~std::uint64_t{0}) {
      if (from_ms + 1 >= to_ms)
        return out;
      put_be64(start, from + 1);
      put_be64(start + 8, 0);
    } else {
      put_be64(start, from);
      put_be64(start + 8, after_seq + 1);
    }
    auto end = order_preserving(to_ms);
    auto key = as_val(start, 16);
    MDB_val val;
    auto rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_SET_RANGE);
    while (rc == 0 && out.size() < max_count) {
      if (key.mv_size != 16)
        return fail(errc::corrupt, "by_time: bad key size");
      if (get_be64(key.mv_data) >= end)
        break;
      auto seq = get_be64(static_cast<const char*>(key.mv_data) + 8);
      auto ev = load(rd->txn.handle(), db_.events, seq);
      if (!ev)
        return make_unexpected(ev.error());
      out.push_back(ev->to_envelope());
      rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(by_time)");
    return out;
  });
}

result<std::vector<envelope>>
event_store::read_all(std::uint64_t from_seq, std::size_t max_count) const {
  return guarded("read_all", [&]() -> result<std::vector<envelope>> {
    std::vector<envelope> out;
    if (max_count == 0)
      return out;
    auto res = scan(from_seq, [&](const envelope_view& v) {
      out.push_back(v.to_envelope());
      return out.size() < max_count;
    });
    if (!res)
      return make_unexpected(res.error());
    return out;
  });
}

result<std::vector<list_entry>>
event_store::read_list(std::string_view list, std::string_view from_key,
                       std::string_view to_key, std::size_t max_count) const {
  return read_lists({std::string{list}}, from_key, to_key, max_count);
}

result<std::vector<list_entry>>
event_store::read_lists(const std::vector<std::string>& lists,
                        std::string_view from_key, std::string_view to_key,
                        std::size_t max_count) const {
  return guarded("read_list", [&]() -> result<std::vector<list_entry>> {
    std::vector<list_entry> out;
    if (max_count == 0)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    // The first max_count keys of each list hold the first max_count of
    // their union: collect those (sort key, sequence), then load only the
    // events of the ones returned.
    std::vector<std::pair<std::string, std::uint64_t>> found;
    // Written behind the log: the events the lister has not listed yet, in
    // this snapshot, decide their keys (0: deleted).
    list_ops unlisted;
    if (cfg_.lists && cfg_.lists_behind) {
      bool behind = false;
      auto at = read_checkpoint(txn->handle(), db_.checkpoints,
                                lists_through_checkpoint, &behind);
      if (!at)
        return make_unexpected(at.error());
      if (behind) {
        auto read
            = tail_list_ops(txn->handle(), *at,
                            std::numeric_limits<std::size_t>::max(), unlisted);
        if (!read)
          return make_unexpected(read.error());
      }
    }
    for (const auto& list : lists) {
      if (list.empty() || 2 + list.size() > max_key_size)
        continue;
      auto prefix = list_key(list, {});
      auto start = list_key(list, from_key);
      if (start.size() > max_key_size)
        continue;
      std::size_t taken = 0;
      auto walked = cursor_detail::each_with_prefix_from(
          txn->handle(), db_.listed, prefix, start, "mdb_cursor_open",
          "mdb_cursor_get(listed)",
          [&](std::string_view k, const MDB_val& val) -> result<bool> {
            auto sort_key = k.substr(prefix.size());
            if (!to_key.empty() && sort_key >= to_key)
              return false;
            if (val.mv_size != 8)
              return fail(errc::corrupt, "listed: bad value size");
            if (!unlisted.empty() && unlisted.find(k) != unlisted.end())
              return true; // decided below
            found.emplace_back(std::string{sort_key}, get_be64(val.mv_data));
            return ++taken < max_count;
          });
      if (!walked)
        return make_unexpected(walked.error());
      for (auto i = unlisted.lower_bound(start);
           i != unlisted.end()
           && std::string_view{i->first}.substr(0, prefix.size()) == prefix;
           ++i) {
        auto sort_key = std::string_view{i->first}.substr(prefix.size());
        if (!to_key.empty() && sort_key >= to_key)
          break;
        if (i->second != 0)
          found.emplace_back(std::string{sort_key}, i->second);
      }
    }
    std::sort(found.begin(), found.end());
    if (found.size() > max_count)
      found.resize(max_count);
    out.reserve(found.size());
    for (auto& [sort_key, seq] : found) {
      auto ev = load(txn->handle(), db_.events, seq);
      if (!ev)
        return make_unexpected(ev.error());
      out.push_back({std::move(sort_key), ev->to_envelope()});
    }
    return out;
  });
}

result<envelope> event_store::read_event(std::uint64_t seq) const {
  return guarded("read_event", [&]() -> result<envelope> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto ev = load(txn->handle(), db_.events, seq);
    if (!ev)
      return make_unexpected(ev.error());
    return ev->to_envelope();
  });
}

result<std::uint64_t> event_store::find_event(std::string_view company_id,
                                              std::string_view event_id) const {
  return guarded("find_event", [&]() -> result<std::uint64_t> {
    if (event_id.empty() || event_id.size() > max_name_size
        || company_id.size() > max_name_size
        || 2 + event_id.size() + company_id.size() > max_key_size)
      return fail(errc::not_found, "no such event id");
    id_key k;
    make_id_key(company_id, event_id, k);
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto seq = find_u64(txn->handle(), db_.event_ids, k.val(),
                        "mdb_get(event_ids)", "event_ids: bad value size");
    if (!seq)
      return make_unexpected(seq.error());
    if (!*seq)
      return fail(errc::not_found, "no event with id " + std::string{event_id});
    return **seq;
  });
}

result<std::uint64_t> event_store::last_sequence() const {
  return guarded("last_sequence", [&]() -> result<std::uint64_t> {
    auto rd = cursor_detail::open_read_cursor(env_, db_.events);
    if (!rd)
      return make_unexpected(rd.error());
    MDB_val k, v;
    auto rc = mdb_cursor_get(rd->cursor(), &k, &v, MDB_LAST);
    return u64_or_zero(rc, k, "mdb_cursor_get(events)", "events: bad key size");
  });
}

result<bool> event_store::has_event_in(MDB_txn* txn, std::uint64_t seq) const {
  char k[8];
  put_be64(k, seq);
  MDB_val key{8, k}, val;
  auto rc = mdb_get(txn, db_.events, &key, &val);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(events)");
  return true;
}

result<std::uint64_t> event_store::last_sequence_in(MDB_txn* txn) const {
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, db_.events, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open(events)");
  MDB_val k, v;
  auto rc = mdb_cursor_get(c.c, &k, &v, MDB_LAST);
  return u64_or_zero(rc, k, "mdb_cursor_get(events)", "events: bad key size");
}

result<std::uint64_t>
event_store::stream_version(std::string_view company_id,
                            std::string_view aggregate_type,
                            std::string_view aggregate_id) const {
  return guarded("stream_version", [&]() -> result<std::uint64_t> {
    if (aggregate_type.empty() || aggregate_id.empty())
      return std::uint64_t{0};
    auto f = find_for_read(company_id, aggregate_type, aggregate_id);
    if (!f)
      return make_unexpected(f.error());
    return f->slot.exists ? f->slot.version : 0;
  });
}

std::uint64_t
event_store::stream_generation(std::string_view aggregate_type) const noexcept {
  return tails_->generation[stream_tails::generation_of(aggregate_type)].load(
      std::memory_order_acquire);
}

result<std::uint64_t>
event_store::scan(std::uint64_t from_seq,
                  const std::function<bool(const envelope_view&)>& fn) const {
  return guarded("scan", [&]() -> result<std::uint64_t> {
    auto rd = cursor_detail::open_read_cursor(env_, db_.events);
    if (!rd)
      return make_unexpected(rd.error());
    char start[8];
    put_be64(start, from_seq);
    auto key = as_val(start, 8);
    MDB_val val;
    std::uint64_t n = 0;
    auto rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_SET_RANGE);
    while (rc == 0) {
      auto ev = decode_record(val.mv_data, val.mv_size);
      if (!ev)
        return make_unexpected(ev.error());
      ++n;
      if (!fn(*ev))
        return n;
      rc = mdb_cursor_get(rd->cursor(), &key, &val, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(events)");
    return n;
  });
}

event_store_stats event_store::stats() const {
  event_store_stats s;
  s.appends = appends_.load();
  s.idempotent_appends = idempotent_.load();
  s.conflicts = conflicts_.load();
  return s;
}

} // namespace switchboard::store
