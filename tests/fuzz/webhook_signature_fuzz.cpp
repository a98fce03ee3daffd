// Webhook signature verification (app/http/webhooks.hpp) on arbitrary
// headers and bodies: no crash, a forged delivery is refused, and the
// delivery signed with the real secret is accepted.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <app/http/webhooks.hpp>

#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using switchboard::app::http::check_signature;
  // Input: timestamp header, signature header and body, split at the
  // first two newlines.
  std::string_view in{reinterpret_cast<const char*>(data), size};
  auto a = in.find('\n');
  auto ts = in.substr(0, a);
  auto rest
      = a == std::string_view::npos ? std::string_view{} : in.substr(a + 1);
  auto b = rest.find('\n');
  auto sig = rest.substr(0, b);
  auto body
      = b == std::string_view::npos ? std::string_view{} : rest.substr(b + 1);
  const std::string secret = "fuzz-secret";
  const std::int64_t now = 1'700'000'000;
  auto c = check_signature(secret, ts, sig, body, now, 300);
  if (c.problem.empty()) {
    // Accepted: only with the right MAC and a timestamp within tolerance.
    FUZZ_CHECK(c.timestamp >= now - 300 && c.timestamp <= now + 300);
    FUZZ_CHECK(sig.size() == 7 + c.signature.size());
  }
  // The same delivery, signed as the provider signs it, is accepted when
  // its timestamp is a fresh one.
  if (!c.signature.empty() && c.problem != "stale timestamp") {
    auto good = check_signature(secret, ts, "sha256=" + c.signature, body,
                                c.timestamp, 300);
    FUZZ_CHECK(good.problem.empty());
    // ... and refused under another secret.
    auto forged = check_signature("other", ts, "sha256=" + c.signature, body,
                                  c.timestamp, 300);
    FUZZ_CHECK(forged.problem == "bad signature");
  }
  return 0;
}
