#pragma once

// The queued listeners' read view of customers: what a job needs of the
// customer (channels, recipient, name) without folding the customer's
// stream again for every job.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <caf/error.hpp>

#include <messages/entities.hpp>
#include <messages/expected.hpp>

namespace switchboard::store {
class event_store;
} // namespace switchboard::store

namespace switchboard {

/// Customers as their streams fold, kept in memory and shared by the
/// listener actors (thread-safe). An entry holds while the store's
/// generation of customer streams (`event_store::stream_generation`) is
/// the one read before the entry was folded: any customer commit moves it
/// on, and the next lookup of each customer folds its stream again, so a
/// job never sees a customer older than the last commit before its read
/// began, as when it folded the stream itself. Errors are not kept.
class customer_view {
public:
  /// Most customers kept; past it the view starts again empty.
  static constexpr std::size_t max_entries = 65536;

  /// The customer `id` of `company_id`: from the view, or folded from its
  /// stream (`load_customer`, with its errors) and kept.
  expected<customer, caf::error> get(const store::event_store& events,
                                     const std::string& company_id,
                                     const std::string& id);

  /// How many lookups folded a stream (for tests and stats).
  std::uint64_t folds() const;

private:
  struct entry {
    customer value;
    std::uint64_t generation = 0;
  };
  mutable std::mutex mtx_;
  std::map<std::pair<std::string, std::string>, entry> entries_;
  std::uint64_t folds_ = 0;
};

} // namespace switchboard
