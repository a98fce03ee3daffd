#pragma once

// Bytes as hex text (tokens, digests, MACs) and back (UUIDs, percent
// escapes). Header-only, so that code
// built without the store library (the fuzz targets, the benchmarks) can
// use it.

#include <cstddef>
#include <string>
#include <string_view>

namespace switchboard::store {

/// The `n` bytes at `p` as 2 * `n` lower-case hex digits.
inline std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 0x0f]);
  }
  return out;
}

/// The value of the hex digit `c` (either case); -1 for another character.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Reads UUID text (8-4-4-4-12 hex digits, either case) into its 16 bytes
/// at `out`; false when `s` is no UUID.
inline bool parse_uuid(std::string_view s, char* out) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-'
      || s[23] != '-')
    return false;
  int n = 0;
  for (std::size_t i = 0; i < 36;) {
    // Only the four dashes checked above are stepped over: each group
    // has an even number of digits, so a pair never reaches past s[35].
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      ++i;
      continue;
    }
    auto hi = hex_value(s[i]);
    auto lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[n++] = static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return n == 16;
}

} // namespace switchboard::store
