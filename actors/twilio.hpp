#pragma once

// Twilio's Programmable Messaging, for SMS and WhatsApp: its settings and
// the pure parts of its protocol (form bodies, E.164 numbers, its answers
// and errors, the X-Twilio-Signature of its status callbacks, the order
// of its delivery statuses). The HTTP call itself is in providers.cpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// A form field list, in the order given.
using form_fields = std::vector<std::pair<std::string, std::string>>;

/// Where Twilio is and who we are there (config.ini `[providers]
/// twilio_*`). Messages go to POST {base_url}/2010-04-01/Accounts/
/// {account_sid}/Messages.json with HTTP basic auth.
struct twilio_options {
  std::string base_url = "https://api.twilio.com";
  std::string account_sid; ///< AC...; empty: Twilio is not used.
  /// Basic auth password when no API key is set; always the key of the
  /// status callbacks' X-Twilio-Signature.
  std::string auth_token;
  std::string api_key_sid;    ///< SK...: basic auth user instead of the SID.
  std::string api_key_secret; ///< The API key's secret.
  std::string sms_from;       ///< +E164 sender of SMS.
  std::string whatsapp_from;  ///< +E164 WhatsApp sender (with or without
                              ///< the `whatsapp:` prefix).
  /// MG...: sends through a Messaging Service instead of `From`.
  std::string messaging_service_sid;
  /// The public URL of /webhooks/twilio/status, sent as StatusCallback;
  /// empty: none is asked for.
  std::string status_callback_url;
  std::uint32_t timeout_ms = 10000;

  /// True when Twilio sends `channel` ("sms", "whatsapp"): an account,
  /// credentials, and a sender for the channel or a Messaging Service.
  bool takes(std::string_view channel) const;
};

/// `application/x-www-form-urlencoded`: unreserved characters as they
/// are, every other byte %XX.
std::string form_encode(const form_fields& fields);

/// A phone number in E.164 (`+` and 2 to 15 digits, the first not 0),
/// after dropping spaces, dashes, dots and parentheses; nullopt when it is
/// not one.
std::optional<std::string> e164(std::string_view phone);

/// The body of a Messages.json create. Errors name the field: the
/// recipient or the configured sender is not an E.164 number.
struct twilio_form {
  form_fields fields;
  std::string error; ///< Empty when `fields` is good.
};
twilio_form twilio_message_form(const twilio_options& opts,
                                std::string_view channel, std::string_view to,
                                std::string_view body);

/// The message a Twilio create answered: its SID (SM... or MM...) and
/// status; nullopt when the answer is not a Twilio message.
struct twilio_message_info {
  std::string sid;
  std::string status;
};
std::optional<twilio_message_info> twilio_message(std::string_view answer);

/// Twilio's error of a failed call as one JSON object: `{"status",
/// "code", "message", "more_info"}` (the fields Twilio's error body has;
/// the start of a body that is not Twilio's as `message`).
std::string twilio_error_text(long status, std::string_view body);

/// X-Twilio-Signature: base64 of HMAC-SHA1 under the auth token over the
/// URL Twilio requested followed by each POST parameter's name and value,
/// sorted by name.
std::string twilio_signature(std::string_view auth_token, std::string_view url,
                             form_fields params);

/// The order of a message's delivery statuses: accepted and scheduled 0,
/// queued 1, sending 2, sent 3, delivered, undelivered, failed and
/// canceled 4, read 5; -1 for a status an outbound message never has. A
/// callback changes the stored status only to one of a higher rank, so a
/// late or repeated callback changes nothing.
int twilio_status_rank(std::string_view status);

/// The statuses `twilio_status_rank` knows, for messages naming them.
const char* twilio_statuses();

} // namespace switchboard
