#pragma once

// Signatures as the senders the tests play compute them: HMAC-SHA256 in
// lowercase hex.

#include <string>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace switchboard::test {

/// `n` bytes at `p` in lowercase hex.
inline std::string hex(const unsigned char* p, unsigned int n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 0x0f]);
  }
  return out;
}

/// HMAC-SHA256 of `text` under `key`, in lowercase hex.
inline std::string hmac(const std::string& key, const std::string& text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac,
       &len);
  return hex(mac, len);
}

} // namespace switchboard::test
