#pragma once

// A company's Cal.com settings (stored with the company, setting "calcom"):
// the webhook secret and how Cal.com's ids map to ours. Set with
// `PUT /api/integrations/calcom` or `switchboard tenant calcom`.

#include <map>
#include <string>

#include <actors/settings_body.hpp>
#include <messages/expected.hpp>

namespace switchboard {

/// The tenants setting that holds a company's Cal.com settings.
inline constexpr const char* calcom_setting = "calcom";

struct calcom_settings {
  /// Signs the company's webhooks (X-Cal-Signature-256); empty: the
  /// daemon's `webhooks.calcom_secret`.
  std::string secret;
  /// Cal.com event type id (decimal) → our service id.
  std::map<std::string, std::string> event_types;
  /// Organizer or host email (lower case) → our staff id.
  std::map<std::string, std::string> hosts;

  /// The event type id of `service_id`, "" when none maps to it.
  std::string event_type_of(const std::string& service_id) const;
  /// The staff id of host `email` (any case), "" when unmapped.
  std::string staff_of(const std::string& email) const;
  /// The service id of event type `id`, "" when unmapped.
  std::string service_of(const std::string& id) const;
};

/// Field → problem, as the HTTP layer reports them.
using calcom_problems = field_problems;

/// Reads settings from JSON text `{"secret", "event_types": {id: service},
/// "hosts": {email: staff}}` (every member optional). `keep` supplies the
/// secret when `text` has none. Errors name each bad field.
expected<calcom_settings, calcom_problems>
parse_calcom_settings(const std::string& text,
                      const calcom_settings& keep = {});

/// The stored form (secret included).
std::string to_stored_json(const calcom_settings& s);

/// The form shown to API clients and the CLI: the secret as "***" (or ""
/// when none is set).
std::string to_public_json(const calcom_settings& s);

} // namespace switchboard
