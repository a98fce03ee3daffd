#pragma once

// HMACs: of any digest as raw bytes, and HMAC-SHA256 in lowercase hex (the
// webhook, cluster, CRM and Pusher signatures); and SHA-256 itself (token
// hashes, derived ids). Header-only, like
// store/hex.hpp, so that code built without the store library (the fuzz
// targets, the benchmarks) can use it; only OpenSSL's libcrypto is needed.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "store/hex.hpp"

namespace switchboard::store {

/// The HMAC of `data` under `key` with digest `md` (`EVP_sha256()`,
/// `EVP_sha1()`, ...), as raw bytes; empty when OpenSSL fails.
inline std::string hmac_bytes(const EVP_MD* md, std::string_view key,
                              std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           mac, &len)
      == nullptr)
    return {};
  return std::string(reinterpret_cast<const char*>(mac), len);
}

/// SHA-256 of `data` as raw bytes; empty when OpenSSL fails. The digest is
/// fetched once and each thread keeps its context: OpenSSL 3's one-shot
/// calls (SHA256, EVP_Digest with EVP_sha256()) fetch it on every call,
/// which costs more than hashing a short text.
inline std::string sha256_bytes(std::string_view data) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct ctx_deleter {
    void operator()(EVP_MD_CTX* c) const noexcept {
      EVP_MD_CTX_free(c);
    }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, ctx_deleter> ctx{EVP_MD_CTX_new()};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (sha256 == nullptr || !ctx
      || EVP_DigestInit_ex(ctx.get(), sha256, nullptr) != 1
      || EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1
      || EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) {
    // Not expected with a working libcrypto; the one-shot call gives the
    // same digest or fails the same way.
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr)
        != 1)
      return {};
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

/// HMAC-SHA256 of `data` under `key`, as lowercase hex; empty when OpenSSL
/// fails.
inline std::string hmac_sha256_hex(std::string_view key,
                                   std::string_view data) {
  auto mac = hmac_bytes(EVP_sha256(), key, data);
  return to_hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

/// Whether `a` and `b` are equal, compared without an early exit (their
/// lengths are public: a key's, a digest's).
inline bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// Whether the hex MAC `given` (either case) is `expected` (lowercase
/// hex, as hmac_sha256_hex gives it), in time that depends on the length
/// only. Never when `expected` is empty: an HMAC that failed matches
/// nothing.
inline bool same_hex_mac(std::string_view given, std::string_view expected) {
  if (expected.empty() || given.size() != expected.size())
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < given.size(); ++i) {
    // Branches on the given MAC only, never on the expected one.
    auto c = static_cast<unsigned char>(given[i]);
    if (c >= 'A' && c <= 'F')
      c = static_cast<unsigned char>(c - 'A' + 'a');
    diff |= static_cast<unsigned char>(
        c ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

} // namespace switchboard::store
