// The event store: opening it, key migrations, the sorted lists and the
// streams index. Appends are in event_store_append.cpp, reads in
// event_store_read.cpp; what they share is in event_store_detail.hpp.
#include "store/event_store.hpp"
#include "store/event_store_detail.hpp"

#include <limits>
#include <map>
#include <unordered_map>

#include <pthread.h>

namespace switchboard::store {

// -- construction -------------------------------------------------------------

event_store::event_store(environment& env, writer& w, config cfg, dbs d)
    : env_(env), writer_(w), cfg_(cfg), db_(d),
      tails_(std::make_unique<stream_tails>()),
      lister_(std::make_unique<lister_state>()) {
  if (cfg_.hash == nullptr)
    cfg_.hash = &default_stream_hash;
  if (cfg_.stream_index_chunk == 0)
    cfg_.stream_index_chunk = 1;
  if (cfg_.stream_index_batch == 0)
    cfg_.stream_index_batch = 1;
}

event_store::~event_store() {
  {
    std::lock_guard<std::mutex> lock{lister_->mtx};
    lister_->stop = true;
  }
  lister_->cv.notify_all();
  if (lister_->thread.joinable())
    lister_->thread.join();
}

result<std::unique_ptr<event_store>> event_store::open(environment& env,
                                                       writer& w, config cfg) {
  return guarded(
      "event_store::open", [&]() -> result<std::unique_ptr<event_store>> {
        dbs d{};
        if (auto ok = open_dbs(env, {{events_db, 0, &d.events},
                                     {streams_db, 0, &d.streams},
                                     {event_ids_db, 0, &d.event_ids},
                                     {by_type_db, 0, &d.by_type},
                                     {by_time_db, 0, &d.by_time},
                                     {by_company_db, 0, &d.by_company},
                                     {by_ref_db, 0, &d.by_ref},
                                     {listed_db, 0, &d.listed},
                                     {checkpoints_db, 0, &d.checkpoints}});
            !ok)
          return make_unexpected(ok.error());
        std::unique_ptr<event_store> out{new event_store(env, w, cfg, d)};
        // The floor of new sequences (a forget may have deleted the log's
        // last events): read once here, kept by the appends' writer.
        auto through
            = read_checkpoint(env, d.checkpoints, forgotten_checkpoint);
        if (!through)
          return make_unexpected(through.error());
        out->tails_->forgotten_through = *through;
        if (cfg.rebuild_stream_index)
          if (auto ok = out->migrate_keys(); !ok)
            return make_unexpected(ok.error());
        if (cfg.rebuild_stream_index)
          if (auto ok = out->recover_stream_tails(); !ok)
            return make_unexpected(ok.error());
        if (cfg.refs && cfg.rebuild_stream_index)
          if (auto ok = out->settle_refs_checkpoint(); !ok)
            return make_unexpected(ok.error());
        if (cfg.lists && cfg.rebuild_stream_index) {
          if (auto ok = out->build_lists(); !ok)
            return make_unexpected(ok.error());
          if (auto ok = out->settle_lists_behind(); !ok)
            return make_unexpected(ok.error());
        }
        return out;
      });
}

result<std::uint64_t> event_store::key_format(const read_txn& txn) const {
  bool found = false;
  auto format
      = read_checkpoint(txn.handle(), db_.checkpoints, keys_checkpoint, &found);
  if (!format || found)
    return format;
  // None: a new store (current keys from its first append on) or one
  // written before the checkpoint existed (format 1).
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn.handle(), db_.events, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
  if (rc == MDB_NOTFOUND)
    return current_key_format;
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get(events)");
  return std::uint64_t{1};
}

result<void> event_store::migrate_keys() {
  bool found = false;
  auto format = read_checkpoint(env_, db_.checkpoints, keys_checkpoint, &found);
  if (!format)
    return make_unexpected(format.error());
  if (found && *format >= current_key_format)
    return {};
  if (found)
    return fail(errc::corrupt, "checkpoints: unknown stream key format "
                                   + std::to_string(*format));
  // Format 1 keyed streams and event ids by (type, id) and id alone; from
  // format 2 on both include the company. One transaction rewrites both
  // databases from the log, so that an open sees either layout whole.
  return writer_.execute([this](write_txn& w) -> result<void> {
    auto* t = w.handle();
    MDB_val key, val;
    {
      cursor_guard probe;
      if (auto rc = mdb_cursor_open(t, db_.events, &probe.c); rc != 0)
        return fail_mdb(rc, "mdb_cursor_open");
      auto rc = mdb_cursor_get(probe.c, &key, &val, MDB_FIRST);
      if (rc == MDB_NOTFOUND) // a new store: nothing to move
        return write_checkpoint(t, db_.checkpoints, keys_checkpoint,
                                current_key_format);
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(events)");
    }
    if (auto rc = mdb_drop(t, db_.streams, 0); rc != 0)
      return fail_mdb(rc, "mdb_drop(streams)");
    if (auto rc = mdb_drop(t, db_.event_ids, 0); rc != 0)
      return fail_mdb(rc, "mdb_drop(event_ids)");
    auto sc = w.cursor(db_.streams);
    if (!sc)
      return make_unexpected(sc.error());
    cursor_guard ec;
    if (auto rc = mdb_cursor_open(t, db_.events, &ec.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    auto nothing = [](std::uint64_t) {
      return mem_owner{};
    };
    std::uint64_t last = 0;
    id_key ik;
    auto rc = mdb_cursor_get(ec.c, &key, &val, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(ec.c, &key, &val, MDB_NEXT)) {
      auto ev = decode_record(val.mv_data, val.mv_size);
      if (!ev)
        return make_unexpected(ev.error());
      last = ev->sequence;
      char seq_be[8];
      put_be64(seq_be, ev->sequence);
      auto seq_val = as_val(seq_be, 8);
      // The event's id, in its company.
      if (ev->id.empty() || ev->id.size() > max_name_size
          || ev->company_id.size() > max_name_size
          || 2 + ev->id.size() + ev->company_id.size() > max_key_size)
        return fail(errc::corrupt, "events: record "
                                       + std::to_string(ev->sequence)
                                       + " has an id that cannot be keyed");
      make_id_key(ev->company_id, ev->id, ik);
      auto k = ik.val();
      auto v = seq_val;
      if (auto r = mdb_put(t, db_.event_ids, &k, &v, MDB_NOOVERWRITE); r != 0)
        return r == MDB_KEYEXIST
                   ? fail(errc::corrupt, "events: id " + std::string{ev->id}
                                             + " is stored twice")
                   : fail_mdb(r, "mdb_put(event_ids)");
      // The event's stream, in its company. A stream of format 1 that
      // holds events of two companies becomes one stream per company.
      auto slot = find_stream(
          t, *sc, db_.events,
          cfg_.hash(ev->company_id, ev->aggregate_type, ev->aggregate_id),
          ev->company_id, ev->aggregate_type, ev->aggregate_id, nothing);
      if (!slot)
        return make_unexpected(slot.error());
      stream_key sk{slot->slot, ev->version};
      k = sk.val();
      v = seq_val;
      // A version stored twice (two writers on one store) keeps its first
      // event, as reads did before; `switchboard check` reports it.
      if (auto r = mdb_put(t, db_.streams, &k, &v, MDB_NOOVERWRITE);
          r != 0 && r != MDB_KEYEXIST)
        return fail_mdb(r, "mdb_put(streams)");
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(events)");
    // Every event is in the streams database now.
    if (auto ok
        = write_checkpoint(t, db_.checkpoints, streams_checkpoint, last);
        !ok)
      return ok;
    return write_checkpoint(t, db_.checkpoints, keys_checkpoint,
                            current_key_format);
  });
}

result<void> event_store::settle_refs_checkpoint() {
  std::uint64_t last = 0;
  {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    bool found = false;
    auto from = read_checkpoint(txn->handle(), db_.checkpoints, refs_checkpoint,
                                &found);
    if (!from)
      return make_unexpected(from.error());
    if (found) {
      refs_from_ = *from;
      return {};
    }
    cursor_guard ec;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.events, &ec.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    MDB_val key, val;
    auto rc = mdb_cursor_get(ec.c, &key, &val, MDB_LAST);
    if (rc == 0 && key.mv_size == 8)
      last = get_be64(key.mv_data);
    else if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(events)");
  }
  // The events stored before references existed are not indexed: from
  // the next one on, every append is.
  auto value = last + 1;
  auto ok = writer_.execute([this, value](write_txn& w) {
    return write_checkpoint(w.handle(), db_.checkpoints, refs_checkpoint,
                            value);
  });
  if (!ok)
    return ok;
  refs_from_ = value;
  return {};
}

listing event_store::listing_of(const envelope& e) const {
  listing out;
  if (cfg_.lists && !cfg_.lists_behind)
    cfg_.lists(e, out);
  if (cfg_.refs)
    cfg_.refs(e, out.refs);
  return out;
}

namespace {

using list_entries = std::vector<std::pair<std::string, std::string>>;

/// Whether a (list, sort key) pair fits a `listed` key.
bool listable(const std::pair<std::string, std::string>& entry) {
  return !entry.first.empty()
         && 2 + entry.first.size() + entry.second.size() <= max_key_size;
}

/// Appends to `out` what an entity's entries going from `before` to `now`
/// (those of event `seq`) does to `listed`: (key, seq), seq 0 to delete.
/// An entry in both is put again, pointing at the new event.
void list_changes(const list_entries& before, const list_entries& now,
                  std::uint64_t seq,
                  std::vector<std::pair<std::string, std::uint64_t>>& out) {
  for (const auto& entry : before)
    if (listable(entry)
        && std::find(now.begin(), now.end(), entry) == now.end())
      out.emplace_back(list_key(entry.first, entry.second), 0);
  for (const auto& entry : now)
    if (listable(entry))
      out.emplace_back(list_key(entry.first, entry.second), seq);
}

/// Writes one change of `list_changes` to `listed`.
result<void> write_list_change(MDB_txn* t, MDB_dbi listed, std::string_view k,
                               std::uint64_t seq) {
  auto key = as_val(k);
  if (seq == 0) {
    if (auto rc = mdb_del(t, listed, &key, nullptr);
        rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_del(listed)");
    return {};
  }
  char seq_be[8];
  put_be64(seq_be, seq);
  auto val = as_val(seq_be, 8);
  if (auto rc = mdb_put(t, listed, &key, &val, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(listed)");
  return {};
}

} // namespace

result<void> event_store::list_in(MDB_txn* t, const envelope* previous,
                                  const envelope& e, const listing* computed) {
  auto& now = listing_scratch_;
  now.entries.clear();
  if (computed == nullptr)
    cfg_.lists(e, now);
  const auto& entries = computed != nullptr ? computed->entries : now.entries;
  // The entries of the stream's previous event go, unless this event
  // keeps them (then the put points them at this event).
  auto& before = previous_scratch_;
  before.entries.clear();
  if (previous != nullptr)
    cfg_.lists(*previous, before);
  std::vector<list_op> changes;
  list_changes(before.entries, entries, e.sequence, changes);
  for (const auto& [k, seq] : changes)
    if (auto ok = write_list_change(t, db_.listed, k, seq); !ok)
      return ok;
  return {};
}

result<std::uint64_t> event_store::tail_list_ops(MDB_txn* txn,
                                                 std::uint64_t from_seq,
                                                 std::size_t max_events,
                                                 list_ops& out) const {
  // Each stream's last event read so far: its version and its entries,
  // which the stream's next event replaces.
  std::unordered_map<std::string, std::pair<std::uint64_t, list_entries>> last;
  listing now, before;
  std::vector<list_op> changes;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, db_.events, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  char start[8];
  put_be64(start, from_seq);
  auto key = as_val(start, 8);
  MDB_val val;
  std::uint64_t last_seq = 0;
  std::size_t n = 0;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  for (; rc == 0 && n < max_events;
       rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT), ++n) {
    auto view = decode_record(val.mv_data, val.mv_size);
    if (!view)
      return make_unexpected(view.error());
    auto e = view->to_envelope();
    last_seq = e.sequence;
    now.entries.clear();
    now.refs.clear();
    cfg_.lists(e, now);
    before.entries.clear();
    std::string stream;
    stream.reserve(e.company_id.size() + e.aggregate_type.size()
                   + e.aggregate_id.size() + 2);
    stream.append(e.company_id).push_back('\0');
    stream.append(e.aggregate_type).push_back('\0');
    stream.append(e.aggregate_id);
    auto known = last.find(stream);
    if (e.version > 1) {
      if (known != last.end() && known->second.first + 1 == e.version) {
        before.entries = std::move(known->second.second);
      } else {
        auto read = read_stream(e.company_id, e.aggregate_type, e.aggregate_id,
                                e.version - 1, 1);
        if (!read)
          return make_unexpected(read.error());
        if (!read->empty() && read->front().version + 1 == e.version)
          cfg_.lists(read->front(), before);
      }
    }
    changes.clear();
    list_changes(before.entries, now.entries, e.sequence, changes);
    for (auto& [k, seq] : changes)
      out[std::move(k)] = seq;
    if (known != last.end())
      known->second = {e.version, std::move(now.entries)};
    else if (!now.entries.empty() || !before.entries.empty())
      last.emplace(std::move(stream),
                   std::make_pair(e.version, std::move(now.entries)));
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(events)");
  return last_seq;
}

result<bool> event_store::list_round() {
  auto& L = *lister_;
  auto generation = L.generation.load();
  auto from = L.through.load();
  // The entries of a list share their leaves: written in key order.
  list_ops last;
  std::uint64_t last_seq = 0;
  {
    // Read, then let the snapshot go before waiting for the writer.
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto read = tail_list_ops(txn->handle(), from, cfg_.list_batch, last);
    if (!read)
      return make_unexpected(read.error());
    last_seq = *read;
  }
  if (last_seq == 0)
    return false;
  auto next = last_seq + 1;
  bool moved = false;
  auto ok = writer_.execute(
      [&](write_txn& w) -> result<void> {
        moved = false;
        auto* t = w.handle();
        if (L.generation.load() != generation)
          return {}; // a forget came between: read the batch again
        auto at = read_checkpoint(t, db_.checkpoints, lists_through_checkpoint);
        if (!at)
          return make_unexpected(at.error());
        if (*at != from)
          return {};
        for (const auto& [k, seq] : last)
          if (auto put = write_list_change(t, db_.listed, k, seq); !put)
            return put;
        if (auto put = write_checkpoint(t, db_.checkpoints,
                                        lists_through_checkpoint, next);
            !put)
          return put;
        moved = true;
        return {};
      },
      isolation::nested, lane::background);
  if (!ok)
    return make_unexpected(ok.error());
  if (moved) {
    L.through = next;
  } else {
    auto at = read_checkpoint(env_, db_.checkpoints, lists_through_checkpoint);
    if (!at)
      return make_unexpected(at.error());
    L.through = *at;
  }
  return true;
}

result<void> event_store::settle_lists_behind() {
  bool found = false;
  auto at = read_checkpoint(env_, db_.checkpoints, lists_through_checkpoint,
                            &found);
  if (!at)
    return make_unexpected(at.error());
  auto& L = *lister_;
  if (found) {
    // What the last run left unlisted is listed now, before any append.
    L.through = *at;
    for (;;) {
      auto more = list_round();
      if (!more)
        return make_unexpected(more.error());
      if (!*more)
        break;
    }
  }
  if (!cfg_.lists_behind) {
    // Appends list their events from here on.
    if (!found)
      return {};
    return writer_.execute([this](write_txn& w) -> result<void> {
      auto key = as_val(lists_through_checkpoint);
      if (auto rc = mdb_del(w.handle(), db_.checkpoints, &key, nullptr);
          rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_del(checkpoints)");
      return {};
    });
  }
  if (!found) {
    // Every stored event was listed by its append (or by build_lists).
    std::uint64_t next = 1;
    auto ok = writer_.execute([this, &next](write_txn& w) -> result<void> {
      auto last = last_sequence_in(w.handle());
      if (!last)
        return make_unexpected(last.error());
      next = *last + 1;
      return write_checkpoint(w.handle(), db_.checkpoints,
                              lists_through_checkpoint, next);
    });
    if (!ok)
      return ok;
    L.through = next;
  }
  L.thread = std::thread([this] {
    run_lister();
  });
  return {};
}

void event_store::run_lister() {
  pthread_setname_np(pthread_self(), "sb-lister");
  auto& L = *lister_;
  std::unique_lock<std::mutex> lock{L.mtx};
  while (!L.stop) {
    L.cv.wait_for(lock, cfg_.list_interval, [&L] {
      return L.stop || L.kicked.load();
    });
    if (L.stop)
      break;
    L.kicked = false;
    lock.unlock();
    // Rounds until one finds nothing: caught up. An error (the writer
    // stopping, a full disk) waits for the next interval.
    for (;;) {
      auto more = list_round();
      if (!more || !*more)
        break;
      std::lock_guard<std::mutex> guard{L.mtx};
      if (L.stop)
        break;
    }
    lock.lock();
  }
}

result<void> event_store::build_lists() {
  bool found = false;
  auto built = read_checkpoint(env_, db_.checkpoints, lists_checkpoint, &found);
  if (!built)
    return make_unexpected(built.error());
  if (found)
    return {};
  // Entries of an earlier layout go first (the lists of any status, which
  // read_lists now merges from the status lists): a store made before the
  // lists has none, and the others are listed again below.
  auto cleared = writer_.execute([this](write_txn& w) -> result<void> {
    if (auto rc = mdb_drop(w.handle(), db_.listed, 0); rc != 0)
      return fail_mdb(rc, "mdb_drop(listed)");
    auto old = as_val(lists_checkpoint_v1);
    if (auto rc = mdb_del(w.handle(), db_.checkpoints, &old, nullptr);
        rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_del(checkpoints)");
    return {};
  });
  if (!cleared)
    return cleared;
  // List what the store holds, a batch of events per write transaction,
  // before any append.
  std::uint64_t from = 1;
  for (;;) {
    auto batch = read_all(from, 4096);
    if (!batch)
      return make_unexpected(batch.error());
    if (batch->empty())
      break;
    from = batch->back().sequence + 1;
    // Only the last event of each stream is listed: an earlier one's
    // entries would be replaced anyway.
    std::vector<const envelope*> last;
    for (const auto& e : *batch) {
      auto later = read_stream(e.company_id, e.aggregate_type, e.aggregate_id,
                               e.version + 1, 1);
      if (!later)
        return make_unexpected(later.error());
      if (later->empty())
        last.push_back(&e);
    }
    auto ok = writer_.execute([this, &last](write_txn& w) -> result<void> {
      for (const auto* e : last)
        if (auto one = list_in(w.handle(), nullptr, *e, nullptr); !one)
          return one;
      return {};
    });
    if (!ok)
      return ok;
  }
  return writer_.execute([this, from](write_txn& w) {
    return write_checkpoint(w.handle(), db_.checkpoints, lists_checkpoint,
                            from);
  });
}

result<void> event_store::recover_stream_tails() {
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  auto* t = txn->handle();
  bool found = false;
  auto through
      = read_checkpoint(t, db_.checkpoints, streams_checkpoint, &found);
  if (!through)
    return make_unexpected(through.error());
  cursor_guard sc;
  if (auto rc = mdb_cursor_open(t, db_.streams, &sc.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  cursor_guard ec;
  if (auto rc = mdb_cursor_open(t, db_.events, &ec.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  if (!found) {
    // No checkpoint: a new store, or one whose streams database was
    // written with every append (complete).
    auto rc = mdb_cursor_get(sc.c, &key, &val, MDB_FIRST);
    if (rc == 0) {
      rc = mdb_cursor_get(ec.c, &key, &val, MDB_LAST);
      if (rc == 0 && key.mv_size == 8)
        *through = get_be64(key.mv_data);
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_cursor_get(streams)");
    }
  }
  auto& T = *tails_;
  T.indexed_through = *through;
  if (!found && *through > 0) {
    // Settle it now: once later events commit, the rule above would take
    // their (unflushed) entries for flushed ones.
    auto value = *through;
    auto ok = writer_.execute([this, value](write_txn& w) {
      return write_checkpoint(w.handle(), db_.checkpoints, streams_checkpoint,
                              value);
    });
    if (!ok)
      return ok;
  }
  // The entries of the events past the checkpoint, in log order, as the
  // appends placed them.
  return place_events_after(
      t, sc.c, ec.c, db_.events, cfg_.hash, *through,
      [&T](std::uint64_t s) {
        return T.owner(s);
      },
      [&T](std::uint64_t slot, const envelope_view& ev) {
        T.add(slot, ev.company_id, ev.aggregate_type, ev.aggregate_id,
              ev.version, ev.sequence);
      });
}

event_store::stream_index_stats event_store::stream_index() const {
  std::shared_lock<std::shared_mutex> lock{tails_->mtx};
  return {tails_->committed_entries, tails_->indexed_through};
}

result<event_store::found_stream>
event_store::find_for_read(std::string_view company, std::string_view type,
                           std::string_view id) const {
  auto& T = *tails_;
  auto hash = cfg_.hash(company, type, id);
  // The snapshot begins under the lock, with a copy of what memory holds
  // for the slots a probe can visit: the two then agree (entries leave
  // memory only after their flush has committed). The probe runs unlocked.
  tail_map window;
  std::shared_lock<std::shared_mutex> lock{T.mtx};
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  auto last = hash + static_cast<std::uint64_t>(max_probes - 1);
  auto copy = [&](std::uint64_t from, std::uint64_t to) {
    for (auto i = T.committed.lower_bound(from);
         i != T.committed.end() && i->first <= to; ++i)
      window.emplace(i->first, i->second);
  };
  if (!T.may_hold(hash)) {
    // Nothing in memory near the stream's slots.
  } else if (last >= hash) {
    copy(hash, last);
  } else { // the window wraps around
    copy(hash, ~std::uint64_t{0});
    copy(0, last);
  }
  lock.unlock();
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn->handle(), db_.streams, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto slot = find_stream(
      txn->handle(), c.c, db_.events, hash, company, type, id,
      [&window](std::uint64_t s) {
        return owner_in(window, s);
      },
      true);
  if (!slot)
    return make_unexpected(slot.error());
  std::vector<tail_entry> mem;
  if (slot->exists)
    if (auto i = window.find(slot->slot); i != window.end())
      mem = std::move(i->second.entries);
  mdb_cursor_close(c.c);
  c.c = nullptr;
  return found_stream{std::move(*txn), *slot, std::move(mem)};
}

void event_store::stage(write_txn& txn, std::uint64_t slot, const envelope& e) {
  auto& T = *tails_;
  auto& top = txn.top();
  if (T.top_serial != top.serial()) {
    T.top_serial = top.serial();
    T.child_serial = 0;
    T.staged.clear();
    T.staged_last.clear();
    top.on_end([this](bool committed) {
      auto& T = *tails_;
      if (committed && !T.staged.empty()) {
        std::uint64_t touched = 0; // bit i: generation i
        {
          std::lock_guard<std::shared_mutex> lock{T.mtx};
          for (const auto& s : T.staged) {
            T.add(s.slot, s.company, s.type, s.id, s.version, s.seq);
            touched |= std::uint64_t{1} << stream_tails::generation_of(s.type);
          }
        }
        // After the entries are readers' to see, before the commit is
        // reported (the hooks run inside commit()).
        for (std::size_t i = 0; i < stream_tails::generations; ++i)
          if ((touched >> i) & 1)
            T.generation[i].fetch_add(1, std::memory_order_release);
      }
      T.staged.clear();
      T.staged_last.clear();
      T.top_serial = 0;
      T.child_serial = 0;
    });
  }
  if (&txn != &top && T.child_serial != txn.serial()) {
    T.child_serial = txn.serial();
    auto mark = T.staged.size();
    txn.on_end([this, mark](bool committed) {
      if (!committed)
        tails_->truncate(mark);
    });
  }
  T.staged.push_back({slot, e.version, e.sequence, e.company_id,
                      e.aggregate_type, e.aggregate_id});
  T.staged_last[slot] = T.staged.size() - 1;
}

result<void> event_store::flush_step(write_txn& txn) {
  auto& T = *tails_;
  auto& top = txn.top();
  if (T.flush_serial == top.serial())
    return {}; // one chunk per transaction
  if (!T.flushing) {
    if (T.committed_entries < cfg_.stream_index_batch)
      return {};
    // A new cycle: every entry committed so far.
    T.flushing = true;
    T.flush_through = std::max(T.last_seq, T.indexed_through);
    T.flush_next = 0;
  }
  T.flush_serial = top.serial();
  auto c = txn.cursor(db_.streams);
  if (!c)
    return make_unexpected(c.error());
  auto put_checkpoint = [&](std::uint64_t seq) {
    return write_checkpoint(txn.handle(), db_.checkpoints, streams_checkpoint,
                            seq);
  };
  if (T.flush_next == 0)
    // The checkpoint exists before the first flushed entry does, so that
    // an open after a crash never takes a part-flushed store for complete.
    if (auto ok = put_checkpoint(T.indexed_through); !ok)
      return ok;
  auto from = T.flush_next;
  std::size_t written = 0;
  auto i = T.committed.lower_bound(from);
  // A chunk grows with the backlog, so that cycles keep pace with appends
  // however many a transaction holds; and stays small against it, so
  // that the commits a cycle rides on are not held up by it (each entry
  // is a leaf of its own: 1/64 of a full batch took each of those commits
  // from about 1 ms to several, which was the p99 of paced bookings).
  auto chunk = std::max(cfg_.stream_index_chunk, T.committed_entries / 512);
  for (; i != T.committed.end() && written < chunk; ++i) {
    for (const auto& e : i->second.entries) {
      if (e.seq > T.flush_through)
        break;
      stream_key sk{i->first, e.version};
      auto key = sk.val();
      char seq_be[8];
      put_be64(seq_be, e.seq);
      auto val = as_val(seq_be, 8);
      auto rc = mdb_cursor_put(*c, &key, &val, MDB_NOOVERWRITE);
      if (rc == MDB_KEYEXIST) {
        // Written by a cycle a crash cut short: it must say the same.
        if (val.mv_size != 8 || get_be64(val.mv_data) != e.seq)
          return fail(errc::corrupt, "streams: version stored twice");
      } else if (rc != 0) {
        return fail_mdb(rc, "mdb_cursor_put(streams)");
      }
      ++written;
    }
  }
  bool done = i == T.committed.end();
  auto next = done ? 0 : i->first;
  if (done)
    if (auto ok = put_checkpoint(T.flush_through); !ok)
      return ok;
  txn.on_end([this, from, next, done](bool committed) {
    auto& T = *tails_;
    if (!committed) {
      T.flush_serial = 0; // the next transaction writes this chunk again
      return;
    }
    // The chunk's entries are in the database: memory lets them go.
    std::lock_guard<std::shared_mutex> lock{T.mtx};
    auto i = T.committed.lower_bound(from);
    while (i != T.committed.end() && (done || i->first < next)) {
      auto& es = i->second.entries;
      auto keep = std::find_if(es.begin(), es.end(), [&T](const tail_entry& e) {
        return e.seq > T.flush_through;
      });
      T.committed_entries -= static_cast<std::size_t>(keep - es.begin());
      es.erase(es.begin(), keep);
      if (es.empty())
        i = T.drop(i);
      else
        ++i;
    }
    if (done) {
      T.indexed_through = T.flush_through;
      T.flushing = false;
      T.flush_next = 0;
    } else {
      T.flush_next = next;
    }
  });
  return {};
}

void event_store::forget_company_in(write_txn& txn,
                                    std::string_view company_id) {
  auto& T = *tails_;
  // A flush later in this transaction would write the company's entries
  // after the forget deleted those of the database.
  T.flush_serial = txn.top().serial();
  // Appends later in this transaction go on past what the forget deleted
  // (it raised the checkpoint in this transaction); an abort puts the
  // floor back.
  auto before = T.forgotten_through;
  if (auto through
      = read_checkpoint(txn.handle(), db_.checkpoints, forgotten_checkpoint))
    T.forgotten_through = std::max(before, *through);
  next_seq_txn_ = 0;
  txn.on_end([this, before, company = std::string{company_id}](bool committed) {
    auto& T = *tails_;
    if (!committed) {
      T.forgotten_through = before;
      return;
    }
    {
      std::lock_guard<std::shared_mutex> lock{T.mtx};
      T.forget_company(company, std::numeric_limits<std::uint64_t>::max());
    }
    for (auto& g : T.generation)
      g.fetch_add(1, std::memory_order_release);
  });
  // A lister batch read before this forget may hold the company's events.
  lister_->generation.fetch_add(1);
}

std::uint64_t event_store::default_stream_hash(std::string_view company,
                                               std::string_view type,
                                               std::string_view id) {
  // FNV-1a over (size of company, company, size of type, type, id), then
  // the splitmix64 finalizer.
  stream_hasher h;
  h.sized(company);
  h.sized(type);
  h.bytes(id);
  return h.finish();
}

} // namespace switchboard::store
