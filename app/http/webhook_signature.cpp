// The HMAC check of webhook deliveries, apart from the routes so that it is
// tested and fuzzed without a daemon (tests/fuzz/webhook_signature_fuzz.cpp).

#include "app/http/webhooks.hpp"

#include <stdexcept>

#include <store/hmac.hpp>

namespace switchboard::app::http {

signature_check check_signature(std::string_view secret,
                                std::string_view timestamp_header,
                                std::string_view signature_header,
                                std::string_view body, std::int64_t now_s,
                                std::int64_t tolerance_s) {
  signature_check out;
  std::string ts_text{timestamp_header};
  try {
    std::size_t used = 0;
    out.timestamp = std::stoll(ts_text, &used);
    if (used != ts_text.size())
      throw std::invalid_argument{"trailing"};
  } catch (...) {
    out.problem = "missing or malformed X-Switchboard-Timestamp";
    return out;
  }
  if (signature_header.substr(0, 7) != "sha256=") {
    out.problem = "missing or malformed signature";
    return out;
  }
  std::string signed_text = ts_text + ".";
  signed_text.append(body);
  out.signature = store::hmac_sha256_hex(secret, signed_text);
  if (!store::same_hex_mac(signature_header.substr(7), out.signature)) {
    out.problem = "bad signature";
    return out;
  }
  // Subtractions that cannot overflow: a timestamp near INT64_MIN/MAX is
  // stale, not undefined behaviour.
  auto diff = out.timestamp < now_s
                  ? static_cast<std::uint64_t>(now_s)
                        - static_cast<std::uint64_t>(out.timestamp)
                  : static_cast<std::uint64_t>(out.timestamp)
                        - static_cast<std::uint64_t>(now_s);
  if (tolerance_s < 0 || diff > static_cast<std::uint64_t>(tolerance_s))
    out.problem = "stale timestamp";
  return out;
}

} // namespace switchboard::app::http
