#pragma once

// Bytes as base64 text (RFC 4648, with padding, no line breaks): SMTP's
// encoded headers, HTTP Basic credentials, Twilio's request signatures.
// Header-only, like store/hex.hpp.

#include <cstddef>
#include <string>
#include <string_view>

namespace switchboard::store {

/// `in` as base64 with `=` padding.
inline std::string to_base64(std::string_view in) {
  static constexpr char tbl[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(4 * ((in.size() + 2) / 3));
  auto byte = [&in](std::size_t i) -> unsigned {
    return i < in.size() ? static_cast<unsigned char>(in[i]) : 0u;
  };
  for (std::size_t i = 0; i < in.size(); i += 3) {
    auto n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += i + 1 < in.size() ? tbl[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? tbl[n & 63] : '=';
  }
  return out;
}

} // namespace switchboard::store
