#pragma once
// The key layout of the audit log (audit_log.cpp), shared with the forget
// of a company (company_forget.cpp). Not part of the store's interface:
// include store/audit_log.hpp.

#include "store/codec.hpp"

#include <cstdint>
#include <string>

namespace switchboard::store::audit_detail {

/// The database of the audit records.
inline constexpr const char* audit_db = "audit";

/// The key of the record of the event with sequence `seq` (8 bytes,
/// big-endian, as the log's).
inline std::string seq_key(std::uint64_t seq) {
  std::string k(8, '\0');
  put_be64(k.data(), seq);
  return k;
}

} // namespace switchboard::store::audit_detail
