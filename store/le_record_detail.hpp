#pragma once
// Writing and reading the records of little-endian integers and strings
// led by their size as a varint: the event records (codec.cpp) and the job
// records (job_record.cpp). Not part of the store's interface.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace switchboard::store::le_record_detail {

/// Most bytes a varint takes.
inline constexpr std::size_t max_varint_size = 10;

/// The bytes `put_varint` writes for `n`.
inline std::size_t varint_size(std::uint64_t n) noexcept {
  std::size_t len = 1;
  while (n >= 0x80) {
    n >>= 7;
    ++len;
  }
  return len;
}

/// Writes `n` as a varint (7 bits a byte, least significant first) at
/// `out`; returns the end.
inline char* put_varint(char* out, std::uint64_t n) noexcept {
  while (n >= 0x80) {
    *out++ = static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  *out++ = static_cast<char>(n);
  return out;
}

/// Writes the low `bytes` bytes of `x`, little-endian, at `out`; returns
/// the end.
inline char* put_le(char* out, std::uint64_t x, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i) {
    out[i] = static_cast<char>(x & 0xff);
    x >>= 8;
  }
  return out + bytes;
}

/// Writes `s` led by its size at `out`; returns the end.
inline char* put_str(char* out, std::string_view s) noexcept {
  out = put_varint(out, s.size());
  if (!s.empty())
    std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

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

  /// What is wrong with the record once read: `truncated` when a read ran
  /// past its end, `trailing` when bytes are left; null when neither.
  const char* end_problem(const char* truncated,
                          const char* trailing) const noexcept {
    if (!ok)
      return truncated;
    return pos != end ? trailing : nullptr;
  }
};

} // namespace switchboard::store::le_record_detail
