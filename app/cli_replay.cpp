// `switchboard replay <projection>`: rebuilds a projection from the log.

#include <chrono>
#include <map>
#include <set>

#include <actors/listeners.hpp>
#include <actors/listeners/catch_up.hpp>
#include <actors/listeners/seed.hpp>
#include <app/cli_common.hpp>
#include <store/codec.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/lmdb_util.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>
#include <store/writer.hpp>

namespace switchboard::app {

namespace {

constexpr const char* replay_usage
    = R"(usage: switchboard replay <projection> [--chunk N] [--config FILE]
                          [--set section.key=value]...

Rebuilds a projection from the event log, printing progress.
Projections:
  analytics   the UpdateAnalytics counters (appointments, calls,
              customers): recounts every event into a shadow kept in
              this process, then replaces analytics/* with it.
The events are read N at a time (--chunk, default 10000), each chunk in
its own read transaction: the daemon goes on writing meanwhile. Only the
switch at the end is a write transaction: it counts the events appended
since the last chunk, replaces the counters, moves the daemon's analytics
checkpoint to the last event counted (so that it goes on after it), and
marks the events of the analytics jobs still queued (or failed) as
processed, so that they do not count them twice. All or nothing: stopped before the switch, it changed
nothing.
)";

constexpr std::uint64_t default_chunk = 10000;

/// The event types UpdateAnalytics counts, as the node registers it.
const std::set<std::string, std::less<>>& counted_types() {
  static const auto types = [] {
    std::set<std::string, std::less<>> out;
    listener_registry reg;
    if (register_seed_listeners(reg))
      for (const auto& info : all_event_types())
        if (reg.is_listening(info.wire_name, listener_names::update_analytics))
          out.emplace(info.wire_name);
    return out;
  }();
  return types;
}

struct replay_outcome {
  std::uint64_t scanned = 0, counted = 0, skipped = 0, cleared = 0, marked = 0;
  std::uint64_t chunks = 0, tail = 0;
  std::size_t counters = 0;
};

/// Counts the events from sequence `from` on, at most `max` of them (0:
/// all), into `sums`; returns the sequence after the last one read.
store::result<std::uint64_t>
count_events(MDB_txn* txn, MDB_dbi events, std::uint64_t from,
             std::uint64_t max, std::map<std::string, std::int64_t>& sums,
             replay_outcome& out) {
  store::cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, events, &c.c); rc != 0)
    return store::fail_mdb(rc, "mdb_cursor_open");
  char k[8];
  store::put_be64(k, from);
  MDB_val key{8, k}, val;
  auto next = from;
  std::uint64_t n = 0;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  for (; rc == 0 && (max == 0 || n < max);
       rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT), ++n) {
    if (key.mv_size != 8)
      return store::fail(store::errc::corrupt, "events: bad key size");
    next = store::get_be64(key.mv_data) + 1;
    auto view = store::decode_record(val.mv_data, val.mv_size);
    if (!view)
      return make_unexpected(view.error());
    ++out.scanned;
    if (counted_types().count(view->type) == 0)
      continue;
    auto deltas = analytics_deltas(view->to_envelope());
    if (!deltas) {
      ++out.skipped;
      continue;
    }
    for (const auto& [key_name, d] : *deltas)
      sums[key_name] += d;
    ++out.counted;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store::fail_mdb(rc, "mdb_cursor_get(events)");
  return next;
}

int replay_analytics(node_store& st, std::uint64_t chunk) {
  auto fail = [](const store::error& e) {
    std::cerr << "switchboard replay: " << store::to_string(e)
              << " (nothing was changed)\n";
    return 1;
  };
  auto last = st.events->last_sequence();
  if (!last)
    return fail(last.error());
  auto events_db = st.env->open_db("events");
  if (!events_db)
    return fail(events_db.error());
  std::cout << "replay analytics: " << *last << " event(s) in the log"
            << std::endl;
  auto dbi = *events_db;
  auto started = std::chrono::steady_clock::now();
  // The shadow: the sums of every event read so far (one entry per
  // counter, so small whatever the log's length).
  std::map<std::string, std::int64_t> sums;
  replay_outcome out;
  std::uint64_t next = 1;
  auto step = std::max<std::uint64_t>(1, *last / 10);
  std::uint64_t reported = 0;
  for (;;) {
    auto txn = st.env->begin_read();
    if (!txn)
      return fail(txn.error());
    auto before = out.scanned;
    auto r = count_events(txn->handle(), dbi, next, chunk, sums, out);
    if (!r)
      return fail(r.error());
    next = *r;
    ++out.chunks;
    if (out.scanned / step != reported / step) {
      reported = out.scanned;
      std::cout << "  scanned " << out.scanned << "/" << *last
                << " event(s), counted " << out.counted << std::endl;
    }
    if (out.scanned - before < chunk)
      break; // the end of the log as it was a moment ago
  }
  auto* proj = st.projections.get();
  auto* processed = st.processed.get();
  auto* jobs = st.jobs.get();
  auto shadow
      = std::make_shared<std::map<std::string, std::int64_t>>(std::move(sums));
  auto done = std::make_shared<replay_outcome>();
  auto op = [=, &out](store::write_txn& txn) -> store::result<void> {
    // Retried as a whole on a conflict: start from the shadow each time.
    auto all = *shadow;
    auto o = out;
    // What was appended since the last chunk.
    auto scanned = o.scanned;
    auto end = count_events(txn.handle(), dbi, next, 0, all, o);
    if (!end)
      return make_unexpected(end.error());
    o.tail = o.scanned - scanned;
    auto cleared = proj->clear_in(txn, "analytics/");
    if (!cleared)
      return make_unexpected(cleared.error());
    o.cleared = *cleared;
    for (const auto& [k, d] : all)
      if (auto r = proj->add_in(txn, k, d); !r)
        return r;
    o.counters = all.size();
    // Every event is in the new counters: the analytics jobs not yet done
    // must not add theirs again (the done ones marked theirs already).
    auto live = jobs->live_events_in(txn, listener_names::update_analytics);
    if (!live)
      return make_unexpected(live.error());
    for (const auto& [company, id] : *live) {
      auto marked = processed->mark_in(txn, company,
                                       listener_names::update_analytics, id);
      if (!marked)
        return make_unexpected(marked.error());
      ++o.marked;
    }
    // The daemon's UpdateAnalytics goes on after the last event counted
    // here (a batch it read before the switch is refused at its commit:
    // the checkpoint moved).
    auto at = read_checkpoint_in(txn, *proj, listener_names::update_analytics);
    if (!at)
      return make_unexpected(at.error());
    auto through = std::max(at->value_or(0), *end - 1);
    if (auto w = write_checkpoint_in(txn, *proj,
                                     listener_names::update_analytics, through);
        !w)
      return w;
    *done = o;
    return {};
  };
  auto switched_at = std::chrono::steady_clock::now();
  auto r = st.writer->execute(op, store::isolation::nested);
  if (!r)
    return fail(r.error());
  auto now = std::chrono::steady_clock::now();
  auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::cout << "replay analytics: done in " << ms(now - started)
            << " ms: scanned " << done->scanned << " event(s) in "
            << done->chunks << " chunk(s) and " << done->tail
            << " appended meanwhile, counted " << done->counted << ", skipped "
            << done->skipped << " undecodable; cleared " << done->cleared
            << " key(s), wrote " << done->counters << " counter(s), marked "
            << done->marked << " queued job(s)' event(s); the switch held "
            << "the write lock " << ms(now - switched_at) << " ms" << std::endl;
  return 0;
}

} // namespace

int run_replay(const std::vector<std::string>& args) {
  auto a = cli::parse_tool_args("replay", replay_usage, args, {"--chunk"}, {},
                                true, "expected one projection name\n\n");
  if (!a)
    return a.error();
  const auto& name = a->common.rest[0];
  if (name != "analytics") {
    std::cerr << "switchboard replay: unknown projection " << name
              << " (known: analytics)\n";
    return 2;
  }
  auto chunk = default_chunk;
  if (auto it = a->values.find("--chunk"); it != a->values.end()) {
    auto n = cli::to_uint("--chunk", it->second);
    if (!n || *n == 0) {
      std::cerr << "switchboard replay: "
                << (n ? std::string{"--chunk must be at least 1"} : n.error())
                << '\n';
      return 2;
    }
    chunk = *n;
  }
  auto st = cli::open_store("replay", a->common);
  if (!st)
    return 1;
  return replay_analytics(*st, chunk);
}

} // namespace switchboard::app
