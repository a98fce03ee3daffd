#pragma once

#include "messages/envelope.hpp"
#include "store/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace switchboard::store {

/// The format version written as the first byte of every event record.
constexpr std::uint8_t record_format_v1 = 1;

/// A stored event decoded without copying: the strings point into the
/// record (for the store, into the LMDB map), so a view is valid only as
/// long as the bytes it was decoded from (within a scan callback).
struct envelope_view {
  std::string_view id;
  std::string_view type;
  std::string_view aggregate_type;
  std::string_view aggregate_id;
  std::uint64_t version = 0;
  std::string_view company_id;
  timestamp_ms occurred_at = 0;
  std::uint64_t sequence = 0;
  std::string_view user_id;
  std::string_view ip_address;
  std::string_view user_agent;
  std::string_view source;
  std::string_view correlation_id;
  std::string_view causation_id;
  std::string_view data;

  /// Copies the view into an owning envelope.
  envelope to_envelope() const;
};

/// Returns the size of the record `encode_record` writes for `e`.
std::size_t record_size(const envelope& e) noexcept;

/// Writes the record of `e` (format v1) into `out`, which must hold
/// `record_size(e)` bytes. Layout: format byte, version, occurred_at and
/// sequence as 8-byte little-endian, then id, type, aggregate_type,
/// aggregate_id, company_id, the six metadata fields and data, each as a
/// LEB128 length followed by the bytes.
void encode_record(const envelope& e, char* out) noexcept;

/// Decodes a record without copying. Errors: `errc::corrupt` (unknown
/// format version, truncated record, trailing bytes).
result<envelope_view> decode_record(const void* data, std::size_t size);

// -- big-endian keys: LMDB's bytewise order is then numeric order ----------

/// Writes `x` as 8 big-endian bytes.
inline void put_be64(char* out, std::uint64_t x) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xff);
    x >>= 8;
  }
}

/// Reads 8 big-endian bytes.
inline std::uint64_t get_be64(const void* in) noexcept {
  auto p = static_cast<const unsigned char*>(in);
  std::uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | p[i];
  return x;
}

/// Maps a signed time onto an unsigned one with the same order.
inline std::uint64_t order_preserving(std::int64_t t) noexcept {
  return static_cast<std::uint64_t>(t) ^ (std::uint64_t{1} << 63);
}

} // namespace switchboard::store
