// The event store's appends: optimistic concurrency per stream, the
// indexes, and the in-memory tails staged until the commit.
#include "store/event_store_detail.hpp"

namespace switchboard::store {

// -- appends ------------------------------------------------------------------

event_store::append_result event_store::append(std::vector<envelope> events,
                                               expected_version expected) {
  if (writer_.on_writer_thread())
    return fail(errc::internal,
                "blocking append on the writer thread; use append_in");
  return guarded("event_store::append", [&]() -> append_result {
    std::promise<append_result> promise;
    auto future = promise.get_future();
    append_async(std::move(events), expected, [&promise](append_result res) {
      promise.set_value(std::move(res));
    });
    return future.get();
  });
}

void event_store::append_async(std::vector<envelope> events,
                               expected_version expected,
                               std::function<void(append_result)> done) {
  struct state {
    std::vector<envelope> events;
    append_result res{std::vector<std::uint64_t>{}};
  };
  std::shared_ptr<state> st;
  try {
    st = std::make_shared<state>();
    st->events = std::move(events);
  } catch (const std::bad_alloc&) {
    done(fail(errc::out_of_memory, "append_async"));
    return;
  }
  auto op = [this, st, expected](write_txn& txn) -> result<void> {
    st->res = append_in(txn, st->events, expected);
    if (!st->res)
      return make_unexpected(st->res.error());
    return {};
  };
  auto on_done = [st, done = std::move(done)](const result<void>& res) {
    if (!res)
      done(make_unexpected(res.error()));
    else
      done(std::move(st->res));
  };
  writer_.submit(std::move(op), std::move(on_done),
                 cfg_.nested_txn ? isolation::nested : isolation::validated);
}

event_store::append_result event_store::append_in(write_txn& txn,
                                                  std::vector<envelope>& events,
                                                  expected_version expected,
                                                  bool* already_stored,
                                                  const listing* listings) {
  if (already_stored != nullptr)
    *already_stored = false;
  return guarded("event_store::append_in", [&]() -> append_result {
    // 1. Validate, before touching the transaction.
    if (events.empty())
      return fail(errc::invalid_argument, "append: no events");
    if (events.size() > cfg_.max_events_per_append)
      return fail(errc::invalid_argument,
                  "append: more than "
                      + std::to_string(cfg_.max_events_per_append) + " events");
    const auto& company = events.front().company_id;
    const auto& agg_type = events.front().aggregate_type;
    const auto& agg_id = events.front().aggregate_id;
    if (agg_type.empty() || agg_id.empty())
      return fail(errc::invalid_argument,
                  "append: empty aggregate_type or aggregate_id");
    if (expected.what == expected_version::kind::no_stream)
      expected = expected_version::exact(0);
    std::vector<id_key> keys(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      auto& e = events[i];
      auto which = [i] {
        return "event " + std::to_string(i) + ": ";
      };
      if (e.aggregate_type != agg_type || e.aggregate_id != agg_id
          || e.company_id != company)
        return fail(errc::invalid_argument,
                    which()
                        + "events of one append must share one aggregate "
                          "and company");
      if (e.id.empty() || e.id.size() > max_name_size)
        return fail(errc::invalid_argument,
                    which() + "id must have 1 to 255 bytes");
      if (e.type.empty() || e.type.size() > max_name_size)
        return fail(errc::invalid_argument,
                    which() + "type must have 1 to 255 bytes");
      if (e.company_id.size() > max_name_size)
        return fail(errc::invalid_argument,
                    which() + "company_id must have at most 255 bytes");
      if (record_size(e) > cfg_.max_record_size)
        return fail(errc::invalid_argument,
                    which() + "record larger than max_record_size");
      if (2 + e.id.size() + e.company_id.size() > max_key_size)
        return fail(errc::invalid_argument,
                    which() + "id and company_id have more than "
                        + std::to_string(max_key_size - 2) + " bytes together");
      make_id_key(e.company_id, e.id, keys[i]);
    }
    if (keys.size() > 1) {
      auto sorted = keys;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
        return fail(errc::invalid_argument, "append: duplicate event id");
    }
    auto* t = txn.handle();
    // 2. Idempotency: an append whose ids are all stored (in this company:
    //    event ids are per company) is a retry.
    std::size_t found = 0;
    std::vector<std::uint64_t> seqs(events.size(), 0);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto seq = find_u64(t, db_.event_ids, keys[i].val(), "mdb_get(event_ids)",
                          "event_ids: bad value size");
      if (!seq)
        return make_unexpected(seq.error());
      if (!*seq)
        continue;
      seqs[i] = **seq;
      ++found;
    }
    if (found == events.size()) {
      for (std::size_t i = 0; i < events.size(); ++i) {
        auto stored = load(t, db_.events, seqs[i]);
        if (!stored)
          return make_unexpected(stored.error());
        if (stored->aggregate_type != agg_type
            || stored->aggregate_id != agg_id)
          return fail(errc::duplicate_event,
                      "event id " + events[i].id
                          + " is stored in another stream");
        events[i].version = stored->version;
        events[i].sequence = stored->sequence;
      }
      ++idempotent_;
      if (already_stored != nullptr)
        *already_stored = true;
      return seqs;
    }
    if (found > 0) {
      for (std::size_t i = 0; i < events.size(); ++i)
        if (seqs[i] != 0)
          return fail(
              errc::duplicate_event,
              "event id " + events[i].id
                  + " is already stored, but not all ids of the append");
    }
    // 3. The stream and its version (memory first: its entries are the
    //    newest).
    auto streams_cursor = txn.cursor(db_.streams);
    if (!streams_cursor)
      return make_unexpected(streams_cursor.error());
    const auto& tails = *tails_;
    // A stream belongs to a company: its key is (company, type, id), so
    // equal ids of two companies are two streams.
    auto slot = find_stream(t, *streams_cursor, db_.events,
                            cfg_.hash(company, agg_type, agg_id), company,
                            agg_type, agg_id, [&tails](std::uint64_t s) {
                              return tails.writer_owner(s);
                            });
    if (!slot)
      return make_unexpected(slot.error());
    auto current = slot->version;
    std::optional<envelope> previous; // the stream's last event
    if (slot->exists && cfg_.lists && !cfg_.lists_behind) {
      auto last = load(t, db_.events, slot->last_seq);
      if (!last)
        return make_unexpected(last.error());
      previous = last->to_envelope();
    }
    if (expected.what == expected_version::kind::exact
        && expected.version != current) {
      ++conflicts_;
      return fail(errc::version_conflict,
                  "stream " + agg_type + "/" + agg_id + " is at version "
                      + std::to_string(current) + ", expected "
                      + describe(expected),
                  current);
    }
    // 4. The next sequence: one past the log's last key, or past the last
    //    sequence forgotten when that is higher (a forget that deleted the
    //    log's last events must not let their sequences be given again);
    //    remembered for the rest of this transaction, so a batch reads it
    //    once.
    auto events_cursor = txn.cursor(db_.events);
    if (!events_cursor)
      return make_unexpected(events_cursor.error());
    std::uint64_t next_seq = 1;
    if (next_seq_txn_ == txn.serial()) {
      next_seq = next_seq_;
    } else {
      MDB_val k, v;
      auto rc = mdb_cursor_get(*events_cursor, &k, &v, MDB_LAST);
      auto last = u64_or_zero(rc, k, "mdb_cursor_get(events)",
                              "events: bad key size");
      if (!last)
        return make_unexpected(last.error());
      next_seq = *last + 1;
      next_seq = std::max(next_seq, tails_->forgotten_through + 1);
    }
    auto ids_cursor = txn.cursor(db_.event_ids);
    if (!ids_cursor)
      return make_unexpected(ids_cursor.error());
    auto time_cursor = txn.cursor(db_.by_time);
    if (!time_cursor)
      return make_unexpected(time_cursor.error());
    // 5. Write. From here on an error loses the transaction.
    if (auto ok = flush_step(txn); !ok)
      return make_unexpected(ok.error());
    for (std::size_t i = 0; i < events.size(); ++i) {
      auto& e = events[i];
      e.version = current + 1 + i;
      e.sequence = next_seq + i;
      seqs[i] = e.sequence;
      char seq_be[8];
      put_be64(seq_be, e.sequence);
      auto seq_val = as_val(seq_be, 8);
      // events: appended at the end of the log, encoded in place.
      auto key = seq_val;
      MDB_val rec{record_size(e), nullptr};
      if (auto rc = mdb_cursor_put(*events_cursor, &key, &rec,
                                   MDB_APPEND | MDB_RESERVE);
          rc != 0)
        return fail_mdb(rc, "mdb_cursor_put(events)");
      encode_record(e, static_cast<char*>(rec.mv_data));
      // streams: in memory until a flush cycle writes them.
      stage(txn, slot->slot, e);
      MDB_val val;
      // event_ids: UUIDv7 ids come in nearly in order, so first try the
      // right edge (no descent), then an ordinary insert.
      key = keys[i].val();
      val = seq_val;
      if (auto rc = put_at_edge(*ids_cursor, key, val, MDB_NOOVERWRITE);
          rc != 0)
        return fail_mdb(rc, "mdb_put(event_ids)");
      // by_type
      name_key type_key{e.type, e.sequence};
      key = type_key.val();
      val = as_val(nullptr, 0);
      if (auto rc = mdb_put(t, db_.by_type, &key, &val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(by_type)");
      // by_time
      char tk[16];
      put_be64(tk, order_preserving(e.occurred_at));
      put_be64(tk + 8, e.sequence);
      key = as_val(tk, 16);
      val = as_val(nullptr, 0);
      if (auto rc = put_at_edge(*time_cursor, key, val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(by_time)");
      // by_company
      if (!e.company_id.empty()) {
        name_key company_key{e.company_id, e.sequence};
        key = company_key.val();
        val = as_val(nullptr, 0);
        if (auto rc = mdb_put(t, db_.by_company, &key, &val, 0); rc != 0)
          return fail_mdb(rc, "mdb_put(by_company)");
      }
      // by_ref
      if (cfg_.refs) {
        refs_scratch_.clear();
        if (listings == nullptr)
          cfg_.refs(e, refs_scratch_);
        const auto& refs
            = listings != nullptr ? listings[i].refs : refs_scratch_;
        for (const auto& ref : refs) {
          if (ref.empty() || ref.size() > max_name_size)
            continue;
          name_key ref_key{ref, e.sequence};
          key = ref_key.val();
          val = as_val(nullptr, 0);
          if (auto rc = mdb_put(t, db_.by_ref, &key, &val, 0); rc != 0)
            return fail_mdb(rc, "mdb_put(by_ref)");
        }
      }
      // listed
      if (cfg_.lists && !cfg_.lists_behind) {
        const envelope* before = nullptr;
        if (i > 0)
          before = &events[i - 1];
        else if (previous)
          before = &*previous;
        if (auto ok = list_in(t, before, e,
                              listings != nullptr ? &listings[i] : nullptr);
            !ok)
          return make_unexpected(ok.error());
      }
    }
    next_seq_txn_ = txn.serial();
    next_seq_ = next_seq + events.size();
    ++appends_;
    if (cfg_.lists && cfg_.lists_behind
        && next_seq_ >= lister_->through.load() + cfg_.list_wake
        && !lister_->kicked.exchange(true))
      lister_->cv.notify_one();
    return seqs;
  });
}

} // namespace switchboard::store
