#include "actors/stats_recorder.hpp"

#include <caf/send.hpp>

#include <actors/errors.hpp>
#include <actors/log.hpp>
#include <actors/metrics.hpp>

namespace switchboard {

namespace {

using self_ptr = stats_recorder_actor::stateful_pointer<stats_recorder_state>;

void add_histogram(series_totals& t, const telemetry::histogram& h) {
  auto n = h.bounds().size() + 1;
  if (t.buckets.size() < n)
    t.buckets.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    t.buckets[i] += h.bucket(i);
  t.sum += h.sum();
}

/// Adds what the families `f` (actor_metrics, company_metrics) counted
/// to the series `at(kind, labels)` picks.
template <class Families, class At>
void add_families(Families& f, At at) {
  using store::stats_kind;
  f.appended.each([&](const auto& labels, const telemetry::counter& n) {
    at(stats_kind::event, labels).count += n.value();
  });
  f.listener_runs.each([&](const auto& labels, const telemetry::counter& n) {
    at(stats_kind::listener, labels).count += n.value();
  });
  f.listener_failures.each(
      [&](const auto& labels, const telemetry::counter& n) {
        at(stats_kind::listener, labels).failures += n.value();
      });
  f.listener_duration.each(
      [&](const auto& labels, const telemetry::histogram& h) {
        add_histogram(at(stats_kind::listener, labels), h);
      });
  for (auto [family, kind] : {std::pair{&f.queue_wait, stats_kind::queue_wait},
                              {&f.queue_runtime, stats_kind::queue_runtime}})
    family->each([&](const auto& labels, const telemetry::histogram& h) {
      auto& t = at(kind, labels);
      t.count += h.count();
      add_histogram(t, h);
    });
  f.queue_retries.each([&](const auto& labels, const telemetry::counter& n) {
    at(stats_kind::queue_runtime, labels).failures += n.value();
  });
}

/// Records one interval: the difference from the last reading, committed
/// in the background lane with the pruning; then `ended(error or none)`.
void record(self_ptr self, commit_table::then_fn ended) {
  auto& st = self->state;
  auto now = st.deps.clock();
  auto reading = read_stats();
  // The interval's activity counts in the minute it began in.
  auto buckets = stats_delta(st.last, reading, st.last_minute);
  st.last = std::move(reading);
  st.last_minute = static_cast<std::uint64_t>(now / 60000);
  auto keep_from
      = st.last_minute
        - static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::minutes>(st.deps.retention)
                .count());
  auto* stats = st.deps.stats;
  auto op = [stats, buckets = std::move(buckets),
             keep_from](store::write_txn& txn) -> store::result<void> {
    if (auto ok = stats->add_in(txn, buckets); !ok)
      return ok;
    if (auto pruned = stats->prune_in(txn, keep_from); !pruned)
      return make_unexpected(pruned.error());
    return {};
  };
  st.commits.commit(self, *st.deps.writer, false, std::move(op),
                    store::isolation::validated, store::lane::background,
                    [self, ended = std::move(ended)](caf::error err) {
                      if (err)
                        self->state.log->warn("recording stats: {}",
                                              describe(err));
                      ended(std::move(err));
                    });
}

} // namespace

stats_reading read_stats() {
  auto& m = metrics();
  stats_reading out;
  using store::stats_kind;
  // The node's series: the first label names them; the companies':
  // the first is the company, the second the name.
  auto node = [&](stats_kind k,
                  const std::vector<std::string>& labels) -> series_totals& {
    return out[{k, labels[0], std::string{}}];
  };
  // Activity of no company (none is kept per company) lands in `none`.
  series_totals none;
  auto company = [&](stats_kind k,
                     const std::vector<std::string>& labels) -> series_totals& {
    if (labels[0].empty())
      return none = {};
    return out[{k, labels[1], labels[0]}];
  };
  add_families(per_company_metrics(), company);
  add_families(m, node);
  return out;
}

std::vector<store::minute_bucket> stats_delta(const stats_reading& before,
                                              const stats_reading& after,
                                              std::uint64_t minute) {
  std::vector<store::minute_bucket> out;
  for (const auto& [key, now] : after) {
    series_totals then;
    if (auto i = before.find(key); i != before.end())
      then = i->second;
    if (now.count <= then.count && now.failures <= then.failures)
      continue;
    store::minute_bucket b;
    b.minute = minute;
    b.kind = std::get<0>(key);
    b.name = std::get<1>(key);
    b.company = std::get<2>(key);
    b.count = now.count - std::min(now.count, then.count);
    b.failures = now.failures - std::min(now.failures, then.failures);
    b.sum = std::max(0.0, now.sum - then.sum);
    b.buckets.resize(now.buckets.size());
    for (std::size_t i = 0; i < now.buckets.size(); ++i) {
      auto was = i < then.buckets.size() ? then.buckets[i] : 0;
      b.buckets[i] = now.buckets[i] - std::min(now.buckets[i], was);
    }
    out.push_back(std::move(b));
  }
  return out;
}

stats_recorder_actor::behavior_type stats_recorder(
    stats_recorder_actor::stateful_pointer<stats_recorder_state> self,
    stats_recorder_deps deps) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.log = log::get(log::subsystem::stats);
  // What this process counted before the recorder started (nothing, in
  // the daemon) counts in the first interval.
  st.last_minute = static_cast<std::uint64_t>(st.deps.clock() / 60000);
  self->delayed_send(self, st.deps.interval, tick_atom::value);
  return {
      [self](tick_atom) {
        record(self, [](caf::error) {});
        self->delayed_send(self, self->state.deps.interval, tick_atom::value);
      },
      [self](flush_atom) -> caf::result<ok_atom> {
        auto rp = self->make_response_promise<ok_atom>();
        record(self, [rp](caf::error err) mutable {
          if (err)
            rp.deliver(std::move(err));
          else
            rp.deliver(ok_atom::value);
        });
        return rp;
      },
      [self](done_atom, std::uint64_t token, caf::error& err) {
        self->state.commits.finish(token, std::move(err));
      },
  };
}

} // namespace switchboard
