// Twilio for SMS and WhatsApp against the real daemon. A server started by
// the test plays Twilio's Messages API (answers in the shapes of
// tests/app/fixtures/twilio/); the daemon sends its confirmations and
// reminders there, keeps each message's SID in the outbox before the job
// is acknowledged, retries only 429 (after Retry-After) and 5xx, and
// takes Twilio's status callbacks signed as Twilio signs them: accepted,
// redelivered, late, forged, unknown SID (422 naming what is missing).

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include "tests/app/daemon_names.hpp"
#include "tests/app/fixture_files.hpp"
#include "tests/support/hmac.hpp"
#include "tests/support/http_server.hpp"

using switchboard::test::by_request;
using switchboard::test::hmac_bytes;
using switchboard::test::http_answer;
using switchboard::test::http_record;
using switchboard::test::http_server;
using switchboard::test::str;

namespace {

constexpr const char* account = "AC00000000000000000000000000000001";
constexpr const char* auth_token = "twilio-test-auth-token";
constexpr const char* callback_url
    = "https://sb.example/webhooks/twilio/status";
constexpr const char* sms_from = "+15005550006";
constexpr const char* whatsapp_from = "+14155238886";
/// The SID of the status fixtures.
constexpr const char* fixture_sid = "SM11111111111111111111111111111111";

std::string fixture(const std::string& name) {
  return switchboard::test::fixture_text("twilio/" + name);
}

std::string base64(const unsigned char* p, std::size_t n) {
  static constexpr char tbl[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < n; i += 3) {
    unsigned v = p[i] << 16;
    if (i + 1 < n)
      v |= p[i + 1] << 8;
    if (i + 2 < n)
      v |= p[i + 2];
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    out += i + 2 < n ? tbl[v & 63] : '=';
  }
  return out;
}

std::string base64(const std::string& s) {
  return base64(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

/// A form body, decoded (`+` is a space).
std::map<std::string, std::string> parse_form(const std::string& body) {
  auto decode = [](const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    auto amp = body.find('&', pos);
    if (amp == std::string::npos)
      amp = body.size();
    auto part = body.substr(pos, amp - pos);
    auto eq = part.find('=');
    if (!part.empty())
      out[decode(part.substr(0, eq))]
          = eq == std::string::npos ? "" : decode(part.substr(eq + 1));
    pos = amp + 1;
  }
  return out;
}

std::string form_body(const std::map<std::string, std::string>& f) {
  std::string out;
  for (const auto& [k, v] : f) {
    if (!out.empty())
      out += '&';
    out += k + '=';
    for (unsigned char c : v) {
      if (std::isalnum(c) != 0) {
        out += static_cast<char>(c);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
  }
  return out;
}

/// X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1 under the
/// auth token of the URL followed by each parameter's name and value,
/// sorted by name (a std::map is).
std::string twilio_sign(const std::string& key, const std::string& url,
                        const std::map<std::string, std::string>& params) {
  std::string data = url;
  for (const auto& [k, v] : params)
    data += k + v;
  return base64(hmac_bytes(EVP_sha1(), key, data));
}

/// Twilio's 201 answer to a create: the fixture with this message's SID,
/// numbers and body.
http_answer created(const http_record& r, const std::string& sid) {
  auto v = json::parse(fixture("message_created.json"));
  auto& o = v.as_object();
  auto form = parse_form(r.body);
  o["sid"] = sid;
  o["to"] = form["To"];
  o["from"] = form["From"];
  o["body"] = form["Body"];
  o["uri"] = std::string{"/2010-04-01/Accounts/"} + account + "/Messages/" + sid
             + ".json";
  return {201, json::serialize(v)};
}

/// A SID for the n-th message.
std::string sid_of(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "SM%032d", n);
  return buf;
}

/// RFC 3339 (UTC) of now + `ahead`.
std::string utc_in(std::chrono::seconds ahead) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()
                                                + ahead);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct twilio_fixture : daemon_fixture {
  explicit twilio_fixture(const http_server& twilio,
                          std::vector<std::string> more = {})
      : daemon_fixture(sets(twilio, std::move(more))) {
    http_client c{port};
    seed_service(c, acme, "Anna");
  }

  static std::vector<std::string> sets(const http_server& twilio,
                                       std::vector<std::string> more) {
    std::vector<std::string> s{
        "providers.twilio_base_url=" + twilio.url(),
        std::string{"providers.twilio_account_sid="} + account,
        std::string{"providers.twilio_auth_token="} + auth_token,
        std::string{"providers.twilio_sms_from="} + sms_from,
        std::string{"providers.twilio_whatsapp_from=whatsapp:"} + whatsapp_from,
        std::string{"providers.twilio_status_callback="} + callback_url,
        // Confirmations go out at once.
        "listener.send_appointment_notification.delay_ms=0"};
    s.insert(s.end(), more.begin(), more.end());
    return s;
  }

  void customer(const std::string& id, const std::string& phone,
                bool whatsapp) {
    http_client c{port};
    succeeded(c.request("POST", "/api/customers",
                        R"({"id":")" + id + R"(","name":"Ada )" + id
                            + R"(","phone":")" + phone
                            + R"(","prefers_sms":true,"prefers_whatsapp":)"
                            + (whatsapp ? "true" : "false") + "}",
                        acme));
  }

  void book(const std::string& id, const std::string& customer_id,
            const std::string& start) {
    http_client c{port};
    succeeded(c.request("POST", "/api/appointments",
                        R"({"id":")" + id + R"(","customer_id":")" + customer_id
                            + R"(","service_id":"s1","staff_id":"st1",
                       "start_time":")"
                            + start + R"("})",
                        acme));
  }

  /// The outbox messages `token` sees that Twilio took.
  std::vector<json::object> twilio_messages(const std::string& token) {
    http_client c{port};
    auto r = c.request("GET", "/api/outbox?limit=1000", "", token);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    std::vector<json::object> out;
    auto body = r.json(); // alive while its messages are read
    for (const auto& m : body.at("messages").as_array())
      if (str(m, "provider") == "twilio")
        out.push_back(m.as_object());
    return out;
  }

  /// Waits until Twilio took `n` of acme's messages.
  void await_twilio_messages(std::size_t n) {
    BOOST_REQUIRE(eventually(
        [&] {
          return twilio_messages(acme).size() == n;
        },
        2min));
  }

  /// Customer "ada" at `phone`, on SMS and WhatsApp, books a1; both
  /// confirmations reach Twilio.
  void ada_books(const std::string& phone) {
    customer("ada", phone, true);
    book("a1", "ada", "2030-01-07T09:00:00Z");
    await_twilio_messages(2);
  }

  json::object message_with_sid(const std::string& sid) {
    for (auto& m : twilio_messages(admin))
      if (str(m, "provider_id") == sid)
        return m;
    BOOST_FAIL("no outbox message with SID " << sid);
    return {};
  }

  /// Posts a status callback as Twilio does, signed with `signature`
  /// (none when empty).
  http_reply callback(const std::map<std::string, std::string>& params,
                      const std::string& signature) {
    http_client c{port};
    std::vector<std::pair<std::string, std::string>> headers{
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"User-Agent", "TwilioProxy/1.1"}};
    if (!signature.empty())
      headers.emplace_back("X-Twilio-Signature", signature);
    return c.request("POST", "/webhooks/twilio/status", form_body(params), "",
                     headers);
  }

  /// Posts `params` signed as Twilio signs them.
  http_reply signed_callback(const std::map<std::string, std::string>& params) {
    return callback(params, twilio_sign(auth_token, callback_url, params));
  }

  json::array failed_jobs() {
    http_client c{port};
    auto r = c.request("GET", "/api/jobs/failed", "", acme);
    BOOST_REQUIRE(r.status == 200);
    return r.json().at("jobs").as_array();
  }
};

/// The requests Twilio got for `to` whose body contains `text`.
std::vector<http_record> requests_to(const http_server& twilio,
                                     const std::string& to,
                                     const std::string& text = {}) {
  std::vector<http_record> out;
  for (auto& r : twilio.requests()) {
    auto f = parse_form(r.body);
    if (f["To"] == to && f["Body"].find(text) != std::string::npos)
      out.push_back(r);
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(twilio_suite)

BOOST_AUTO_TEST_CASE(signature_matches_twilios_documented_example) {
  // Twilio's worked example of request validation: the test's own signer
  // agrees with it, so the daemon is checked against Twilio's scheme.
  BOOST_TEST(twilio_sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                         {{"CallSid", "CA1234567890ABCDE"},
                          {"Caller", "+14158675309"},
                          {"Digits", "1234"},
                          {"From", "+14158675309"},
                          {"To", "+18005551212"}})
             == "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

BOOST_AUTO_TEST_CASE(sms_and_whatsapp_go_to_twilio_with_their_sid_kept) {
  std::mutex mtx;
  std::map<std::string, std::string> sid_by_to;
  http_server twilio{by_request, [&](const http_record& r, int n) {
                       auto sid = sid_of(n);
                       std::lock_guard<std::mutex> guard{mtx};
                       sid_by_to[parse_form(r.body)["To"]] = sid;
                       return created(r, sid);
                     }};
  twilio_fixture f{twilio};
  f.ada_books("+49 30 123456");
  auto reqs = twilio.requests();
  BOOST_REQUIRE(reqs.size() == 2u);
  for (const auto& r : reqs) {
    BOOST_TEST(r.method == "POST");
    BOOST_TEST(r.target
               == std::string{"/2010-04-01/Accounts/"} + account
                      + "/Messages.json");
    BOOST_TEST(r.headers.at("authorization")
               == "Basic " + base64(std::string{account} + ":" + auth_token));
    BOOST_TEST(r.headers.at("content-type")
               == "application/x-www-form-urlencoded");
    auto form = parse_form(r.body);
    BOOST_TEST(form["StatusCallback"] == callback_url);
    BOOST_TEST(form["Body"].find("Ada ada") != std::string::npos);
    BOOST_TEST(form.count("MessagingServiceSid") == 0u);
  }
  // SMS to the E.164 number; WhatsApp as whatsapp:+E164 both ways.
  BOOST_REQUIRE(requests_to(twilio, "+4930123456").size() == 1u);
  BOOST_REQUIRE(requests_to(twilio, "whatsapp:+4930123456").size() == 1u);
  BOOST_TEST(parse_form(requests_to(twilio, "+4930123456")[0].body)["From"]
             == sms_from);
  BOOST_TEST(
      parse_form(requests_to(twilio, "whatsapp:+4930123456")[0].body)["From"]
      == std::string{"whatsapp:"} + whatsapp_from);

  // Each SID is in the outbox with Twilio's status, for acme only.
  for (const auto& [to, sid] : sid_by_to) {
    auto m = f.message_with_sid(sid);
    BOOST_TEST(str(m, "company_id") == "acme");
    BOOST_TEST(str(m, "status") == "queued");
    BOOST_TEST(str(m, "channel")
               == (to.rfind("whatsapp:", 0) == 0 ? "whatsapp" : "sms"));
    BOOST_TEST(!m.at("status_at").is_null());
  }
  BOOST_TEST(f.twilio_messages(f.globex).empty());
  BOOST_TEST(f.failed_jobs().empty());
}

BOOST_AUTO_TEST_CASE(status_callbacks_are_signed_and_move_forward) {
  std::atomic<int> sent{0};
  http_server twilio{by_request, [&](const http_record& r, int n) {
                       // The SMS gets the SID of the status fixtures.
                       ++sent;
                       auto to = parse_form(r.body)["To"];
                       return created(r, to == "+4930123456" ? fixture_sid
                                                             : sid_of(n));
                     }};
  twilio_fixture f{twilio};
  f.ada_books("+4930123456");
  std::string whatsapp_sid;
  for (auto& m : f.twilio_messages(f.acme))
    if (str(m, "channel") == "whatsapp")
      whatsapp_sid = str(m, "provider_id");
  BOOST_REQUIRE(!whatsapp_sid.empty());

  auto sent_cb = parse_form(fixture("status_sent.txt"));
  auto delivered = parse_form(fixture("status_delivered.txt"));

  // Forged: no signature, another key, another URL, a changed parameter.
  auto before = f.message_with_sid(fixture_sid);
  for (const auto& sig :
       {std::string{}, twilio_sign("other-token", callback_url, delivered),
        twilio_sign(auth_token, "https://evil.example/webhooks/twilio/status",
                    delivered),
        twilio_sign(auth_token, callback_url, sent_cb)}) {
    auto r = f.callback(delivered, sig);
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 403);
  }
  BOOST_TEST(str(f.message_with_sid(fixture_sid), "status") == "queued");
  BOOST_TEST(json::serialize(f.message_with_sid(fixture_sid))
             == json::serialize(before));

  // Accepted: sent, then delivered.
  auto r = f.signed_callback(sent_cb);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("applied").as_bool());
  BOOST_TEST(str(r.json(), "message_status") == "sent");
  BOOST_TEST(str(f.message_with_sid(fixture_sid), "status") == "sent");
  // Redelivered: taken, nothing changes.
  r = f.signed_callback(sent_cb);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(!r.json().at("applied").as_bool());
  r = f.signed_callback(delivered);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("applied").as_bool());
  BOOST_TEST(str(f.message_with_sid(fixture_sid), "status") == "delivered");
  // Late: a "sent" that arrives after "delivered" changes nothing.
  r = f.signed_callback(sent_cb);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(!r.json().at("applied").as_bool());
  BOOST_TEST(str(r.json(), "message_status") == "delivered");
  BOOST_TEST(str(f.message_with_sid(fixture_sid), "status") == "delivered");

  // Undelivered WhatsApp, with Twilio's error code.
  auto undelivered = parse_form(fixture("status_undelivered.txt"));
  undelivered["MessageSid"] = whatsapp_sid;
  undelivered["SmsSid"] = whatsapp_sid;
  r = f.signed_callback(undelivered);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  auto w = f.message_with_sid(whatsapp_sid);
  BOOST_TEST(str(w, "status") == "undelivered");
  BOOST_TEST(str(w, "status_error") == "30003");

  // Unknown mapping: well signed, but no message has the SID; missing or
  // unknown fields are named.
  // Each: the field changed, its new value ("" for removed).
  const std::pair<std::string, std::string> refused[]
      = {{"MessageSid", "SM99999999999999999999999999999999"},
         {"MessageStatus", ""},
         {"MessageStatus", "teleported"},
         {"AccountSid", "AC99999999999999999999999999999999"}};
  for (const auto& [field, value] : refused) {
    auto params = delivered;
    if (value.empty())
      params.erase(field);
    else
      params[field] = value;
    r = f.signed_callback(params);
    BOOST_TEST_CONTEXT(field << " = \"" << value << '"') {
      BOOST_TEST(r.status == 422);
      BOOST_TEST(r.body.find(field) != std::string::npos);
    }
  }

  // Another company never sees acme's messages or their statuses.
  BOOST_TEST(f.twilio_messages(f.globex).empty());
  http_client c{f.port};
  auto g = c.request("GET", "/api/outbox?limit=1000", "", f.globex);
  BOOST_REQUIRE(g.status == 200);
  BOOST_TEST(g.body.find(fixture_sid) == std::string::npos);
  BOOST_TEST(g.body.find("delivered") == std::string::npos);
  // Statuses are stored: they survive a restart.
  f.stop();
  f.start();
  BOOST_TEST(str(f.message_with_sid(fixture_sid), "status") == "delivered");
  BOOST_TEST(sent.load() == 2);
}

BOOST_AUTO_TEST_CASE(twilio_errors_fail_and_busy_answers_retry) {
  std::mutex mtx;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>>
      seen;
  http_server twilio{
      by_request, [&](const http_record& r, int n) {
        auto to = parse_form(r.body)["To"];
        std::size_t nth = 0;
        {
          std::lock_guard<std::mutex> guard{mtx};
          seen[to].push_back(std::chrono::steady_clock::now());
          nth = seen[to].size();
        }
        if (to == "+4930000001") // refused: Twilio's 400 with its error
          return http_answer{400, fixture("error_21211.json")};
        if (to == "+4930000002" && nth == 1) // too many requests
          return http_answer{429,
                             R"({"code":20429,"message":"Too Many Requests",
                                 "more_info":"https://www.twilio.com/docs/errors/20429",
                                 "status":429})",
                             false,
                             {{"Retry-After", "8"}}};
        if (to == "+4930000003" && nth == 1) // Twilio is down
          return http_answer{503,
                             R"({"code":20503,"message":"Service Unavailable",
              "more_info":"https://www.twilio.com/docs/errors/20503",
              "status":503})"};
        return created(r, sid_of(n));
      }};
  twilio_fixture f{twilio};
  f.customer("bo", "+4930000001", false);
  f.customer("cy", "+4930000002", false);
  f.customer("di", "+4930000003", false);
  f.book("b1", "bo", "2030-01-07T09:00:00Z");
  f.book("c1", "cy", "2030-01-07T10:00:00Z");
  f.book("d1", "di", "2030-01-07T11:00:00Z");

  // 400: failed at once, with Twilio's code, message and more_info.
  BOOST_REQUIRE(eventually(
      [&] {
        return !f.failed_jobs().empty();
      },
      2min));
  auto failed = f.failed_jobs();
  BOOST_REQUIRE(failed.size() == 1u);
  const auto& job = failed[0];
  BOOST_TEST(job.at("attempts").as_int64() == 1);
  auto error = str(job, "last_error");
  BOOST_TEST_INFO(error);
  BOOST_TEST(error.find("\"code\":21211") != std::string::npos);
  BOOST_TEST(error.find("Invalid 'To' Phone Number") != std::string::npos);
  BOOST_TEST(error.find("https://www.twilio.com/docs/errors/21211")
             != std::string::npos);

  // 429 and 503 are tried again; the 429 not before its Retry-After (8 s,
  // longer than the first backoff of 5 s).
  f.await_twilio_messages(2);
  std::lock_guard<std::mutex> guard{mtx};
  BOOST_REQUIRE(seen["+4930000002"].size() == 2u);
  auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(
      seen["+4930000002"][1] - seen["+4930000002"][0]);
  BOOST_TEST(gap.count() >= 8000);
  BOOST_TEST(seen["+4930000003"].size() == 2u);
  BOOST_TEST(seen["+4930000001"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_retried_job_never_sends_again_what_twilio_took) {
  // A reminder goes out on SMS and WhatsApp in one job. Twilio takes the
  // SMS and fails the WhatsApp message once: the retry sends only the
  // WhatsApp message, since the SMS's SID was stored with its mark.
  std::mutex mtx;
  int whatsapp_reminders = 0;
  http_server twilio{by_request, [&](const http_record& r, int n) {
                       auto form = parse_form(r.body);
                       if (form["To"] == "whatsapp:+4930123456"
                           && form["Body"].find("reminder")
                                  != std::string::npos) {
                         std::lock_guard<std::mutex> guard{mtx};
                         if (++whatsapp_reminders == 1)
                           return http_answer{500, R"({"code":20500,
                "message":"Internal Server Error",
                "more_info":"https://www.twilio.com/docs/errors/20500",
                "status":500})"};
                       }
                       return created(r, sid_of(n));
                     }};
  twilio_fixture f{twilio};
  f.customer("ada", "+4930123456", true);
  // Starts in an hour and 3 seconds: the 1 h reminder is due in 3 s.
  f.book("a1", "ada", utc_in(3600s + 3s));
  BOOST_REQUIRE(eventually(
      [&] {
        return requests_to(twilio, "whatsapp:+4930123456", "reminder").size()
               == 2u;
      },
      2min));
  BOOST_REQUIRE(eventually(
      [&] {
        std::size_t reminders = 0;
        for (auto& m : f.twilio_messages(f.acme))
          if (str(m, "body").find("reminder") != std::string::npos)
            ++reminders;
        return reminders == 2u;
      },
      2min));
  BOOST_TEST(requests_to(twilio, "+4930123456", "reminder").size() == 1u);
  BOOST_TEST(requests_to(twilio, "whatsapp:+4930123456", "reminder").size()
             == 2u);
  BOOST_TEST(f.failed_jobs().empty());
}

BOOST_AUTO_TEST_CASE(a_channel_goes_to_twilio_or_the_json_provider) {
  // Both configured for SMS: the daemon refuses to start, naming them.
  http_server twilio{[](int) {
    return http_answer{};
  }};
  switchboard::test::temp_dir dir;
  auto args = switchboard::test::serve_args(dir.path() + "/data");
  for (const auto& s : twilio_fixture::sets(
           twilio, {"providers.sms_url=" + twilio.url("/sms")}))
    args.insert(args.end(), {"--set", s});
  child_process serve{args};
  BOOST_TEST(serve.wait(30s) == 1);
  BOOST_TEST_INFO(serve.output());
  BOOST_TEST(serve.output().find("providers.sms_url") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
