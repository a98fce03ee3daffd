// `switchboard replay <projection>`: rebuilds a projection from the log.

#include <chrono>
#include <map>

#include <actors/listeners.hpp>
#include <app/cli_common.hpp>
#include <store/codec.hpp>
#include <store/event_store.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>
#include <store/writer.hpp>

namespace switchboard::app {

namespace {

constexpr const char* replay_usage
    = R"(usage: switchboard replay <projection> [--config FILE]
                          [--set section.key=value]...

Rebuilds a projection from the event log, printing progress.
Projections:
  analytics   the UpdateAnalytics counters (appointments, calls,
              customers): clears analytics/*, recounts every event, and
              marks each counted event as processed by update_analytics,
              so that jobs still queued for them do not count them twice.
The rebuild is one LMDB write transaction: it works while the daemon
runs (whose writes wait for it) and is all or nothing.
)";

int replay_analytics(node_store& st) {
  auto last = st.events->last_sequence();
  if (!last) {
    std::cerr << "switchboard replay: " << store::to_string(last.error())
              << '\n';
    return 1;
  }
  auto events_db = st.env->open_db("events");
  if (!events_db) {
    std::cerr << "switchboard replay: " << store::to_string(events_db.error())
              << '\n';
    return 1;
  }
  std::cout << "replay analytics: " << *last << " event(s) in the log"
            << std::endl;
  auto* proj = st.projections.get();
  auto* processed = st.processed.get();
  auto dbi = *events_db;
  struct outcome {
    std::uint64_t scanned = 0, counted = 0, skipped = 0, cleared = 0;
    std::size_t counters = 0;
  };
  auto out = std::make_shared<outcome>();
  auto step = std::max<std::uint64_t>(1, *last / 10);
  auto started = std::chrono::steady_clock::now();
  auto op = [=](store::write_txn& txn) -> store::result<void> {
    *out = outcome{};
    auto cleared = proj->clear_in(txn, "analytics/");
    if (!cleared)
      return make_unexpected(cleared.error());
    out->cleared = *cleared;
    // Deltas are summed first: one write per counter, not per event.
    std::map<std::string, std::int64_t> sums;
    auto c = txn.cursor(dbi);
    if (!c)
      return make_unexpected(c.error());
    MDB_val key, val;
    auto rc = mdb_cursor_get(*c, &key, &val, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT)) {
      auto view = store::decode_record(val.mv_data, val.mv_size);
      if (!view)
        return make_unexpected(view.error());
      ++out->scanned;
      if (out->scanned % step == 0)
        std::cout << "  scanned " << out->scanned << "/" << *last
                  << " event(s), counted " << out->counted << std::endl;
      if (view->type != "appointment.created" && view->type != "call.completed"
          && view->type != "customer.created")
        continue;
      auto ev = view->to_envelope();
      auto deltas = analytics_deltas(ev);
      if (!deltas) {
        ++out->skipped;
        continue;
      }
      for (const auto& [k, d] : *deltas)
        sums[k] += d;
      auto marked
          = processed->mark_in(txn, listener_names::update_analytics, ev.id);
      if (!marked)
        return make_unexpected(marked.error());
      ++out->counted;
    }
    if (rc != MDB_NOTFOUND)
      return store::fail_mdb(rc, "mdb_cursor_get(events)");
    for (const auto& [k, d] : sums)
      if (auto r = proj->add_in(txn, k, d); !r)
        return r;
    out->counters = sums.size();
    return {};
  };
  auto r = st.writer->execute(op, store::isolation::nested);
  if (!r) {
    std::cerr << "switchboard replay: " << store::to_string(r.error())
              << " (nothing was changed)\n";
    return 1;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - started)
                .count();
  std::cout << "replay analytics: done in " << ms << " ms: scanned "
            << out->scanned << " event(s), counted " << out->counted
            << ", skipped " << out->skipped << " undecodable; cleared "
            << out->cleared << " key(s), wrote " << out->counters
            << " counter(s)" << std::endl;
  return 0;
}

} // namespace

int run_replay(const std::vector<std::string>& args) {
  auto a = cli::parse_args(args, {}, {});
  if (!a) {
    std::cerr << "switchboard replay: " << a.error() << '\n';
    return 2;
  }
  if (a->common.help) {
    std::cout << replay_usage;
    return 0;
  }
  if (a->common.rest.size() != 1) {
    std::cerr << "switchboard replay: expected one projection name\n\n"
              << replay_usage;
    return 2;
  }
  const auto& name = a->common.rest[0];
  if (name != "analytics") {
    std::cerr << "switchboard replay: unknown projection " << name
              << " (known: analytics)\n";
    return 2;
  }
  auto st = cli::open_store("replay", a->common);
  if (!st)
    return 1;
  return replay_analytics(*st);
}

} // namespace switchboard::app
