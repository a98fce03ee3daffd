#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/environment.hpp"
#include "store/error.hpp"

namespace switchboard::store {

/// Read models kept by listeners: named counters (sums) and named values,
/// written inside the listener's transaction, together with its processed
/// mark. Keys are free-form strings; a common prefix groups a projection
/// (e.g. "analytics/appointments/company=7/").
class projections {
public:
  /// Opens the projection databases in `env`. Errors: LMDB errors.
  static result<std::unique_ptr<projections>> open(environment& env);

  /// Adds `delta` to the counter `key` (a missing counter is 0).
  result<void> add_in(write_txn& txn, std::string_view key, std::int64_t delta);

  /// Sets the value `key`.
  result<void> put_in(write_txn& txn, std::string_view key,
                      std::string_view value);

  /// Removes the value `key`; returns whether it existed.
  result<bool> erase_in(write_txn& txn, std::string_view key);

  /// Reads the value `key` inside a write transaction. Errors:
  /// `errc::not_found`.
  result<std::string> get_in(write_txn& txn, std::string_view key) const;

  /// Reads counter `key`; 0 when missing.
  result<std::int64_t> counter(std::string_view key) const;

  /// Reads value `key`. Errors: `errc::not_found`.
  result<std::string> get(std::string_view key) const;

  /// Counters whose key starts with `prefix`, in key order.
  result<std::vector<std::pair<std::string, std::int64_t>>>
  counters(std::string_view prefix, std::size_t max_count = 10000) const;

  /// Values whose key starts with `prefix`, in key order.
  result<std::vector<std::pair<std::string, std::string>>>
  values(std::string_view prefix, std::size_t max_count = 10000) const;

  /// Removes every counter and value whose key starts with `prefix` (for a
  /// replay that rebuilds a projection). Returns how many were removed.
  result<std::uint64_t> clear_in(write_txn& txn, std::string_view prefix);

private:
  projections(environment& env, MDB_dbi counters, MDB_dbi values)
      : env_(env), counters_(counters), values_(values) {}
  environment& env_;
  MDB_dbi counters_, values_;
};

} // namespace switchboard::store
