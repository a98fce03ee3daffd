#pragma once

// Signatures as the senders the tests play compute them: HMAC-SHA256 in
// lowercase hex, or any digest's HMAC as raw bytes (for senders that
// encode it otherwise).

#include <string>
#include <string_view>

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

/// `bytes` in lowercase hex.
inline std::string hex(std::string_view bytes) {
  return hex(reinterpret_cast<const unsigned char*>(bytes.data()),
             static_cast<unsigned int>(bytes.size()));
}

/// The HMAC of `text` under `key` with digest `md` (`EVP_sha256()`,
/// `EVP_sha1()`, ...), as raw bytes.
inline std::string hmac_bytes(const EVP_MD* md, const std::string& key,
                              const std::string& text) {
  std::string mac(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(),
       reinterpret_cast<unsigned char*>(mac.data()), &len);
  mac.resize(len);
  return mac;
}

/// HMAC-SHA256 of `text` under `key`, in lowercase hex.
inline std::string hmac(const std::string& key, const std::string& text) {
  return hex(hmac_bytes(EVP_sha256(), key, text));
}

} // namespace switchboard::test
