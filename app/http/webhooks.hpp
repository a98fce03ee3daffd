#pragma once

// Webhook settings ([webhooks] of config.ini), set once before the gateway
// serves; the routes are added by add_webhook_routes (app/http/routes.hpp).

#include <cstdint>
#include <string>
#include <string_view>

#include <app/http/fwd.hpp>

namespace switchboard::app::http {

struct webhook_options {
  std::string call_provider_secret; ///< Empty: call webhooks answer 503.
  /// Key of the Cal.com webhooks of companies without their own.
  std::string calcom_secret;
  std::string retell_api_key;     ///< Empty: Retell webhooks answer 503.
  std::int64_t tolerance_s = 300; ///< Largest |now - timestamp|.
  /// Twilio's auth token ([providers] twilio_auth_token): the key of
  /// X-Twilio-Signature. Empty: Twilio status callbacks answer 503.
  std::string twilio_auth_token;
  std::string twilio_account_sid; ///< A callback of another answers 422.
  /// The URL Twilio signs over (`providers.twilio_status_callback`);
  /// empty: http://{Host}{target} of the request.
  std::string twilio_status_url;
};

/// Reads [webhooks] of the configuration.
webhook_options webhook_options_from(const config& cfg);

/// A delivery's signature, checked.
struct signature_check {
  /// Why the delivery is refused ("missing or malformed
  /// X-Switchboard-Timestamp", "missing or malformed signature", "bad
  /// signature", "stale timestamp"), empty when it is genuine.
  std::string problem;
  /// The expected signature (lower-case hex), the key of replay checks.
  std::string signature;
  /// The delivery's timestamp (unix seconds).
  std::int64_t timestamp = 0;
};

/// Checks `X-Switchboard-Signature: sha256=<hex of HMAC-SHA256(secret,
/// "<timestamp>.<body>")>` (hex in either case, compared in constant time)
/// and that the timestamp is within `tolerance_s` of `now_s`. Pure: the
/// replay check and the company are the route's.
signature_check check_signature(std::string_view secret,
                                std::string_view timestamp_header,
                                std::string_view signature_header,
                                std::string_view body, std::int64_t now_s,
                                std::int64_t tolerance_s);

/// Sets the options every webhook route uses (thread-safe; forgets the
/// signatures seen so far).
void configure_webhooks(webhook_options opts);

} // namespace switchboard::app::http
