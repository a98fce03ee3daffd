#pragma once

// Outbound providers over libcurl: the Cal.com v2 bookings API, a CRM
// webhook, SMS and WhatsApp through Twilio or an HTTP JSON provider, and
// email over SMTP. Each is reached through the endpoint interface (sync_atom,
// outbound_call) that the listeners already use; with none configured,
// calls and messages go to the LMDB outbox (the embedded default).

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <actors/clock.hpp>
#include <actors/listeners.hpp>
#include <actors/twilio.hpp>
#include <messages/commands.hpp>
#include <store/outbox.hpp>

namespace switchboard {

/// An HTTP JSON provider: POST {url} with a bearer token.
struct http_provider {
  std::string url;   ///< Empty: not configured.
  std::string token; ///< Sent as `Authorization: Bearer`; empty: none.
  std::uint32_t timeout_ms = 10000;
};

/// Where the providers are and how to reach them (config.ini
/// `[providers]`). An empty URL or host means "not configured": that
/// target then goes to the outbox.
struct provider_options {
  struct calcom_options {
    std::string base_url; ///< e.g. https://api.cal.com
    std::string api_key;
    std::string api_version = "2024-08-13"; ///< `cal-api-version` header.
    std::uint32_t timeout_ms = 10000;
  } calcom;
  struct crm_options {
    std::string webhook_url;
    /// Signs each body with HMAC-SHA256 (`X-Switchboard-Signature`).
    std::string secret;
    std::string token; ///< `Authorization: Bearer`; empty: none.
    std::uint32_t timeout_ms = 10000;
  } crm;
  /// The generic JSON provider of SMS and WhatsApp; a channel Twilio
  /// takes (twilio_options::takes) goes to Twilio instead.
  http_provider sms;
  http_provider whatsapp;
  twilio_options twilio;
  struct smtp_options {
    std::string host; ///< Empty: email goes to the outbox.
    std::uint16_t port = 25;
    std::string from;
    std::string user; ///< Empty: no AUTH.
    std::string password;
    /// "none", "starttls" (required) or "tls" (smtps://).
    std::string tls = "none";
    /// CA certificates (PEM) that verify the server; empty: the system's.
    std::string ca_file;
    /// "" (the strongest the server offers), "PLAIN" or "LOGIN".
    std::string auth;
    std::uint32_t timeout_ms = 10000;
  } smtp;
  /// Blocking workers that run provider calls (each a detached actor).
  std::uint32_t workers = 4;

  /// The targets that have a provider: "calcom", "crm", "sms",
  /// "whatsapp", "email".
  std::set<std::string> configured() const;

  /// What makes these options unusable (a channel given to both Twilio
  /// and the JSON provider, SMTP AUTH without TLS), or "".
  std::string problem() const;
};

// -- requests (pure) ----------------------------------------------------------

/// One HTTP request of a provider call.
struct http_request {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::uint32_t timeout_ms = 10000;
};

/// One email: the envelope (MAIL FROM, RCPT TO) and the RFC 5322 text.
struct smtp_request {
  std::string url; ///< smtp://host:port or smtps://host:port
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::string message; ///< Headers, blank line, body; CRLF line ends.
};

/// The endpoint call of a channel message: target = channel, operation
/// "message.send", body = {"to", "subject", "body", "channel"}.
outbound_call message_call(const store::outbound_message& m);

/// A Cal.com API v2 request (header `cal-api-version`):
/// - booking.create: POST {base}/v2/bookings with the appointment in
///   `call.body` (optionally with a "customer" object, the company's
///   "time_zone" and the "event_type_id" mapped to its service);
/// - booking.reschedule: POST {base}/v2/bookings/{uid}/reschedule
///   `{"start", "reschedulingReason"}` from `{"uid", "start", "reason"}`;
/// - booking.cancel: POST {base}/v2/bookings/{uid}/cancel
///   `{"cancellationReason"}` from `{"uid", "reason"}`.
/// Errors: a body that does not fit the operation; another operation.
expected<http_request, std::string> calcom_request(const provider_options& opts,
                                                   const outbound_call& call);

/// The booking uid of a Cal.com v2 answer (`data.uid`, or the first of
/// `data[]`); "" when there is none.
std::string calcom_booking_uid(const std::string& answer);

/// POST {webhook_url} {"event", "idempotency_key", "sent_at", "data"},
/// with a bearer token and/or an HMAC-SHA256 signature over
/// "<timestamp>.<body>" (hex, header `X-Switchboard-Signature: sha256=...`,
/// the timestamp in `X-Switchboard-Timestamp`, Unix seconds).
http_request crm_request(const provider_options& opts,
                         const outbound_call& call, timestamp_ms now);

/// POST {url} {"to", "body", "channel"} for an SMS or WhatsApp message.
/// Errors: the body is not a message_call body.
expected<http_request, std::string>
messaging_request(const http_provider& p, const outbound_call& call);

/// POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded
/// `To`, `From` (or `MessagingServiceSid`), `Body` and `StatusCallback`,
/// with HTTP basic auth; WhatsApp numbers as `whatsapp:+E164`. Errors: the
/// body is not a message_call body, or a number is not E.164.
expected<http_request, std::string> twilio_request(const twilio_options& opts,
                                                   const outbound_call& call);

/// An email for a message_call body, with a Message-ID derived from the
/// idempotency key. Errors: the body is not a message_call body.
expected<smtp_request, std::string> email_request(const provider_options& opts,
                                                  const outbound_call& call,
                                                  timestamp_ms now);

// -- outcomes -----------------------------------------------------------------

/// What a provider call came to.
enum class provider_outcome {
  delivered, ///< 2xx, or the SMTP server took the message.
  retry,     ///< 5xx, 408, 429, a timeout, a refused or broken connection.
  rejected,  ///< Any other 4xx (or SMTP 5xx): retrying will not help.
};

struct provider_result {
  provider_outcome outcome = provider_outcome::retry;
  long status = 0;      ///< HTTP or SMTP status; 0 when none came.
  bool timeout = false; ///< The call timed out.
  std::string message;  ///< For logs and failed jobs.
  std::string body;     ///< The provider's answer (HTTP body).
  /// The wait the provider asked for (`Retry-After`), in ms; 0: none.
  std::int64_t retry_after_ms = 0;
};

/// Classifies an HTTP answer; `message` carries the provider's own text
/// (its JSON "message" or "error", else the start of the body).
provider_result classify_http(const std::string& target, long status,
                              const std::string& body);

/// Classifies Twilio's answer: 2xx delivered; 429 (with `Retry-After`)
/// and 5xx retried; any other status rejected. The message is Twilio's
/// error JSON (`code`, `message`, `more_info`; see twilio_error_text).
provider_result classify_twilio(long status, const std::string& body,
                                std::int64_t retry_after_ms);

/// Runs an HTTP request (blocking, libcurl); the answer is classified by
/// classify_twilio for `target` "twilio", else by classify_http, with the
/// answer's `Retry-After` kept for a retry.
provider_result perform_http(const std::string& target,
                             const http_request& req);

/// Sends an email (blocking, libcurl SMTP).
provider_result perform_smtp(const provider_options::smtp_options& opts,
                             const smtp_request& req);

/// Builds and runs the call to its provider (blocking).
provider_result call_provider(const provider_options& opts,
                              const outbound_call& call, timestamp_ms now);

/// The error an endpoint answers for a result that is not `delivered`:
/// `runtime_errc::rejected` (the queue fails the job at once),
/// `runtime_errc::timeout` or `runtime_errc::unavailable` (retried, not
/// before the provider's `Retry-After`).
caf::error to_error(const provider_result& r);

// -- the endpoint actor -------------------------------------------------------

/// Spawns the provider endpoint: calls for a configured target run on
/// `opts.workers` blocking workers (detached actors when `detached`, so
/// that curl never blocks the scheduler; scheduled actors under the test
/// coordinator, where the call then runs inline); calls for other targets
/// are delegated to `fallback` (the outbox endpoint).
endpoint_actor spawn_provider_endpoint(caf::actor_system& sys,
                                       provider_options opts,
                                       endpoint_actor fallback, clock_fn clock,
                                       bool detached = true);

} // namespace switchboard
