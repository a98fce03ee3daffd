#pragma once

// Minute buckets of the runtime's activity, kept in LMDB so that the
// dashboard's charts and `GET /api/admin/stats` survive a restart: per
// event type (events stored), per listener (runs, failures, run time) and
// per queue (measured wait, run time). Each bucket holds a count, the
// failures, the sum and a histogram (telemetry's duration bounds), so
// percentiles can be read for any range. Buckets older than the retention
// (7 days) are pruned as new ones come.
//
// Each series is kept for the whole node and, beside it, per company
// (what a company token reads).
//
// Keys of the node's series: minute (be64, minutes since the epoch),
// series kind (1 byte), series name. A company's: 0xFF, the company id, a
// 0 byte, then the same (so that a company's range is one walk, and the
// node's never meets them: a minute's first byte is 0). Values: format
// byte 1, count, failures, sum (double bits), bucket count n, then n
// counts.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <lmdb.h>

#include <store/environment.hpp>
#include <store/error.hpp>

namespace switchboard::store {

/// What a series counts.
enum class stats_kind : std::uint8_t {
  event = 1,         ///< Events stored, by type (no durations).
  listener = 2,      ///< Listener runs, failures and run time, by listener.
  queue_wait = 3,    ///< Jobs leased and their wait (due → lease), by queue.
  queue_runtime = 4, ///< Job attempts and their run time, by queue.
};

/// One series in one minute.
struct minute_bucket {
  std::uint64_t minute = 0; ///< Minutes since the epoch (UTC).
  stats_kind kind = stats_kind::event;
  std::string name;
  std::string company; ///< "": the whole node's series.
  std::uint64_t count = 0;
  std::uint64_t failures = 0;
  double sum = 0; ///< Seconds, for durations.
  /// Per bucket (not cumulative), the last one +Inf; bounds are
  /// telemetry::duration_buckets(). Empty for series without durations.
  std::vector<std::uint64_t> buckets;
};

/// Adds `b`'s count, failures, sum and histogram into `into` (its minute,
/// kind, name and company stay): totals over minutes, steps or series.
void add_into(minute_bucket& into, const minute_bucket& b);

/// The minute buckets.
class stats_store {
public:
  static result<std::unique_ptr<stats_store>> open(environment& env);

  /// Adds `buckets` into what the same minute and series hold (a restart
  /// in the middle of a minute adds to it rather than replacing it).
  result<void> add_in(write_txn& txn,
                      const std::vector<minute_bucket>& buckets);

  /// Deletes every bucket of a minute before `minute`; returns how many.
  result<std::size_t> prune_in(write_txn& txn, std::uint64_t minute);

  /// Buckets of minutes in [from, to), in minute order, at most
  /// `max_count`: the node's series ("" company), or those of `company`.
  result<std::vector<minute_bucket>> range(std::uint64_t from, std::uint64_t to,
                                           std::size_t max_count = 1000000,
                                           std::string_view company = {}) const;

private:
  stats_store(environment& env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}

  environment& env_;
  MDB_dbi dbi_;
};

} // namespace switchboard::store
