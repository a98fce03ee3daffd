// Forgetting a company (company_forget.hpp). What makes it more than
// deleting records:
//
// The event log: gaps, not markers. Sequences start at 1 and, until a
// forget, have no gaps. The forget deletes the company's records and
// every index entry of them, and leaves gaps. A marker record in place
// of each forgotten event would keep the keys dense, but not what the log
// says: every reader of the whole log (read_all, scan: the catch-ups of
// listeners and the SSE feeds, `switchboard events`, replay, building the
// sorted lists) would get the markers and each would have to learn to skip
// them, `switchboard check` would find events without id, stream or
// version, and a marker that is no valid record fails them all
// (decode_record: corrupt). Gaps are the smaller change: the log's readers
// walk it by key (MDB_SET_RANGE, MDB_NEXT) and go on after the last
// sequence they saw, which steps over a gap; the indexes (streams,
// event_ids, by_type, by_time, by_company, by_ref, listed) keep no entry
// of a forgotten event; a stream is one company's, so the streams of other
// companies keep their versions 1..v. What relied on having no gaps:
//   - An append takes the sequence after the log's last key: when the
//     company's events were the last ones, their sequences would be given
//     again, and a consumer whose checkpoint had passed them would skip
//     the new events. The forget keeps the highest sequence it deleted
//     (checkpoint `forgotten_through`); appends continue past it
//     (event_store_append.cpp).
//   - The audit log's checkpoint (the log's audited prefix) looked up
//     sequence + 1 and stopped at the first missing one for good; its
//     walks step over gaps now (audit_log.cpp).
//   - `switchboard check` (app/cli_check.cpp) reports any gap as a
//     problem. The forgotten runs are kept in `events_forgotten` (first
//     sequence → last, adjacent runs merged), so that it can tell a
//     forgotten sequence from a lost one; it must read them to do so.
//   - last_sequence() is the log's last key, which falls back when the
//     last events are forgotten: it is shown (/ready, the start's log
//     line, replay's progress) and pages the log's tail, no more. The
//     metrics count appends, not sequences.
//
// The streams index in memory. The event store writes the streams
// database behind the log: the entries of the events past the checkpoint
// `streams_index` live in its memory (rebuilt from the log at open) until
// a flush cycle writes them. From outside, a forget cannot drop the
// company's entries there; left behind, they would point reads at deleted
// events, and the next flush would write them back into the database for
// good. So, while an event store is open (`live_stream_index`), the
// forget refuses as long as the company has an event past that checkpoint
// (the entries in memory are exactly those of such events); without one,
// the next open rebuilds memory from what is left. An event store method,
// run in the forget's transaction, would lift this: it would keep the
// rest of the transaction from flushing (a flush later in the same
// transaction would write the company's entries after the forget deleted
// the database's) and drop the company's streams from memory at the
// commit (`stream_tails::forget_company`).
//
// Stream slots. A stream lives in the first slot from its hash on that is
// free or its own (linear probing), and a probe stops at the first free
// slot. Freeing the company's slots would hide a stream of another company
// that was placed past one of them because it was taken. The forget finds
// the slots of every stream near the company's ones (in the database, and
// those the open would rebuild in memory from the events past the
// checkpoint) and refuses when one sits past a freed slot on its probe
// path. With a 64-bit hash that takes a collision of the top 58 bits.
//
// Jobs. Pending, delayed and failed jobs go with their index entries
// (jobs_due or jobs_failed, jobs_due_company, the unique key they hold),
// the company's rows of jobs_counters and its round-robin place
// ("rr/<queue>" in jobs_meta). A leased job runs: the forget refuses
// until it is done, as taking a moving company's jobs does. Job ids come
// from jobs_meta's next_id, so none is given again.
//
// Where the company is found. By key: its events through by_company (and
// with them their audit records, keyed by sequence, and trace entries,
// keyed by correlation id), its minute buckets (a prefix of its own), its
// parked jobs (a prefix of its own), its processed marks (a prefix of
// each of its events: event id, company). By a whole scan:
// jobs, outbox, by_ref and listed (their keys are the configured
// functions' and may have changed between versions; scanning is exact),
// jobs_counters, proj_counters and proj_values. Everything is read and
// checked first, then deleted, in the caller's transaction.
//
// Left as it is: outbox ids are one past the last one, so when the
// company's messages were the newest their ids are given again (to a
// reader paging by id, the new message comes before its cursor); the
// company's trace entries went with it, and nothing else keeps an id.
#include "store/company_forget.hpp"

#include "store/audit_log_detail.hpp"
#include "store/cluster_state_detail.hpp"
#include "store/company_forget_detail.hpp"
#include "store/cursor_detail.hpp"
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

namespace switchboard::store {

namespace {

using namespace forget_detail;

/// The handle of database `name` in `t`: the environment's when it is
/// open, else opened in `t`; none when the store never had it (nothing of
/// it to forget). Not `environment::open_db`: for a database not open yet
/// it begins a write transaction of its own, which inside `t` (the
/// writer's) would wait for `t`.
result<opt_dbi> lookup_db(MDB_txn* t, const char* name, unsigned flags = 0) {
  MDB_dbi dbi = 0;
  auto rc = mdb_dbi_open(t, name, flags, &dbi);
  if (rc == MDB_NOTFOUND && (flags & MDB_CREATE) == 0)
    return opt_dbi{};
  if (rc != 0) {
    auto e = from_mdb(rc, "mdb_dbi_open");
    e.message += std::string{" ("} + name + ")";
    return make_unexpected(std::move(e));
  }
  return opt_dbi{dbi};
}

result<handles> lookup_all(MDB_txn* t) {
  handles h;
  constexpr unsigned dups = MDB_DUPSORT | MDB_DUPFIXED;
  struct spec {
    const char* name;
    unsigned flags;
    opt_dbi* out;
  };
  spec specs[] = {
      {event_detail::events_db, 0, &h.events},
      {event_detail::streams_db, 0, &h.streams},
      {event_detail::event_ids_db, 0, &h.event_ids},
      {event_detail::by_type_db, 0, &h.by_type},
      {event_detail::by_time_db, 0, &h.by_time},
      {event_detail::by_company_db, 0, &h.by_company},
      {event_detail::by_ref_db, 0, &h.by_ref},
      {event_detail::listed_db, 0, &h.listed},
      {event_detail::checkpoints_db, 0, &h.checkpoints},
      {audit_detail::audit_db, 0, &h.audit},
      {job_detail::jobs_db, 0, &h.jobs},
      {job_detail::due_db, dups, &h.due},
      {job_detail::failed_db, dups, &h.failed},
      {job_detail::unique_db, 0, &h.unique},
      {job_detail::meta_db, 0, &h.meta},
      {job_detail::due_company_db, dups, &h.due_company},
      {job_detail::counters_db, 0, &h.counters},
      {outbox_detail::outbox_db, 0, &h.outbox},
      {outbox_detail::ids_db, 0, &h.outbox_ids},
      {trace_detail::traces_db, 0, &h.traces},
      {trace_detail::done_db, 0, &h.trace_done},
      {trace_detail::ends_db, 0, &h.trace_ends},
      {processed_detail::marks_db, 0, &h.processed},
      {"proj_counters", 0, &h.proj_counters},
      {"proj_values", 0, &h.proj_values},
      {stats_detail::stats_db, 0, &h.stats},
      {cluster_detail::parked_db, 0, &h.parked},
  };
  for (auto& s : specs) {
    auto d = lookup_db(t, s.name, s.flags);
    if (!d)
      return make_unexpected(d.error());
    *s.out = *d;
  }
  return h;
}

// -- the event log ------------------------------------------------------------

/// The company's events, through by_company.
result<void> find_events(MDB_txn* t, const handles& h, std::string_view company,
                         plan& p) {
  if (!h.by_company || !h.events)
    return {};
  return each_in_name_index(
      t, *h.by_company, company, 0, "mdb_cursor_get(by_company)",
      [&](std::uint64_t seq) -> result<bool> {
        auto ev = load(t, *h.events, seq);
        if (!ev) {
          auto err = ev.error();
          if (err.code == errc::not_found)
            err = error{errc::corrupt, "by_company: entry of missing event "
                                           + std::to_string(seq)};
          return make_unexpected(std::move(err));
        }
        if (ev->company_id != company)
          return fail(errc::corrupt, "by_company: entry of event "
                                         + std::to_string(seq)
                                         + " of another company");
        p.events.push_back(
            {seq, std::string{ev->id}, std::string{ev->type}, ev->occurred_at});
        p.streams.emplace(ev->aggregate_type, ev->aggregate_id);
        if (!ev->correlation_id.empty())
          p.correlations.emplace(ev->correlation_id);
        return true;
      });
}

/// Calls `fn(slot)`, in order, for the slots from `from` on, `count` of
/// them (past the last slot, on from 0), that have entries in the streams
/// database; `fn` returns false to stop.
template <class F>
result<void> each_used_slot(MDB_cursor* c, std::uint64_t from,
                            std::uint64_t count, F fn) {
  if (count == 0)
    return {};
  auto last = from + (count - 1);
  // One or two ranges without wrapping.
  std::pair<std::uint64_t, std::uint64_t> ranges[2] = {{from, last}, {0, 0}};
  int n = 1;
  if (last < from) {
    ranges[0].second = ~std::uint64_t{0};
    ranges[1] = {0, last};
    n = 2;
  }
  for (int r = 0; r < n; ++r) {
    auto [lo, hi] = ranges[r];
    auto slot = lo;
    for (;;) {
      stream_key k{slot, 0};
      auto key = k.val();
      MDB_val val;
      auto rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND)
        break;
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(streams)");
      if (key.mv_size != 16)
        return fail(errc::corrupt, "streams: bad key size");
      slot = get_be64(key.mv_data);
      if (slot > hi)
        break;
      if (!fn(slot))
        return {};
      if (slot == hi)
        break;
      ++slot;
    }
  }
  return {};
}

/// Calls `fn(slot, tail)` for the slots of `mem` from `from` on, `count`
/// of them (wrapping as above).
template <class F>
void each_mem_slot(const tail_map& mem, std::uint64_t from, std::uint64_t count,
                   F fn) {
  if (count == 0)
    return;
  auto last = from + (count - 1);
  auto visit = [&](std::uint64_t lo, std::uint64_t hi) {
    for (auto i = mem.lower_bound(lo); i != mem.end() && i->first <= hi; ++i)
      fn(i->first, i->second);
  };
  if (last >= from) {
    visit(from, last);
  } else {
    visit(from, ~std::uint64_t{0});
    visit(0, last);
  }
}

/// The stream of the last entry of `slot` (`used` false: the slot has no
/// entry in the streams database).
struct slot_owner {
  bool used = false;
  std::string company, type, id;
};

result<slot_owner> owner_of(MDB_txn* t, MDB_cursor* c, MDB_dbi events,
                            std::uint64_t slot) {
  auto head = last_in_slot(c, slot);
  if (!head)
    return make_unexpected(head.error());
  if (!*head)
    return slot_owner{};
  auto ev = indexed(load(t, events, (*head)->seq));
  if (!ev)
    return make_unexpected(ev.error());
  return slot_owner{true, std::string{ev->company_id},
                    std::string{ev->aggregate_type},
                    std::string{ev->aggregate_id}};
}

/// Calls `fn(slot, owner)`, in order, for the slots from `from` on,
/// `count` of them, that have entries in the streams database and are not
/// in `skip`, with their streams (owner_of); `fn` returns false to stop.
template <class F>
result<void> each_slot_owner(MDB_txn* t, MDB_cursor* c, MDB_dbi events,
                             std::uint64_t from, std::uint64_t count,
                             const std::set<std::uint64_t>& skip, F fn) {
  result<void> failed;
  auto walked = each_used_slot(c, from, count, [&](std::uint64_t slot) {
    if (skip.count(slot) != 0)
      return true;
    auto o = owner_of(t, c, events, slot);
    if (!o) {
      failed = make_unexpected(o.error());
      return false;
    }
    return fn(slot, *o);
  });
  if (!walked)
    return walked;
  return failed;
}

/// True when a probe from `home` to `at` passes `slot` on its way.
bool on_probe_path(std::uint64_t home, std::uint64_t slot, std::uint64_t at) {
  return slot - home < at - home;
}

/// The stream index entries an event store keeps in memory (or rebuilds
/// at open): those of the events past the checkpoint, placed as the open
/// places them (event_store::recover_stream_tails).
result<tail_map> entries_in_memory(MDB_txn* t, const handles& h, MDB_cursor* sc,
                                   stream_hash_fn hash, std::uint64_t through) {
  tail_map mem;
  cursor_guard ec;
  if (auto rc = mdb_cursor_open(t, *h.events, &ec.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto placed = place_events_after(
      t, sc, ec.c, *h.events, hash, through,
      [&mem](std::uint64_t s) {
        return owner_in(mem, s);
      },
      [&mem](std::uint64_t slot, const envelope_view& ev) {
        add_tail_entry(mem, slot, ev.company_id, ev.aggregate_type,
                       ev.aggregate_id, ev.version, ev.sequence);
      });
  if (!placed)
    return make_unexpected(placed.error());
  return mem;
}

/// The checkpoint up to which every event is in the streams database, as
/// the event store's open settles it.
result<std::uint64_t> streams_through(MDB_txn* t, const handles& h) {
  bool found = false;
  auto through = read_checkpoint(t, *h.checkpoints,
                                 event_store::streams_checkpoint, &found);
  if (!through || found)
    return through;
  // None: a new store (nothing flushed), or one whose streams database
  // was written with every append (complete).
  cursor_guard c;
  if (auto rc = mdb_cursor_open(t, *h.streams, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
  if (rc == MDB_NOTFOUND)
    return std::uint64_t{0};
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get(streams)");
  cursor_guard e;
  if (rc = mdb_cursor_open(t, *h.events, &e.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  rc = mdb_cursor_get(e.c, &key, &val, MDB_LAST);
  if (rc == 0 && key.mv_size == 8)
    return get_be64(key.mv_data);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(events)");
  return std::uint64_t{0};
}

/// The company's stream slots and their entries in the streams database;
/// refuses when freeing them would hide another stream.
result<void> find_streams(MDB_txn* t, const handles& h,
                          std::string_view company, const forget_options& opts,
                          plan& p) {
  if (p.events.empty())
    return {};
  if (!h.streams || !h.checkpoints)
    return fail(errc::corrupt, "events without streams or checkpoints");
  bool found = false;
  auto format = read_checkpoint(t, *h.checkpoints, event_store::keys_checkpoint,
                                &found);
  if (!format)
    return make_unexpected(format.error());
  if (!found || *format != event_store::current_key_format)
    return fail(errc::invalid_argument,
                "the stream keys are of an earlier format: open the store "
                "with the event store first, which migrates them");
  auto through = streams_through(t, h);
  if (!through)
    return make_unexpected(through.error());
  if (opts.live_stream_index && p.events.back().seq > *through)
    return fail(errc::version_conflict,
                "event " + std::to_string(p.events.back().seq) + " of company "
                    + std::string{company}
                    + " is not in the streams database yet (the event "
                      "store's memory holds it until a flush): try again "
                      "later");
  auto hash
      = opts.hash != nullptr ? opts.hash : &event_store::default_stream_hash;
  cursor_guard sc;
  if (auto rc = mdb_cursor_open(t, *h.streams, &sc.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto mem = entries_in_memory(t, h, sc.c, hash, *through);
  if (!mem)
    return make_unexpected(mem.error());
  // Each stream's slot: one with entries in the database whose events are
  // the stream's (slots on its probe path may be free in the database
  // and taken in memory, so the whole window is looked at), or one that
  // memory holds for it.
  std::set<std::uint64_t> in_db;
  for (const auto& [type, id] : p.streams) {
    auto home = hash(company, type, id);
    auto walked = each_slot_owner(t, sc.c, *h.events, home, max_probes, {},
                                  [&](std::uint64_t slot, const slot_owner& o) {
                                    if (o.company == company && o.type == type
                                        && o.id == id) {
                                      p.slots.insert(slot);
                                      in_db.insert(slot);
                                      return false;
                                    }
                                    return true;
                                  });
    if (!walked)
      return walked;
    each_mem_slot(*mem, home, max_probes,
                  [&](std::uint64_t slot, const stream_tail& tail) {
                    if (tail.company == company && tail.type == type
                        && tail.id == id)
                      p.slots.insert(slot);
                  });
  }
  // Another stream placed past a freed slot on its probe path would no
  // longer be found: its probe would stop at the freed slot.
  for (auto slot : p.slots) {
    auto hidden = [&](std::uint64_t at, std::string_view c,
                      std::string_view type, std::string_view id) {
      if (p.slots.count(at) != 0)
        return false;
      return on_probe_path(hash(c, type, id), slot, at);
    };
    std::optional<std::uint64_t> clash;
    auto walked
        = each_slot_owner(t, sc.c, *h.events, slot + 1, max_probes - 1, p.slots,
                          [&](std::uint64_t at, const slot_owner& o) {
                            if (hidden(at, o.company, o.type, o.id)) {
                              clash = at;
                              return false;
                            }
                            return true;
                          });
    if (!walked)
      return walked;
    each_mem_slot(*mem, slot + 1, max_probes - 1,
                  [&](std::uint64_t at, const stream_tail& tail) {
                    if (!clash && hidden(at, tail.company, tail.type, tail.id))
                      clash = at;
                  });
    if (clash)
      return fail(errc::invalid_argument,
                  "company " + std::string{company}
                      + " cannot be forgotten: another company's stream (slot "
                      + std::to_string(*clash)
                      + ") is found by probing past its stream in slot "
                      + std::to_string(slot));
  }
  // The database's entries of the company's streams.
  for (auto slot : in_db) {
    stream_key k{slot, 0};
    auto prefix = std::string_view{k.buf, 8};
    auto listed
        = each_with_prefix(t, h.streams, prefix, "mdb_cursor_get(streams)",
                           [&](std::string_view key, const MDB_val&) {
                             p.stream_keys.emplace_back(key);
                           });
    if (!listed)
      return listed;
  }
  return {};
}

/// The entries of by_ref and listed that point at the company's events.
result<void> find_refs_and_lists(MDB_txn* t, const handles& h, plan& p) {
  if (p.events.empty())
    return {};
  std::unordered_set<std::uint64_t> seqs;
  seqs.reserve(p.events.size());
  for (const auto& e : p.events)
    seqs.insert(e.seq);
  auto refs
      = each_entry(t, h.by_ref, "mdb_cursor_get(by_ref)",
                   [&](const MDB_val& k, const MDB_val&) -> result<void> {
                     if (k.mv_size < 10)
                       return fail(errc::corrupt, "by_ref: bad key");
                     auto key = as_view(k);
                     if (seqs.count(get_be64(key.data() + key.size() - 8)) != 0)
                       p.ref_keys.emplace_back(key);
                     return {};
                   });
  if (!refs)
    return refs;
  return each_entry(t, h.listed, "mdb_cursor_get(listed)",
                    [&](const MDB_val& k, const MDB_val& v) -> result<void> {
                      if (v.mv_size != 8)
                        return fail(errc::corrupt, "listed: bad value size");
                      if (seqs.count(get_be64(v.mv_data)) != 0)
                        p.listed_keys.emplace_back(as_view(k));
                      return {};
                    });
}

/// The company's processed marks: the keys under each of its events'
/// prefix (event id, company).
result<void> find_processed(MDB_txn* t, const handles& h,
                            std::string_view company, plan& p) {
  if (p.events.empty() || !h.processed)
    return {};
  for (const auto& e : p.events) {
    auto k = processed_detail::make_key(company, {}, e.id, true);
    if (!k)
      continue; // never marked
    auto walked = cursor_detail::each_with_prefix(
        t, *h.processed, as_view(k->event_prefix()), "mdb_cursor_open",
        "mdb_cursor_get(processed_marks)",
        [&](std::string_view stored, const MDB_val&) {
          p.mark_keys.emplace_back(stored);
        });
    if (!walked)
      return walked;
  }
  return {};
}

/// Records the forgotten sequences `seqs` (ascending) as runs, merged
/// with the runs next to them, and raises `forgotten_through`.
result<void> record_forgotten(MDB_txn* t, const handles& h,
                              const std::vector<company_event>& events) {
  auto ledger = lookup_db(t, event_detail::forgotten_db, MDB_CREATE);
  if (!ledger)
    return make_unexpected(ledger.error());
  auto dbi = **ledger;
  auto put_run = [&](std::uint64_t first, std::uint64_t last) -> result<void> {
    // The run ending just before `first`, and the one starting just past
    // `last`, become part of it.
    cursor_guard c;
    if (auto rc = mdb_cursor_open(t, dbi, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    auto from = be64_key(first);
    MDB_val key, val;
    auto rc = cursor_detail::last_before(c.c, from, key, val);
    if (rc == 0) {
      if (key.mv_size != 8 || val.mv_size != 8)
        return fail(errc::corrupt, "events_forgotten: bad entry");
      if (get_be64(val.mv_data) + 1 == first) {
        first = get_be64(key.mv_data);
        if (rc = mdb_cursor_del(c.c, 0); rc != 0)
          return fail_mdb(rc, "mdb_cursor_del(events_forgotten)");
      }
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_cursor_get(events_forgotten)");
    }
    auto next = be64_key(last + 1);
    key = as_val(next);
    rc = mdb_get(t, dbi, &key, &val);
    if (rc == 0) {
      if (val.mv_size != 8)
        return fail(errc::corrupt, "events_forgotten: bad entry");
      last = get_be64(val.mv_data);
      if (rc = mdb_del(t, dbi, &key, nullptr); rc != 0)
        return fail_mdb(rc, "mdb_del(events_forgotten)");
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_get(events_forgotten)");
    }
    auto k = be64_key(first);
    auto v = be64_key(last);
    key = as_val(k);
    val = as_val(v);
    if (rc = mdb_put(t, dbi, &key, &val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(events_forgotten)");
    return {};
  };
  for (std::size_t i = 0; i < events.size();) {
    auto j = i;
    while (j + 1 < events.size() && events[j + 1].seq == events[j].seq + 1)
      ++j;
    if (auto ok = put_run(events[i].seq, events[j].seq); !ok)
      return ok;
    i = j + 1;
  }
  auto through
      = read_checkpoint(t, *h.checkpoints, event_detail::forgotten_checkpoint);
  if (!through)
    return make_unexpected(through.error());
  if (events.back().seq > *through)
    return write_checkpoint(t, *h.checkpoints,
                            event_detail::forgotten_checkpoint,
                            events.back().seq);
  return {};
}

result<void> forget_events(MDB_txn* t, const handles& h,
                           std::string_view company, const plan& p,
                           forget_counts& n) {
  if (p.events.empty())
    return {};
  id_key ik;
  for (const auto& e : p.events) {
    auto seq = be64_key(e.seq);
    auto gone = del(t, *h.events, seq, "mdb_del(events)");
    if (!gone)
      return make_unexpected(gone.error());
    n.events += *gone ? 1 : 0;
    if (h.audit) {
      auto audited
          = del(t, *h.audit, audit_detail::seq_key(e.seq), "mdb_del(audit)");
      if (!audited)
        return make_unexpected(audited.error());
      n.audit += *audited ? 1 : 0;
    }
    // The index entries its append wrote (event_store_append.cpp).
    if (h.event_ids && !e.id.empty() && e.id.size() <= max_name_size
        && 2 + e.id.size() + company.size() <= max_key_size) {
      make_id_key(company, e.id, ik);
      auto key = ik.val();
      if (auto rc = mdb_del(t, *h.event_ids, &key, nullptr);
          rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_del(event_ids)");
    }
    if (h.by_type && !e.type.empty() && e.type.size() <= max_name_size) {
      name_key tk{e.type, e.seq};
      auto key = tk.val();
      if (auto rc = mdb_del(t, *h.by_type, &key, nullptr);
          rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_del(by_type)");
    }
    if (h.by_time) {
      char tk[16];
      put_be64(tk, order_preserving(e.occurred_at));
      put_be64(tk + 8, e.seq);
      auto key = as_val(tk, 16);
      if (auto rc = mdb_del(t, *h.by_time, &key, nullptr);
          rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_del(by_time)");
    }
    name_key ck{company, e.seq};
    auto key = ck.val();
    if (auto rc = mdb_del(t, *h.by_company, &key, nullptr);
        rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_del(by_company)");
  }
  if (auto ok = del_all(t, h.streams, p.stream_keys, "mdb_del(streams)"); !ok)
    return make_unexpected(ok.error());
  if (auto ok = del_all(t, h.by_ref, p.ref_keys, "mdb_del(by_ref)"); !ok)
    return make_unexpected(ok.error());
  if (auto ok = del_all(t, h.listed, p.listed_keys, "mdb_del(listed)"); !ok)
    return make_unexpected(ok.error());
  for (const auto& mark : p.mark_keys) {
    auto key = as_val(mark);
    auto rc = mdb_del(t, *h.processed, &key, nullptr);
    if (rc == 0)
      ++n.other;
    else if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_del(processed_marks)");
  }
  return record_forgotten(t, h, p.events);
}

} // namespace

result<forget_counts> forget_company(write_txn& txn, environment& env,
                                     std::string_view company,
                                     const forget_options& opts) {
  return guarded("forget_company", [&]() -> result<forget_counts> {
    if (&env != &txn.env())
      return fail(errc::invalid_argument,
                  "forget_company: the transaction is of another environment");
    if (company.empty() || company.size() > max_name_size
        || company.find('\0') != std::string_view::npos
        || company.find('/') != std::string_view::npos)
      return fail(errc::invalid_argument,
                  "forget_company: company must have 1 to 255 bytes, "
                  "without NUL or '/'");
    auto* t = txn.handle();
    auto h = lookup_all(t);
    if (!h)
      return make_unexpected(h.error());
    // 1. Find everything, and refuse before writing anything.
    plan p;
    for (auto step : {&find_events, &find_jobs, &find_messages}) {
      if (auto ok = step(t, *h, company, p); !ok)
        return make_unexpected(ok.error());
    }
    if (auto ok = find_streams(t, *h, company, opts, p); !ok)
      return make_unexpected(ok.error());
    if (auto ok = find_refs_and_lists(t, *h, p); !ok)
      return make_unexpected(ok.error());
    for (auto step : {&find_processed, &find_traces, &find_rest}) {
      if (auto ok = step(t, *h, company, p); !ok)
        return make_unexpected(ok.error());
    }
    // 2. Delete.
    forget_counts n;
    if (auto ok = forget_events(t, *h, company, p, n); !ok)
      return make_unexpected(ok.error());
    for (auto step :
         {&forget_jobs, &forget_messages, &forget_traces, &forget_rest}) {
      if (auto ok = step(t, *h, p, n); !ok)
        return make_unexpected(ok.error());
    }
    return n;
  });
}

} // namespace switchboard::store
