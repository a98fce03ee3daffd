#pragma once

// A company's Retell AI settings (tenants setting "retell"): which keys of
// a call's `call_analysis.custom_analysis_data` fill which field of the
// appointment request. Set with `PUT /api/integrations/retell` or
// `switchboard tenant retell`.

#include <map>
#include <string>

#include <actors/settings_body.hpp>
#include <messages/expected.hpp>

namespace switchboard {

/// The tenants setting that holds a company's Retell settings.
inline constexpr const char* retell_setting = "retell";

struct retell_settings {
  /// Appointment request field (service_id, staff_id, branch_id,
  /// preferred_start, customer_name, notes) → the key of
  /// custom_analysis_data it is read from. Defaults: each field from the
  /// key of the same name.
  std::map<std::string, std::string> fields;

  /// The settings with every field read from the key of its own name.
  static retell_settings defaults();
};

/// The appointment request fields a mapping may name.
inline constexpr const char* retell_request_fields[]
    = {"service_id",      "staff_id",      "branch_id",
       "preferred_start", "customer_name", "notes"};

/// Reads `{"fields": {field: key}}`: named fields replace the defaults.
/// Errors name each bad field.
expected<retell_settings, field_problems>
parse_retell_settings(const std::string& text);

/// The stored and shown form: `{"fields": {...}}`, every field listed.
std::string retell_json(const retell_settings& s);

} // namespace switchboard
