#include "actors/twilio.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <openssl/evp.h>

#include <store/base64.hpp>
#include <store/hmac.hpp>

namespace switchboard {

namespace {

namespace json = boost::json;

std::string_view without_prefix(std::string_view s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) == prefix)
    s.remove_prefix(prefix.size());
  return s;
}

} // namespace

bool twilio_options::takes(std::string_view channel) const {
  if (account_sid.empty() || (auth_token.empty() && api_key_sid.empty()))
    return false;
  if (!messaging_service_sid.empty())
    return channel == "sms" || channel == "whatsapp";
  if (channel == "sms")
    return !sms_from.empty();
  if (channel == "whatsapp")
    return !whatsapp_from.empty();
  return false;
}

std::string form_encode(const form_fields& fields) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  auto put = [&](const std::string& s) {
    for (unsigned char c : s) {
      if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.'
          || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
  };
  for (const auto& [k, v] : fields) {
    if (!out.empty())
      out += '&';
    put(k);
    out += '=';
    put(v);
  }
  return out;
}

std::optional<std::string> e164(std::string_view phone) {
  std::string out;
  for (char c : phone) {
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
      continue;
    out += c;
  }
  if (out.size() < 3 || out.size() > 16 || out[0] != '+' || out[1] == '0')
    return std::nullopt;
  if (!std::all_of(out.begin() + 1, out.end(), [](char c) {
        return c >= '0' && c <= '9';
      }))
    return std::nullopt;
  return out;
}

twilio_form twilio_message_form(const twilio_options& opts,
                                std::string_view channel, std::string_view to,
                                std::string_view body) {
  twilio_form f;
  bool whatsapp = channel == "whatsapp";
  auto number = e164(without_prefix(to, "whatsapp:"));
  if (!number) {
    f.error = "To: \"" + std::string{to} + "\" is not an E.164 phone number";
    return f;
  }
  f.fields.emplace_back("To", whatsapp ? "whatsapp:" + *number : *number);
  if (!opts.messaging_service_sid.empty()) {
    f.fields.emplace_back("MessagingServiceSid", opts.messaging_service_sid);
  } else {
    const auto& from = whatsapp ? opts.whatsapp_from : opts.sms_from;
    auto sender = e164(without_prefix(from, "whatsapp:"));
    if (!sender) {
      f.error = std::string{"From: providers.twilio_"}
                + (whatsapp ? "whatsapp_from" : "sms_from") + " \"" + from
                + "\" is not an E.164 phone number";
      return f;
    }
    f.fields.emplace_back("From", whatsapp ? "whatsapp:" + *sender : *sender);
  }
  f.fields.emplace_back("Body", std::string{body});
  if (!opts.status_callback_url.empty())
    f.fields.emplace_back("StatusCallback", opts.status_callback_url);
  return f;
}

std::optional<twilio_message_info> twilio_message(std::string_view answer) {
  json::error_code ec;
  auto v = json::parse(answer, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  const auto& o = v.get_object();
  const auto* sid = o.if_contains("sid");
  if (sid == nullptr || !sid->is_string() || sid->get_string().empty()
      || o.if_contains("account_sid") == nullptr)
    return std::nullopt;
  twilio_message_info m;
  m.sid = std::string{sid->get_string()};
  if (const auto* st = o.if_contains("status"); st && st->is_string())
    m.status = std::string{st->get_string()};
  return m;
}

std::string twilio_error_text(long status, std::string_view body) {
  json::object out{{"status", status}};
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const auto& o = v.get_object();
    for (const char* k : {"code", "message", "more_info"})
      if (const auto* f = o.if_contains(k))
        out[k] = *f;
  }
  if (!out.contains("message"))
    out["message"] = std::string{body.substr(0, 300)};
  return json::serialize(out);
}

std::string twilio_signature(std::string_view auth_token, std::string_view url,
                             form_fields params) {
  std::stable_sort(params.begin(), params.end(),
                   [](const auto& a, const auto& b) {
                     return a.first < b.first;
                   });
  std::string data{url};
  for (const auto& [k, v] : params)
    data += k + v;
  return store::to_base64(store::hmac_bytes(EVP_sha1(), auth_token, data));
}

int twilio_status_rank(std::string_view s) {
  if (s == "accepted" || s == "scheduled")
    return 0;
  if (s == "queued")
    return 1;
  if (s == "sending")
    return 2;
  if (s == "sent")
    return 3;
  if (s == "delivered" || s == "undelivered" || s == "failed"
      || s == "canceled")
    return 4;
  if (s == "read")
    return 5;
  return -1;
}

const char* twilio_statuses() {
  return "accepted, scheduled, queued, sending, sent, delivered, "
         "undelivered, failed, canceled or read";
}

} // namespace switchboard
