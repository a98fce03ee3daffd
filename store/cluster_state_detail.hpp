#pragma once
// The key layout of the cluster state's databases (cluster_state.cpp),
// shared with the forget of a company (company_forget.cpp). Not part of
// the store's interface: include store/cluster_state.hpp.

#include <string>
#include <string_view>

namespace switchboard::store::cluster_detail {

/// Database names.
inline constexpr const char* meta_db = "cluster_meta";
inline constexpr const char* parked_db = "cluster_parked";

/// The prefix of `company`'s parked records: the company and a NUL, then
/// the index (8 bytes, big-endian).
inline std::string parked_prefix(std::string_view company) {
  std::string k{company};
  k.push_back('\0');
  return k;
}

} // namespace switchboard::store::cluster_detail
