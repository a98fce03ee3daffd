#pragma once

// The stats recorder: every interval it reads the /metrics families of
// events, listeners and queues (actors/metrics.hpp), takes the difference
// from its last reading and adds it to the minute buckets in LMDB
// (store/stats.hpp), then prunes the buckets past the retention. The hot
// paths count nothing more for it.

#include <chrono>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include <spdlog/logger.h>

#include <actors/clock.hpp>
#include <actors/direct_commit.hpp>
#include <actors/interfaces.hpp>
#include <store/stats.hpp>

namespace switchboard {

/// One series' totals at a reading.
struct series_totals {
  std::uint64_t count = 0;
  std::uint64_t failures = 0;
  double sum = 0;
  std::vector<std::uint64_t> buckets;
};

/// A series: its kind, name and company ("" for the node's).
using series_key = std::tuple<store::stats_kind, std::string, std::string>;
using stats_reading = std::map<series_key, series_totals>;

/// The current totals of every series, from the process's metrics (the
/// node's) and the per-company families (each company's).
stats_reading read_stats();

/// What happened between two readings, as buckets of `minute` (series
/// with no activity left out).
std::vector<store::minute_bucket> stats_delta(const stats_reading& before,
                                              const stats_reading& after,
                                              std::uint64_t minute);

struct stats_recorder_deps {
  store::writer* writer = nullptr;
  store::stats_store* stats = nullptr;
  clock_fn clock;
  std::chrono::milliseconds interval{10000};
  std::chrono::hours retention{24 * 7};
};

struct stats_recorder_state {
  stats_recorder_deps deps;
  stats_reading last;
  std::uint64_t last_minute = 0;
  /// The recordings' commits.
  commit_table commits;
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "stats_recorder";
};

stats_recorder_actor::behavior_type stats_recorder(
    stats_recorder_actor::stateful_pointer<stats_recorder_state> self,
    stats_recorder_deps deps);

} // namespace switchboard
