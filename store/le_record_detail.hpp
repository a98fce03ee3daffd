#pragma once
// Reading the records of little-endian integers and strings led by their
// size as a varint: the event records (codec.cpp) and the job records
// (job_record.cpp). Not part of the store's interface.

#include <cstdint>
#include <string_view>

namespace switchboard::store::le_record_detail {

/// A bounds-checked reader over one record: a read past its end sets `ok`
/// false and gives 0 or an empty string.
struct reader {
  const unsigned char* pos;
  const unsigned char* end;
  bool ok = true;

  /// An unsigned integer of `bytes` bytes, little-endian.
  std::uint64_t le(int bytes) noexcept {
    if (end - pos < bytes) {
      ok = false;
      return 0;
    }
    std::uint64_t x = 0;
    for (int i = bytes - 1; i >= 0; --i)
      x = (x << 8) | pos[i];
    pos += bytes;
    return x;
  }

  /// A varint: 7 bits a byte, least significant first, at most 9 bytes.
  std::uint64_t varint() noexcept {
    std::uint64_t n = 0;
    for (int shift = 0;; shift += 7) {
      if (pos == end || shift > 56) {
        ok = false;
        return 0;
      }
      auto b = *pos++;
      n |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0)
        return n;
    }
  }

  /// A string led by its size (a varint), viewed in the record.
  std::string_view str() noexcept {
    auto n = varint();
    if (!ok || static_cast<std::uint64_t>(end - pos) < n) {
      ok = false;
      return {};
    }
    std::string_view s{reinterpret_cast<const char*>(pos),
                       static_cast<std::size_t>(n)};
    pos += n;
    return s;
  }
};

} // namespace switchboard::store::le_record_detail
