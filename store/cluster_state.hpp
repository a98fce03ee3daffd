#pragma once

// What a cluster member keeps of its cluster in the store (databases
// cluster_meta and cluster_parked):
//
// | database       | key → value                                       |
// |----------------|---------------------------------------------------|
// | cluster_meta   | "placement" → the placement table (text, below)   |
// | cluster_parked | company, NUL, index (be64) → job record           |
//
// The placement table says which member owns which company. Parked jobs
// are a company's pending jobs while it moves between members: out of the
// queues (so that no member runs them twice) until the placement says who
// owns the company; the owner then enqueues them, any other member drops
// them. Plain C++, no CAF.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lmdb.h>

#include <store/environment.hpp>
#include <store/error.hpp>

namespace switchboard::store {

/// The placement table as stored (actors/cluster_view.hpp: placement_table).
struct placement_record {
  std::uint64_t epoch = 0; ///< 0: none stored.
  std::vector<std::string> basis;
  std::vector<std::pair<std::string, std::string>> moved; ///< Company, member.
};

/// Encodes `p` (lines: format, epoch, basis count, names, moved count,
/// company and member pairs).
std::string encode_placement(const placement_record& p);

/// Decodes what `encode_placement` made. Errors: `errc::corrupt`.
result<placement_record> decode_placement(std::string_view text);

class cluster_state {
public:
  static result<std::unique_ptr<cluster_state>> open(environment& env);

  /// The stored table (epoch 0 when none). Errors: `errc::corrupt`, LMDB.
  result<placement_record> placement() const;
  result<void> set_placement_in(write_txn& txn, const placement_record& p);

  /// Parks `records` (job records) for `company`, after any parked
  /// before.
  result<void> park_in(write_txn& txn, std::string_view company,
                       const std::vector<std::string>& records);

  /// Removes and returns `company`'s parked records, in the order parked.
  result<std::vector<std::string>> take_parked_in(write_txn& txn,
                                                  std::string_view company);

  /// The companies with parked jobs.
  result<std::vector<std::string>> parked_companies() const;

private:
  cluster_state(environment& env, MDB_dbi meta, MDB_dbi parked)
      : env_(env), meta_(meta), parked_(parked) {}

  environment& env_;
  MDB_dbi meta_;
  MDB_dbi parked_;
};

} // namespace switchboard::store
