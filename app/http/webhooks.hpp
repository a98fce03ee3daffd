#pragma once

// Webhook settings ([webhooks] of config.ini), set once before the gateway
// serves; the routes are added by add_webhook_routes (app/http/routes.hpp).

#include <cstdint>
#include <string>

namespace switchboard::app {
class config;
} // namespace switchboard::app

namespace switchboard::app::http {

struct webhook_options {
  std::string call_provider_secret; ///< Empty: call webhooks answer 503.
  /// Key of the Cal.com webhooks of companies without their own.
  std::string calcom_secret;
  std::string retell_api_key;     ///< Empty: Retell webhooks answer 503.
  std::int64_t tolerance_s = 300; ///< Largest |now - timestamp|.
};

/// Reads [webhooks] of the configuration.
webhook_options webhook_options_from(const config& cfg);

/// Sets the options every webhook route uses (thread-safe; forgets the
/// signatures seen so far).
void configure_webhooks(webhook_options opts);

} // namespace switchboard::app::http
