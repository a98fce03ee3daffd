// The provider calls: their options, the requests of every target (Cal.com,
// the CRM, messaging, Twilio, e-mail), their transport over libcurl and
// the classification of the answers. The endpoint actor that runs them is
// in actors/provider_endpoint.cpp.
#include "actors/providers.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <mutex>

#include <boost/json.hpp>
#include <curl/curl.h>

#include <actors/errors.hpp>
#include <messages/json.hpp>
#include <messages/json_string.hpp>
#include <messages/time.hpp>
#include <store/base64.hpp>
#include <store/hmac.hpp>

namespace switchboard {

namespace {

namespace json = boost::json;

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/')
    s.pop_back();
  return s;
}

/// The fields of a message_call body.
struct message_fields {
  std::string to, subject, body, channel;
};

expected<message_fields, std::string> parse_message(const outbound_call& c) {
  json::error_code ec;
  auto v = json::parse(c.body, ec);
  if (ec || !v.is_object())
    return make_unexpected(c.target + " message " + c.idempotency_key
                           + ": body is not a JSON object");
  auto& o = v.as_object();
  message_fields m{str_of(o, "to"), str_of(o, "subject"), str_of(o, "body"),
                   str_of(o, "channel")};
  if (m.to.empty())
    return make_unexpected(c.target + " message " + c.idempotency_key
                           + ": no recipient");
  if (m.channel.empty())
    m.channel = c.target;
  return m;
}

/// A header value: as is when printable ASCII, else an RFC 2047 word.
std::string header_text(const std::string& s) {
  bool plain = true;
  for (unsigned char c : s)
    if (c >= 0x80 || c < 0x20)
      plain = false;
  return plain ? s : "=?UTF-8?B?" + store::to_base64(s) + "?=";
}

/// A Message-ID local part from an idempotency key (RFC 5322 atext).
std::string message_id_part(const std::string& key) {
  std::string out;
  for (unsigned char c : key)
    out += std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_'
               ? static_cast<char>(c)
               : '.';
  return out;
}

std::string rfc5322_date(timestamp_ms now) {
  auto secs = static_cast<std::time_t>(now / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  static constexpr const char* days[]
      = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[]
      = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

/// CRLF line ends for an SMTP body.
std::string crlf(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
      out += '\r';
    out += text[i];
  }
  return out;
}

void curl_init_once() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
  });
}

std::size_t collect(char* ptr, std::size_t size, std::size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  auto total = size * n;
  if (s->size() < 64 * 1024)
    s->append(ptr, total);
  return total;
}

/// Maps a transport failure (no usable answer) to an outcome.
provider_result transport_failure(const std::string& target, CURLcode rc,
                                  const char* errbuf,
                                  std::uint32_t timeout_ms) {
  provider_result r;
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    r.outcome = provider_outcome::retry;
    r.timeout = true;
    r.message = target + " timed out after " + std::to_string(timeout_ms)
                + " ms: " + detail;
    break;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    r.outcome = provider_outcome::rejected;
    r.message = target + " is misconfigured: " + detail;
    break;
  default:
    r.outcome = provider_outcome::retry;
    r.message = target + " unreachable: " + detail;
    break;
  }
  return r;
}

/// Keeps the value of a `Retry-After` header line.
std::size_t retry_after_header(char* ptr, std::size_t size, std::size_t n,
                               void* out) {
  auto total = size * n;
  std::string_view line{ptr, total};
  constexpr std::string_view name = "retry-after:";
  if (line.size() > name.size()) {
    bool match = true;
    for (std::size_t i = 0; i < name.size() && match; ++i)
      match = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
    if (match) {
      auto v = line.substr(name.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
      while (!v.empty()
             && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
        v.remove_suffix(1);
      *static_cast<std::string*>(out) = std::string{v};
    }
  }
  return total;
}

/// A `Retry-After` value (delay seconds or an HTTP date) in ms from now,
/// at most a day; 0 when absent or unreadable.
std::int64_t retry_after_ms_of(const std::string& v) {
  if (v.empty())
    return 0;
  std::int64_t secs = -1;
  if (v.find_first_not_of("0123456789") == std::string::npos && v.size() < 10) {
    secs = std::stoll(v);
  } else if (auto at = curl_getdate(v.c_str(), nullptr); at > 0) {
    secs = static_cast<std::int64_t>(at) - std::time(nullptr);
  }
  if (secs <= 0)
    return 0;
  return std::min<std::int64_t>(secs, 86400) * 1000;
}

/// An easy handle (curl initialised once first) with its list of headers
/// or recipients, and the buffer of curl's error text.
struct curl_handle {
  CURL* h = nullptr;
  curl_slist* headers = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_handle() {
    curl_init_once();
    h = curl_easy_init();
  }
  curl_handle(const curl_handle&) = delete;
  curl_handle& operator=(const curl_handle&) = delete;

  ~curl_handle() {
    if (headers != nullptr)
      curl_slist_free_all(headers);
    if (h != nullptr)
      curl_easy_cleanup(h);
  }

  /// Sets what every call sets: `url`, no signals, `timeout_ms` for the
  /// whole call and for the connect, and the error buffer.
  void prepare(const std::string& url, std::uint32_t timeout_ms) {
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(timeout_ms));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  }
};

/// The result of a call whose easy handle could not be made.
provider_result no_curl_handle() {
  return {provider_outcome::retry, 0, false, "curl_easy_init failed", {}};
}

/// Runs one transfer on a fresh easy handle: prepared for `url` and
/// `timeout_ms`, then `setup(c)` sets the rest; answers
/// `finish(c, rc, status)` with curl's code and the response code (0 when
/// none came), or no_curl_handle() when no handle could be made.
template <class Setup, class Finish>
provider_result perform_curl(const std::string& url, std::uint32_t timeout_ms,
                             Setup&& setup, Finish&& finish) {
  curl_handle c;
  if (c.h == nullptr)
    return no_curl_handle();
  c.prepare(url, timeout_ms);
  setup(c);
  auto rc = curl_easy_perform(c.h);
  long status = 0;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
  return finish(c, rc, status);
}

} // namespace

std::set<std::string> provider_options::configured() const {
  std::set<std::string> out;
  if (!calcom.base_url.empty())
    out.emplace("calcom");
  if (!crm.webhook_url.empty())
    out.emplace("crm");
  if (!sms.url.empty() || twilio.takes("sms"))
    out.emplace("sms");
  if (!whatsapp.url.empty() || twilio.takes("whatsapp"))
    out.emplace("whatsapp");
  if (!smtp.host.empty())
    out.emplace("email");
  return out;
}

std::string provider_options::problem() const {
  if (!sms.url.empty() && twilio.takes("sms"))
    return "SMS would go to both providers.sms_url and Twilio: set one";
  if (!whatsapp.url.empty() && twilio.takes("whatsapp"))
    return "WhatsApp would go to both providers.whatsapp_url and Twilio: "
           "set one";
  if (!twilio.account_sid.empty() && twilio.auth_token.empty())
    return "providers.twilio_auth_token is needed with "
           "providers.twilio_account_sid (it signs Twilio's callbacks)";
  if (!twilio.api_key_sid.empty() && twilio.api_key_secret.empty())
    return "providers.twilio_api_key_secret is needed with "
           "providers.twilio_api_key_sid";
  if (!smtp.host.empty() && !smtp.user.empty() && smtp.tls == "none")
    return "providers.smtp_user needs providers.smtp_tls starttls or tls "
           "(AUTH would send the password in clear)";
  return {};
}

outbound_call message_call(const store::outbound_message& m) {
  json::object body{{"to", m.recipient},
                    {"subject", m.subject},
                    {"body", m.body},
                    {"channel", m.channel}};
  return {m.channel, "message.send", m.idempotency_key, json::serialize(body)};
}

namespace {

/// A path segment: unreserved characters as they are, the rest %XX.
std::string path_segment(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

http_request calcom_post(const provider_options& opts, const std::string& path,
                         const outbound_call& call, const json::object& body) {
  http_request req;
  req.url = trim_slash(opts.calcom.base_url) + path;
  req.headers = {{"Content-Type", "application/json"},
                 {"cal-api-version", opts.calcom.api_version},
                 {"Idempotency-Key", call.idempotency_key}};
  if (!opts.calcom.api_key.empty())
    req.headers.emplace_back("Authorization", "Bearer " + opts.calcom.api_key);
  req.body = json::serialize(body);
  req.timeout_ms = opts.calcom.timeout_ms;
  return req;
}

} // namespace

expected<http_request, std::string> calcom_request(const provider_options& opts,
                                                   const outbound_call& call) {
  json::error_code ec;
  auto v = json::parse(call.body, ec);
  if (ec || !v.is_object())
    return make_unexpected("calcom: body is not a JSON object");
  if (call.operation == "booking.reschedule"
      || call.operation == "booking.cancel") {
    const auto& o = v.as_object();
    auto uid = str_of(o, "uid");
    if (uid.empty())
      return make_unexpected("calcom: " + call.operation + " without a uid");
    json::object body;
    if (call.operation == "booking.reschedule") {
      auto start = str_of(o, "start");
      if (start.empty())
        return make_unexpected("calcom: booking.reschedule without a start");
      body["start"] = start;
      if (auto r = str_of(o, "reason"); !r.empty())
        body["reschedulingReason"] = r;
    } else {
      auto r = str_of(o, "reason");
      body["cancellationReason"] = r.empty() ? std::string{"cancelled"} : r;
    }
    return calcom_post(opts,
                       "/v2/bookings/" + path_segment(uid) + "/"
                           + (call.operation == "booking.reschedule"
                                  ? "reschedule"
                                  : "cancel"),
                       call, body);
  }
  if (call.operation != "booking.create")
    return make_unexpected("calcom: unsupported operation " + call.operation);
  auto a = from_json<appointment>(v);
  if (!a)
    return make_unexpected("calcom: body is not an appointment: "
                           + a.error().field + ": " + a.error().message);
  auto zone = str_of(v.as_object(), "time_zone");
  json::object attendee{{"name", "Customer " + a->customer_id},
                        {"timeZone", zone.empty() ? std::string{"UTC"} : zone}};
  if (auto* c = v.as_object().if_contains("customer"); c && c->is_object()) {
    auto& co = c->as_object();
    if (auto n = str_of(co, "name"); !n.empty())
      attendee["name"] = n;
    if (auto e = str_of(co, "email"); !e.empty())
      attendee["email"] = e;
    if (auto p = str_of(co, "phone"); !p.empty())
      attendee["phoneNumber"] = p;
  }
  json::object body{
      {"start", format_rfc3339(a->start_time)},
      {"lengthInMinutes", (a->end_time - a->start_time) / 60000},
      {"attendee", attendee},
      {"metadata",
       {{"appointment_id", a->id},
        {"company_id", a->company_id},
        {"branch_id", a->branch_id},
        {"staff_id", a->staff_id},
        {"service_id", a->service_id},
        {"customer_id", a->customer_id}}},
  };
  // The event type the company mapped to the service; else a numeric
  // service id is the event type, and any other its slug.
  auto type_id = str_of(v.as_object(), "event_type_id");
  const auto& sid = type_id.empty() ? a->service_id : type_id;
  if (!sid.empty() && sid.size() < 16
      && sid.find_first_not_of("0123456789") == std::string::npos)
    body["eventTypeId"] = std::stoll(sid);
  else
    body["eventTypeSlug"] = sid;
  return calcom_post(opts, "/v2/bookings", call, body);
}

std::string calcom_booking_uid(const std::string& answer) {
  json::error_code ec;
  auto v = json::parse(answer, ec);
  if (ec || !v.is_object())
    return {};
  const auto* d = v.as_object().if_contains("data");
  if (d == nullptr)
    return {};
  // One booking, or the first of several (a recurring booking).
  if (d->is_array() && !d->get_array().empty())
    d = &d->get_array().front();
  return d->is_object() ? str_of(d->get_object(), "uid") : std::string{};
}

http_request crm_request(const provider_options& opts,
                         const outbound_call& call, timestamp_ms now) {
  json::error_code ec;
  auto data = json::parse(call.body, ec);
  if (ec)
    data = json::string{call.body};
  json::object body{{"event", call.operation},
                    {"idempotency_key", call.idempotency_key},
                    {"sent_at", format_rfc3339(now)},
                    {"data", data}};
  http_request req;
  req.url = opts.crm.webhook_url;
  req.body = json::serialize(body);
  req.timeout_ms = opts.crm.timeout_ms;
  req.headers = {{"Content-Type", "application/json"},
                 {"Idempotency-Key", call.idempotency_key}};
  if (!opts.crm.token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + opts.crm.token);
  if (!opts.crm.secret.empty()) {
    auto ts = std::to_string(now / 1000);
    req.headers.emplace_back("X-Switchboard-Timestamp", ts);
    req.headers.emplace_back(
        "X-Switchboard-Signature",
        "sha256="
            + store::hmac_sha256_hex(opts.crm.secret, ts + "." + req.body));
  }
  return req;
}

expected<http_request, std::string>
messaging_request(const http_provider& p, const outbound_call& call) {
  auto m = parse_message(call);
  if (!m)
    return make_unexpected(m.error());
  json::object body{{"to", m->to}, {"body", m->body}, {"channel", m->channel}};
  http_request req;
  req.url = p.url;
  req.body = json::serialize(body);
  req.timeout_ms = p.timeout_ms;
  req.headers = {{"Content-Type", "application/json"},
                 {"Idempotency-Key", call.idempotency_key}};
  if (!p.token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + p.token);
  return req;
}

expected<http_request, std::string> twilio_request(const twilio_options& opts,
                                                   const outbound_call& call) {
  auto m = parse_message(call);
  if (!m)
    return make_unexpected(m.error());
  auto form = twilio_message_form(opts, call.target, m->to, m->body);
  if (!form.error.empty())
    return make_unexpected("twilio " + call.target + " message "
                           + call.idempotency_key + ": " + form.error);
  http_request req;
  req.url = trim_slash(opts.base_url) + "/2010-04-01/Accounts/"
            + path_segment(opts.account_sid) + "/Messages.json";
  req.body = form_encode(form.fields);
  req.timeout_ms = opts.timeout_ms;
  auto user = opts.api_key_sid.empty() ? opts.account_sid : opts.api_key_sid;
  const auto& pass
      = opts.api_key_sid.empty() ? opts.auth_token : opts.api_key_secret;
  req.headers
      = {{"Content-Type", "application/x-www-form-urlencoded"},
         {"Accept", "application/json"},
         {"Authorization", "Basic " + store::to_base64(user + ":" + pass)}};
  return req;
}

provider_result classify_twilio(long status, const std::string& body,
                                std::int64_t retry_after_ms) {
  provider_result r;
  r.status = status;
  if (status >= 200 && status < 300) {
    r.outcome = provider_outcome::delivered;
    return r;
  }
  r.message = "twilio answered " + std::to_string(status) + ": "
              + twilio_error_text(status, body);
  if (status == 429 || status >= 500) {
    r.outcome = provider_outcome::retry;
    r.retry_after_ms = retry_after_ms;
  } else {
    r.outcome = provider_outcome::rejected;
  }
  return r;
}

expected<smtp_request, std::string> email_request(const provider_options& opts,
                                                  const outbound_call& call,
                                                  timestamp_ms now) {
  auto m = parse_message(call);
  if (!m)
    return make_unexpected(m.error());
  const auto& s = opts.smtp;
  smtp_request req;
  req.url = (s.tls == "tls" ? "smtps://" : "smtp://") + s.host + ":"
            + std::to_string(s.port);
  auto from = s.from.empty() ? std::string{"switchboard@localhost"} : s.from;
  req.mail_from = "<" + from + ">";
  req.rcpt_to = {"<" + m->to + ">"};
  auto at = from.find('@');
  auto domain = at == std::string::npos ? std::string{"switchboard.local"}
                                        : from.substr(at + 1);
  std::string text;
  text += "Date: " + rfc5322_date(now) + "\r\n";
  text += "From: " + from + "\r\n";
  text += "To: " + m->to + "\r\n";
  text += "Subject: " + header_text(m->subject) + "\r\n";
  text += "Message-ID: <" + message_id_part(call.idempotency_key) + "@" + domain
          + ">\r\n";
  text += "MIME-Version: 1.0\r\n";
  text += "Content-Type: text/plain; charset=utf-8\r\n";
  text += "Content-Transfer-Encoding: 8bit\r\n";
  text += "\r\n";
  text += crlf(m->body) + "\r\n";
  req.message = std::move(text);
  return req;
}

provider_result classify_http(const std::string& target, long status,
                              const std::string& body) {
  provider_result r;
  r.status = status;
  if (status >= 200 && status < 300) {
    r.outcome = provider_outcome::delivered;
    return r;
  }
  // The provider's own words: its JSON message, else the body's start.
  std::string said;
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    auto& o = v.as_object();
    said = str_of(o, "message");
    if (said.empty())
      said = str_of(o, "error");
    if (said.empty())
      if (auto* e = o.if_contains("error"); e && e->is_object())
        said = str_of(e->as_object(), "message");
  }
  if (said.empty())
    said = body.substr(0, 300);
  r.message = target + " answered " + std::to_string(status)
              + (said.empty() ? std::string{} : ": " + said);
  bool transient = status >= 500 || status == 408 || status == 425
                   || status == 429 || status < 200;
  r.outcome = transient ? provider_outcome::retry : provider_outcome::rejected;
  return r;
}

provider_result perform_http(const std::string& target,
                             const http_request& req) {
  std::string answer;
  std::string retry_after;
  auto setup = [&](curl_handle& c) {
    for (const auto& [k, v] : req.headers)
      c.headers = curl_slist_append(c.headers, (k + ": " + v).c_str());
    // No "Expect: 100-continue" round trip.
    c.headers = curl_slist_append(c.headers, "Expect:");
    curl_easy_setopt(c.h, CURLOPT_POST, 1L);
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(req.body.size()));
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c.h, CURLOPT_USERAGENT, "switchboard");
    curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, &retry_after_header);
    curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &retry_after);
  };
  auto finish = [&](curl_handle& c, CURLcode rc, long status) {
    if (rc != CURLE_OK)
      return transport_failure(target, rc, c.errbuf, req.timeout_ms);
    auto wait = retry_after_ms_of(retry_after);
    auto r = target == "twilio" ? classify_twilio(status, answer, wait)
                                : classify_http(target, status, answer);
    if (target != "twilio" && r.outcome == provider_outcome::retry)
      r.retry_after_ms = wait;
    r.body = std::move(answer);
    return r;
  };
  return perform_curl(req.url, req.timeout_ms, setup, finish);
}

provider_result perform_smtp(const provider_options::smtp_options& opts,
                             const smtp_request& req) {
  struct reader {
    const std::string* text;
    std::size_t pos = 0;
  } rd{&req.message};
  auto read_fn = +[](char* out, std::size_t size, std::size_t n,
                     void* ud) -> std::size_t {
    auto* r = static_cast<reader*>(ud);
    auto left = r->text->size() - r->pos;
    auto take = std::min(left, size * n);
    std::memcpy(out, r->text->data() + r->pos, take);
    r->pos += take;
    return take;
  };
  std::string login_options;
  auto setup = [&](curl_handle& c) {
    for (const auto& to : req.rcpt_to)
      c.headers = curl_slist_append(c.headers, to.c_str());
    curl_easy_setopt(c.h, CURLOPT_MAIL_FROM, req.mail_from.c_str());
    curl_easy_setopt(c.h, CURLOPT_MAIL_RCPT, c.headers);
    curl_easy_setopt(c.h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c.h, CURLOPT_READFUNCTION, read_fn);
    curl_easy_setopt(c.h, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c.h, CURLOPT_INFILESIZE,
                     static_cast<long>(req.message.size()));
    // starttls: the session must become TLS before anything else is sent
    // (a server that offers no STARTTLS is refused), the certificate
    // verified against ca_file (or the system's CAs) and the host name.
    if (opts.tls == "starttls")
      curl_easy_setopt(c.h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!opts.ca_file.empty())
      curl_easy_setopt(c.h, CURLOPT_CAINFO, opts.ca_file.c_str());
    curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!opts.user.empty()) {
      curl_easy_setopt(c.h, CURLOPT_USERNAME, opts.user.c_str());
      curl_easy_setopt(c.h, CURLOPT_PASSWORD, opts.password.c_str());
      if (!opts.auth.empty()) {
        login_options = "AUTH=" + opts.auth;
        curl_easy_setopt(c.h, CURLOPT_LOGIN_OPTIONS, login_options.c_str());
      }
    }
  };
  auto finish = [&](curl_handle& c, CURLcode rc, long status) {
    if (rc == CURLE_OK)
      return provider_result{
          provider_outcome::delivered, status, false, {}, {}};
    auto r = transport_failure("smtp", rc, c.errbuf, opts.timeout_ms);
    r.status = status;
    if (rc == CURLE_USE_SSL_FAILED)
      r.message = "smtp refused: " + opts.host
                  + " offers no STARTTLS and providers.smtp_tls is starttls: "
                    "nothing was sent";
    else if (rc == CURLE_PEER_FAILED_VERIFICATION)
      r.message = "smtp refused: the certificate of " + opts.host
                  + " is not trusted (providers.smtp_ca_file): "
                  + (c.errbuf[0] != '\0' ? c.errbuf : curl_easy_strerror(rc));
    // A permanent SMTP reply (5xx) to MAIL, RCPT or DATA: a bad address or
    // a refused message.
    if (status >= 500 && status < 600 && rc != CURLE_OPERATION_TIMEDOUT) {
      r.outcome = provider_outcome::rejected;
      r.message = "smtp answered " + std::to_string(status) + ": "
                  + (c.errbuf[0] != '\0' ? c.errbuf : curl_easy_strerror(rc));
    }
    return r;
  };
  return perform_curl(req.url, opts.timeout_ms, setup, finish);
}

provider_result call_provider(const provider_options& opts,
                              const outbound_call& call, timestamp_ms now) {
  auto refuse = [](std::string msg) {
    return provider_result{
        provider_outcome::rejected, 0, false, std::move(msg), {}};
  };
  if (call.target == "calcom") {
    auto req = calcom_request(opts, call);
    if (!req)
      return refuse(req.error());
    return perform_http("calcom", *req);
  }
  if (call.target == "crm")
    return perform_http("crm", crm_request(opts, call, now));
  if ((call.target == "sms" || call.target == "whatsapp")
      && opts.twilio.takes(call.target)) {
    auto req = twilio_request(opts.twilio, call);
    if (!req)
      return refuse(req.error());
    return perform_http("twilio", *req);
  }
  if (call.target == "sms" || call.target == "whatsapp") {
    const auto& p = call.target == "sms" ? opts.sms : opts.whatsapp;
    auto req = messaging_request(p, call);
    if (!req)
      return refuse(req.error());
    return perform_http(call.target, *req);
  }
  if (call.target == "email") {
    auto req = email_request(opts, call, now);
    if (!req)
      return refuse(req.error());
    return perform_smtp(opts.smtp, *req);
  }
  return refuse("no provider for target " + call.target);
}

caf::error to_error(const provider_result& r) {
  switch (r.outcome) {
  case provider_outcome::delivered:
    return {};
  case provider_outcome::rejected:
    return make_runtime_error(runtime_errc::rejected, r.message);
  case provider_outcome::retry:
    break;
  }
  auto code = r.timeout ? runtime_errc::timeout : runtime_errc::unavailable;
  if (r.retry_after_ms > 0)
    return make_runtime_error(code, r.message, r.retry_after_ms);
  return make_runtime_error(code, r.message);
}

} // namespace switchboard
