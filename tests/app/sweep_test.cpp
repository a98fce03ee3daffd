// Every route of openapi.yaml, called by company B (globex) with the ids
// of what company A (acme) made: customer, staff member, service,
// appointment, call, event, failed job, outbox message and audit record.
// Nothing of A is read, changed or revealed: each answer is checked, and
// where an id of A is refused the answer is the one a nonexistent id gets.
// The routes come from openapi.yaml; one without a recipe here fails the
// test, so a new route cannot go unchecked.

#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/openapi.hpp"
#include "tests/support/sse_client.hpp"
#include "tests/support/times.hpp"

using namespace std::chrono_literals;
using switchboard::test::daemon_fixture;
using switchboard::test::http_client;
using switchboard::test::http_reply;
namespace json = boost::json;

namespace {

constexpr const char* webhook_secret = "sweep-secret";

/// A provider that refuses every request with 400, a permanent error, so
/// that the job calling it fails at once: company A gets a failed job.
class refusing_server {
public:
  refusing_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    BOOST_REQUIRE(::listen(fd_, 16) == 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      run();
    });
  }

  ~refusing_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/crm";
  }

private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        continue;
      std::string buf;
      std::size_t want = std::string::npos;
      while (buf.size() < want) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0)
          break;
        char tmp[4096];
        auto got = ::read(c, tmp, sizeof tmp);
        if (got <= 0)
          break;
        buf.append(tmp, static_cast<std::size_t>(got));
        auto head = buf.find("\r\n\r\n");
        if (head != std::string::npos && want == std::string::npos) {
          std::size_t length = 0;
          auto cl = buf.find("ontent-Length:");
          if (cl == std::string::npos)
            cl = buf.find("ontent-length:");
          if (cl != std::string::npos && cl < head)
            length = std::stoul(buf.substr(cl + 14));
          want = head + 4 + length;
        }
      }
      std::string body = R"({"message":"refused by the test"})";
      std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Type: "
                           "application/json\r\nContent-Length: "
                           + std::to_string(body.size())
                           + "\r\nConnection: close\r\n\r\n" + body;
      auto sent = ::write(c, answer.data(), answer.size());
      (void)sent;
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string sign(const std::string& ts, const std::string& body) {
  auto text = ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string key = webhook_secret;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac,
       &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[mac[i] >> 4]);
    out.push_back(hex[mac[i] & 15]);
  }
  return out;
}

/// Lowercase hex HMAC-SHA256 of `body` under `key` (Cal.com's signature).
std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[mac[i] >> 4]);
    out.push_back(hex[mac[i] & 15]);
  }
  return out;
}

/// `text` with every `id` replaced by "<ID>".
std::string masked(std::string text, const std::string& id) {
  if (id.empty())
    return text;
  for (auto at = text.find(id); at != std::string::npos;
       at = text.find(id, at + 4))
    text.replace(at, id.size(), "<ID>");
  return text;
}

struct provider_holder {
  refusing_server crm;
};

/// Two companies on one daemon: A (acme) has one of everything, B
/// (globex) a customer, staff member, service and appointment of its own.
struct sweep_fixture : provider_holder, daemon_fixture {
  sweep_fixture()
      : daemon_fixture(
          {std::string{"webhooks.call_provider_secret="} + webhook_secret,
           "webhooks.retell_api_key=sweep-retell-key",
           "providers.twilio_auth_token=sweep-twilio-token",
           "providers.crm_webhook_url=" + crm.url(),
           "broadcasting.app_id=sweep-app", "broadcasting.key=sweep-key",
           "broadcasting.secret=sweep-app-secret"}) {
    http_client c{port};
    auto ok = [&](const http_reply& r) {
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 201);
    };
    day = switchboard::test::utc_at(3, 0).substr(0, 10);
    for (auto [token, x, who] : {std::tuple{acme, "a", "Ada Acme"},
                                 std::tuple{globex, "b", "Bea Globex"}}) {
      std::string s{x};
      ok(c.request("POST", "/api/customers",
                   R"({"id":"cu-)" + s + R"(","name":")" + who
                       + R"(","phone":"+49301)" + (s == "a" ? "11" : "22")
                       + R"(","prefers_sms":true})",
                   token));
      ok(c.request("POST", "/api/staff",
                   R"({"id":"st-)" + s + R"(","name":"Staff )" + who + R"("})",
                   token));
      ok(c.request("POST", "/api/services",
                   R"({"id":"sv-)" + s + R"(","name":"Cut )" + who
                       + R"(","price_cents":4500,"duration_minutes":30})",
                   token));
      json::object b{{"id", "ap-" + s},
                     {"customer_id", "cu-" + s},
                     {"service_id", "sv-" + s},
                     {"staff_id", "st-" + s},
                     {"start_time", day + "T10:00:00Z"},
                     {"notes", std::string{"notes of "} + who}};
      ok(c.request("POST", "/api/appointments", json::serialize(b), token));
    }
    // A's second customer, staff member, service and booking: the ids B
    // creates its own entities under (ids are per company), so that the
    // ids of A's first ones stay unknown to B for the other recipes.
    ok(c.request("POST", "/api/customers",
                 R"({"id":"cu-a2","name":"Second of Acme"})", acme));
    ok(c.request("POST", "/api/staff",
                 R"({"id":"st-a2","name":"Second of Acme"})", acme));
    ok(c.request("POST", "/api/services",
                 R"({"id":"sv-a2","name":"Second of Acme","price_cents":1,
                     "duration_minutes":30})",
                 acme));
    json::object b2{{"id", "ap-a2"},
                    {"customer_id", "cu-a"},
                    {"service_id", "sv-a"},
                    {"staff_id", "st-a"},
                    {"start_time", day + "T11:00:00Z"}};
    ok(c.request("POST", "/api/appointments", json::serialize(b2), acme));
    // A's branch, in a time zone of its own.
    auto branch = c.request("POST", "/api/branches",
                            R"({"id":"br-a","name":"Acme Mitte",
                                "phone":"+4930111",
                                "time_zone":"Europe/Berlin"})",
                            acme);
    BOOST_TEST_INFO(branch.body);
    BOOST_REQUIRE(branch.status == 201);
    // A's Cal.com settings: its secret and maps are A's alone.
    auto cal = c.request("PUT", "/api/integrations/calcom",
                         R"({"secret":"acme-cal-secret",
                             "event_types":{"77":"sv-a"},
                             "hosts":{"staff-a@acme.example":"st-a"}})",
                         acme);
    BOOST_TEST_INFO(cal.body);
    BOOST_REQUIRE(cal.status == 200);
    auto retell
        = c.request("PUT", "/api/integrations/retell",
                    R"({"fields":{"service_id":"acme-treatment"}})", acme);
    BOOST_TEST_INFO(retell.body);
    BOOST_REQUIRE(retell.status == 200);
    // A's call, through the provider's signed webhook.
    auto r = webhook("acme", R"({"id":"d-a1","type":"call.started",
        "call_id":"call-a","data":{"from_number":"+4930111",
        "to_number":"+4930999"}})");
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status / 100 == 2);
    // A's event, outbox message, failed job (the CRM refuses) and audit
    // record: wait until the queues have made them.
    auto ev = c.request("GET", "/api/events?limit=1", "", acme);
    BOOST_REQUIRE(ev.status == 200);
    event_id = std::string{ev.json().at(0).at("id").as_string()};
    event_seq = std::string{ev.json().at(0).at("sequence").as_string()};
    for (int i = 0; i < 300 && (job_id.empty() || outbox_id.empty()); ++i) {
      auto jobs = c.request("GET", "/api/jobs/failed", "", acme);
      auto jobs_json = jobs.json();
      if (jobs.status == 200 && !jobs_json.at("jobs").as_array().empty())
        job_id = json::serialize(jobs_json.at("jobs").at(0).at("id"));
      auto out = c.request("GET", "/api/outbox", "", acme);
      auto out_json = out.json();
      if (out.status == 200 && !out_json.at("messages").as_array().empty())
        outbox_id = json::serialize(out_json.at("messages").at(0).at("id"));
      std::this_thread::sleep_for(100ms);
    }
    BOOST_REQUIRE(!job_id.empty());
    BOOST_REQUIRE(!outbox_id.empty());
    auto audit = c.request("GET", "/api/audit", "", acme);
    BOOST_REQUIRE(audit.status == 200);
    auto audit_json = audit.json();
    BOOST_REQUIRE(!audit_json.at("records").as_array().empty());
    audit_seq = json::serialize(audit_json.at("records").at(0).at("sequence"));
  }

  http_reply webhook(const std::string& company, const std::string& body) {
    http_client c{port};
    auto ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    return c.request("POST", "/webhooks/calls/" + company, body, "",
                     {{"X-Switchboard-Timestamp", ts},
                      {"X-Switchboard-Signature", sign(ts, body)}});
  }

  /// What A's objects look like to A: compared before and after B's calls.
  std::vector<std::string> snapshot_of_a() {
    http_client c{port};
    std::vector<std::string> out;
    for (const auto* target : {"/api/customers/cu-a",
                               "/api/staff/st-a",
                               "/api/services/sv-a",
                               "/api/appointments/ap-a",
                               "/api/calls/call-a",
                               "/api/customers/cu-a2",
                               "/api/staff/st-a2",
                               "/api/services/sv-a2",
                               "/api/appointments/ap-a2",
                               "/api/events/customer/cu-a2",
                               "/api/events/appointment/ap-a2",
                               "/api/events/customer/cu-a",
                               "/api/events/staff/st-a",
                               "/api/events/service/sv-a",
                               "/api/events/appointment/ap-a",
                               "/api/events/call/call-a",
                               "/api/company",
                               "/api/integrations/calcom",
                               "/api/integrations/retell",
                               "/api/branches/br-a"}) {
      auto r = c.request("GET", target, "", acme);
      out.push_back(std::string{target} + " " + std::to_string(r.status) + " "
                    + r.body);
    }
    // A's failed job is still failed, its message still in the outbox.
    auto jobs = c.request("GET", "/api/jobs/failed?limit=1000", "", acme);
    bool has_job = false;
    auto jobs_v1 = jobs.json();
    for (const auto& j : jobs_v1.at("jobs").as_array())
      has_job = has_job || json::serialize(j.at("id")) == job_id;
    out.push_back("failed job " + job_id + (has_job ? " listed" : " gone"));
    auto msgs = c.request("GET", "/api/outbox?limit=1000", "", acme);
    bool has_msg = false;
    auto msgs_v2 = msgs.json();
    for (const auto& m : msgs_v2.at("messages").as_array())
      has_msg = has_msg || json::serialize(m.at("id")) == outbox_id;
    out.push_back("message " + outbox_id + (has_msg ? " listed" : " gone"));
    return out;
  }

  std::string day;
  std::string event_id, event_seq, job_id, outbox_id, audit_seq;
};

/// Words of A's data that no answer to B may hold.
const std::vector<std::string> secrets_of_a
    = {"Ada Acme",     "+4930111",        "Acme",        "call-a",
       "notes of Ada", "acme-cal-secret", "staff-a@acme"};

} // namespace

BOOST_AUTO_TEST_SUITE(sweep_suite)

BOOST_FIXTURE_TEST_CASE(no_route_gives_one_company_anothers_data,
                        sweep_fixture) {
  http_client c{port};
  auto before = snapshot_of_a();
  int calls = 0;

  // One request by B; its answer holds nothing of A's but what B sent.
  auto as_b = [&](const std::string& method, const std::string& target,
                  const std::string& body = "",
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
    ++calls;
    auto r = c.request(method, target, body, globex, std::move(extra));
    BOOST_TEST_INFO(method << " " << target << " " << body << " -> " << r.status
                           << " " << r.body);
    BOOST_TEST(r.status != 0);
    BOOST_TEST(r.status != 500);
    for (const auto& s : secrets_of_a)
      if (target.find(s) == std::string::npos
          && body.find(s) == std::string::npos)
        BOOST_TEST(r.body.find(s) == std::string::npos, "reveals " << s);
    return r;
  };
  // B with A's id `theirs` for {X} in target and body answers as with
  // `missing`, an id nobody has (or one of B's own); the answer is
  // `status` (0: any 4xx).
  auto like_missing = [&](const std::string& method, const std::string& target,
                          const std::string& body, const std::string& theirs,
                          const std::string& missing, int status,
                          std::vector<std::pair<std::string, std::string>> extra
                          = {}) {
    auto with = [&](std::string s, const std::string& id) {
      for (auto at = s.find("{X}"); at != std::string::npos;
           at = s.find("{X}", at + id.size()))
        s.replace(at, 3, id);
      return s;
    };
    auto a = as_b(method, with(target, theirs), with(body, theirs), extra);
    auto m = as_b(method, with(target, missing), with(body, missing), extra);
    BOOST_TEST_CONTEXT(method << " " << target << " with " << theirs) {
      if (status == 0)
        BOOST_TEST((a.status >= 400 && a.status < 500));
      else
        BOOST_TEST(a.status == status);
      BOOST_TEST(a.status == m.status);
      BOOST_TEST(masked(a.body, theirs) == masked(m.body, missing));
    }
  };
  auto times_of = [&](const std::string& hour) {
    return day + "T" + hour + ":00:00Z";
  };
  const std::string booking_body
      = R"({"customer_id":"cu-b","service_id":"sv-b","staff_id":"st-b",
           "start_time":")"
        + times_of("14") + R"("})";
  auto booking_naming = [&](const std::string& field) {
    auto v = json::parse(booking_body).as_object();
    v[field] = "{X}";
    return json::serialize(v);
  };

  using recipe = std::function<void()>;
  std::map<std::pair<std::string, std::string>, recipe> recipes;
  auto add = [&](std::string method, std::string path, recipe r) {
    recipes.emplace(std::make_pair(std::move(method), std::move(path)),
                    std::move(r));
  };

  add("GET", "/health", [&] {
    BOOST_TEST(as_b("GET", "/health").body == R"({"status":"ok"})");
  });
  add("GET", "/ready", [&] {
    BOOST_TEST(as_b("GET", "/ready").body == R"({"status":"ready"})");
  });
  add("GET", "/api/events", [&] {
    for (const auto& q :
         {"/api/events?limit=1000", "/api/events?after=0&limit=1000",
          "/api/events?type=appointment.created"}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto r_v3 = r.json();
      for (const auto& e : r_v3.as_array())
        BOOST_TEST(e.at("companyid").as_string() == "globex");
    }
    // After A's event: B's events only.
    auto r = as_b("GET", "/api/events?limit=1000&after=" + event_seq);
    BOOST_REQUIRE(r.status == 200);
    auto r_v4 = r.json();
    for (const auto& e : r_v4.as_array())
      BOOST_TEST(e.at("companyid").as_string() == "globex");
  });
  add("POST", "/api/events", [&] {
    // A notification naming A's appointment, customer or call: refused
    // as if they did not exist.
    for (auto [field, theirs] :
         {std::pair{"appointment_id", "ap-a"}, std::pair{"customer_id", "cu-a"},
          std::pair{"call_id", "call-a"}}) {
      json::object data{
          {"appointment_id", "ap-b"}, {"company_id", "globex"},
          {"customer_id", "cu-b"},    {"channel", "sms"},
          {"recipient", "+4930122"},  {"sent_at", "2030-01-01T00:00:00Z"}};
      data[field] = "{X}";
      like_missing("POST", "/api/events",
                   json::serialize(json::object{{"type", "notification.sent"},
                                                {"aggregate_id", "n-b"},
                                                {"data", data}}),
                   theirs, "nobody-1", 422);
    }
    // A's event id: event ids are per company, so it is B's own new
    // event, as with an id nobody has; A's event is untouched (the
    // snapshot of A at the end).
    auto r = as_b("POST", "/api/events",
                  R"({"id":")" + event_id
                      + R"(","type":"notification.sent","aggregate_id":"n-b",
                          "data":{"appointment_id":"ap-b","company_id":"globex",
                          "customer_id":"cu-b","channel":"sms",
                          "recipient":"+4930122",
                          "sent_at":"2030-01-01T00:00:00Z"}})");
    BOOST_TEST(r.status == 201);
    auto stored = as_b("GET", "/api/events/notification/n-b");
    BOOST_REQUIRE(stored.status == 200);
    auto stored_json = stored.json();
    BOOST_TEST(stored_json.as_array().back().at("companyid").as_string()
               == "globex");
  });
  add("GET", "/api/audit", [&] {
    for (auto q :
         {std::string{"/api/audit?limit=1000"},
          "/api/audit?company_id=acme&limit=1000&after=" + audit_seq}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto r_v5 = r.json();
      for (const auto& rec : r_v5.at("records").as_array())
        BOOST_TEST(rec.at("company_id").as_string() == "globex");
    }
    for (auto [type, id] :
         {std::pair{"customer", "cu-a"}, std::pair{"appointment", "ap-a"},
          std::pair{"staff", "st-a"}, std::pair{"service", "sv-a"}})
      like_missing(
          "GET", std::string{"/api/audit?model_type="} + type + "&model_id={X}",
          "", id, "nobody-1", 200);
  });
  add("GET", "/api/events/{aggregate_type}/{aggregate_id}", [&] {
    for (auto [type, id] :
         {std::pair{"customer", "cu-a"}, std::pair{"staff", "st-a"},
          std::pair{"service", "sv-a"}, std::pair{"appointment", "ap-a"},
          std::pair{"call", "call-a"}})
      like_missing("GET", std::string{"/api/events/"} + type + "/{X}", "", id,
                   "nobody-1", 404);
  });
  add("GET", "/metrics", [&] {
    BOOST_TEST(as_b("GET", "/metrics").status == 403);
  });
  add("GET", "/api/admin/cluster", [&] {
    BOOST_TEST(as_b("GET", "/api/admin/cluster").status == 403);
  });
  add("POST", "/api/admin/cluster/move", [&] {
    BOOST_TEST(as_b("POST", "/api/admin/cluster/move?company_id=acme",
                    R"({"to":"n2"})")
                   .status
               == 403);
  });
  add("GET", "/api/admin/stats", [&] {
    // B's own series, whatever company it names (A's calls are A's).
    for (const auto* q :
         {"/api/admin/stats", "/api/admin/stats?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto v = r.json();
      BOOST_TEST(v.at("company_id").as_string() == "globex");
      for (const auto& s : v.at("series").as_array())
        BOOST_TEST(s.at("name").as_string().find("call.") != 0u);
    }
  });
  add("GET", "/api/queues", [&] {
    // B's own share of each queue; A's listeners' counters are not B's.
    for (const auto* q : {"/api/queues", "/api/queues?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_TEST((r.status == 200 || r.status == 403 || r.status == 422));
    }
  });
  add("GET", "/api/jobs", [&] {
    for (auto q : {std::string{"/api/jobs?limit=1000"},
                   std::string{"/api/jobs?state=failed&limit=1000"},
                   std::string{"/api/jobs?state=failed&company_id=acme"},
                   "/api/jobs?state=failed&event_id=" + event_id}) {
      auto r = as_b("GET", q);
      if (r.status != 200)
        continue;
      auto v = r.json();
      for (const auto& j : v.at("jobs").as_array())
        BOOST_TEST(json::serialize(j.at("id")) != job_id);
    }
  });
  add("GET", "/api/traces/{correlation_id}", [&] {
    // A's call trace is there for A, and for B exactly like an unknown one.
    BOOST_TEST(c.request("GET", "/api/traces/call-a", "", acme).status == 200);
    like_missing("GET", "/api/traces/{X}", "", "call-a", "nobody-1", 404);
  });
  // B's dashboard session: with its cookie, B is B (A's trace, job and
  // failed job answer as unknown ones), and its state changes need the
  // session's CSRF token and this server's origin.
  std::string b_cookie, b_csrf;
  auto sign_in_b = [&] {
    auto r = c.request("POST", "/admin/events/session",
                       R"({"token":")" + globex + R"("})", "",
                       {{"Origin", "http://127.0.0.1"}});
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    auto set = r.header("set-cookie");
    BOOST_TEST(set.find("HttpOnly") != std::string::npos);
    BOOST_TEST(set.find("SameSite=Strict") != std::string::npos);
    b_cookie = set.substr(0, set.find(';'));
    b_csrf = std::string{r.json().at("csrf_token").as_string()};
  };
  auto as_b_session
      = [&](const std::string& method, const std::string& target,
            std::vector<std::pair<std::string, std::string>> extra = {}) {
          extra.emplace_back("Cookie", b_cookie);
          ++calls;
          auto r = c.request(method, target, "", "", std::move(extra));
          BOOST_TEST_INFO(method << " " << target << " -> " << r.status << " "
                                 << r.body);
          for (const auto& s : secrets_of_a)
            if (target.find(s) == std::string::npos)
              BOOST_TEST(r.body.find(s) == std::string::npos, "reveals " << s);
          return r;
        };
  add("GET", "/admin/events/dashboard", [&] {
    auto r = as_b("GET", "/admin/events/dashboard");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.header("content-type").find("text/html") == 0);
  });
  add("GET", "/admin/events/stream", [&] {
    // B's stream from the first event on, even naming A: B's events only,
    // up to B's newest.
    auto newest = as_b("GET", "/api/events?limit=1");
    BOOST_REQUIRE(newest.status == 200);
    auto last = std::string{
        newest.json().as_array().at(0).at("sequence").as_string()};
    ++calls;
    switchboard::test::sse_client s{
        port,
        "/admin/events/stream?after=0&company_id=acme",
        {{"Authorization", "Bearer " + globex}}};
    BOOST_REQUIRE(s.status == 200);
    for (;;) {
      auto f = s.next_event();
      BOOST_REQUIRE(f.has_value());
      for (const auto& secret : secrets_of_a)
        BOOST_TEST(f->data.find(secret) == std::string::npos,
                   "reveals " << secret);
      auto e = json::parse(f->data);
      BOOST_TEST(e.at("companyid").as_string() == "globex");
      if (f->id == last)
        break;
    }
  });
  add("GET", "/admin/events/dashboard.js", [&] {
    BOOST_TEST(as_b("GET", "/admin/events/dashboard.js").status == 200);
  });
  add("POST", "/admin/events/session", [&] {
    sign_in_b();
    // From another site: refused.
    auto r = c.request("POST", "/admin/events/session",
                       R"({"token":")" + globex + R"("})", "",
                       {{"Origin", "https://evil.example"}});
    BOOST_TEST(r.status == 403);
    BOOST_TEST(as_b_session("GET", "/api/traces/call-a").status == 404);
    BOOST_TEST(as_b_session("GET", "/api/jobs/" + job_id).status == 404);
    BOOST_TEST(as_b_session("GET", "/api/calls/call-a").status == 404);
    auto same = std::vector<std::pair<std::string, std::string>>{
        {"Origin", "http://127.0.0.1"}, {"X-CSRF-Token", b_csrf}};
    BOOST_TEST(as_b_session("DELETE", "/api/jobs/failed/" + job_id, same).status
               == 404);
    BOOST_TEST(
        as_b_session("POST", "/api/jobs/failed/" + job_id + "/retry", same)
            .status
        == 404);
    // Without the CSRF token, or from another origin: 403 before anything.
    BOOST_TEST(as_b_session("DELETE", "/api/jobs/failed/" + job_id,
                            {{"Origin", "http://127.0.0.1"}})
                   .status
               == 403);
    BOOST_TEST(as_b_session("DELETE", "/api/jobs/failed/" + job_id,
                            {{"Origin", "https://evil.example"},
                             {"X-CSRF-Token", b_csrf}})
                   .status
               == 403);
  });
  add("GET", "/admin/events/session", [&] {
    if (b_cookie.empty())
      sign_in_b();
    auto r = as_b_session("GET", "/admin/events/session");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(!r.json().at("admin").as_bool());
  });
  add("DELETE", "/admin/events/session", [&] {
    if (b_cookie.empty())
      sign_in_b();
    BOOST_TEST(as_b_session("DELETE", "/admin/events/session").status == 403);
    BOOST_TEST(
        as_b_session("DELETE", "/admin/events/session",
                     {{"Origin", "http://127.0.0.1"}, {"X-CSRF-Token", b_csrf}})
            .status
        == 200);
    // The cookie is dead now.
    BOOST_TEST(as_b_session("GET", "/api/traces/call-a").status == 401);
    b_cookie.clear();
  });
  add("GET", "/api/jobs/{id}", [&] {
    like_missing("GET", "/api/jobs/{X}", "", job_id, "999999", 404);
  });
  add("DELETE", "/api/jobs/failed", [&] {
    // Whatever the filter, A's failed job stays (snapshot_of_a checks).
    for (auto q : {std::string{"/api/jobs/failed?company_id=acme"},
                   "/api/jobs/failed?event_id=" + event_id,
                   std::string{"/api/jobs/failed"}}) {
      auto r = as_b("DELETE", q);
      BOOST_TEST((r.status == 200 || r.status == 403 || r.status == 422));
    }
  });
  add("POST", "/api/jobs/failed/retry", [&] {
    for (auto body :
         {std::string{R"({"company_id":"acme"})"},
          R"({"event_id":")" + event_id + R"("})", std::string{"{}"}}) {
      auto r = as_b("POST", "/api/jobs/failed/retry", body);
      BOOST_TEST((r.status == 200 || r.status == 403 || r.status == 422));
    }
  });
  add("GET", "/api/jobs/failed", [&] {
    // B's own jobs (its booking's CRM sync failed too), not A's.
    for (auto q : {std::string{"/api/jobs/failed?limit=1000"},
                   std::string{"/api/jobs/failed?limit=1000&after=0"}}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto r_v6 = r.json();
      for (const auto& j : r_v6.at("jobs").as_array())
        BOOST_TEST(json::serialize(j.at("id")) != job_id);
    }
  });
  add("POST", "/api/jobs/failed/{id}/retry", [&] {
    like_missing("POST", "/api/jobs/failed/{X}/retry", "", job_id, "999999",
                 404);
  });
  add("DELETE", "/api/jobs/failed/{id}", [&] {
    like_missing("DELETE", "/api/jobs/failed/{X}", "", job_id, "999999", 404);
  });
  add("GET", "/api/company", [&] {
    for (const auto* q : {"/api/company", "/api/company?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      BOOST_TEST(r.json().at("id").as_string() == "globex");
    }
  });
  add("GET", "/api/analytics", [&] {
    auto r = as_b("GET", "/api/analytics?company_id=acme");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
  });
  add("GET", "/api/outbox", [&] {
    auto r = as_b("GET", "/api/outbox?limit=1000");
    BOOST_REQUIRE(r.status == 200);
    auto r_v7 = r.json();
    for (const auto& m : r_v7.at("messages").as_array())
      BOOST_TEST(m.at("company_id").as_string() == "globex");
    auto after = as_b("GET", "/api/outbox?limit=1000&after=0");
    BOOST_REQUIRE(after.status == 200);
    auto after_v8 = after.json();
    for (const auto& m : after_v8.at("messages").as_array())
      BOOST_TEST(json::serialize(m.at("id")) != outbox_id);
  });
  // The entities: read, changed, created over, merged.
  for (auto [plural, type, theirs, ours] :
       {std::tuple{"customers", "customer", "cu-a", "cu-b"},
        std::tuple{"staff", "staff", "st-a", "st-b"},
        std::tuple{"services", "service", "sv-a", "sv-b"}}) {
    std::string base = std::string{"/api/"} + plural;
    std::string a{theirs}, b{ours}, t{type};
    add("GET", base + "/{id}", [=, &like_missing] {
      like_missing("GET", base + "/{X}", "", a, "nobody-1", 404);
    });
    add("PATCH", base + "/{id}", [=, &like_missing] {
      like_missing("PATCH", base + "/{X}", R"({"name":"Mallory"})", a,
                   "nobody-1", 404);
      like_missing("PATCH", base + "/{X}", R"({"name":"Mallory"})", a,
                   "nobody-1", 404, {{"If-Match", "\"1\""}});
    });
    // Ids are per company: creating with A's id makes B's own entity,
    // as with an id nobody has (A's stays as it was: the snapshot of A
    // at the end); over an id of B's own it is taken.
    add("POST", base, [=, &like_missing] {
      std::string extra
          = t == "service" ? R"(,"price_cents":1,"duration_minutes":30)" : "";
      like_missing("POST", base,
                   R"({"id":"{X}","name":"Mallory")" + extra + "}", a + "2",
                   "fresh-" + t, 201);
      auto again
          = as_b("POST", base,
                 R"({"id":")" + a + R"(2","name":"Mallory")" + extra + "}");
      BOOST_TEST(again.status == 409);
    });
  }
  add("POST", "/api/customers/{id}/merge", [&] {
    like_missing("POST", "/api/customers/{X}/merge", R"({"merged_id":"cu-b"})",
                 "cu-a", "nobody-1", 404);
    like_missing("POST", "/api/customers/cu-b/merge", R"({"merged_id":"{X}"})",
                 "cu-a", "nobody-1", 0);
  });
  // Branches: A's is neither read nor changed; B's own of the same id is
  // B's, made as one of an id nobody has.
  add("GET", "/api/branches/{id}", [&] {
    like_missing("GET", "/api/branches/{X}", "", "br-a", "nobody-1", 404);
  });
  add("PATCH", "/api/branches/{id}", [&] {
    like_missing("PATCH", "/api/branches/{X}",
                 R"({"name":"Mallory","time_zone":"Asia/Tokyo"})", "br-a",
                 "nobody-1", 404);
  });
  add("POST", "/api/branches", [&] {
    like_missing("POST", "/api/branches", R"({"id":"{X}","name":"Mallory"})",
                 "br-a", "br-new", 201);
    auto r = as_b("GET", "/api/branches/br-a");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(r.json().at("name").as_string() == "Mallory");
  });
  add("PUT", "/api/staff/{id}/working-hours", [&] {
    like_missing("PUT", "/api/staff/{X}/working-hours",
                 R"({"working_hours":[{"day":"monday","start_minute":540,
                     "end_minute":600}]})",
                 "st-a", "nobody-1", 404);
  });
  add("GET", "/api/calls/{id}", [&] {
    like_missing("GET", "/api/calls/{X}", "", "call-a", "nobody-1", 404);
  });
  add("POST", "/api/appointments", [&] {
    for (const auto* field : {"customer_id", "service_id", "staff_id"}) {
      std::string f{field};
      std::string theirs = f == "customer_id"  ? "cu-a"
                           : f == "service_id" ? "sv-a"
                                               : "st-a";
      like_missing("POST", "/api/appointments", booking_naming(f), theirs,
                   "nobody-1", 422);
    }
    // With A's appointment id: B's own new booking (ids are per company),
    // on B's calendar; A's is untouched (the snapshot of A at the end).
    auto v = json::parse(booking_body).as_object();
    v["id"] = "ap-a2";
    v["start_time"] = times_of("16");
    auto r = as_b("POST", "/api/appointments", json::serialize(v));
    BOOST_TEST(r.status == 201);
    if (r.status == 201) {
      auto made = r.json();
      BOOST_TEST(made.at("company_id").as_string() == "globex");
      BOOST_TEST(made.at("staff_id").as_string() == "st-b");
    }
    // Over one of B's own: taken.
    v["id"] = "ap-b";
    v["start_time"] = times_of("17");
    BOOST_TEST(as_b("POST", "/api/appointments", json::serialize(v)).status
               == 409);
  });
  add("GET", "/api/appointments", [&] {
    for (const auto* f : {"staff_id", "customer_id"})
      like_missing("GET", std::string{"/api/appointments?"} + f + "={X}", "",
                   std::string{f} == "staff_id" ? "st-a" : "cu-a", "nobody-1",
                   200);
    auto r = as_b("GET", "/api/appointments");
    BOOST_REQUIRE(r.status == 200);
    auto r_v9 = r.json();
    for (const auto& a : r_v9.at("appointments").as_array())
      BOOST_TEST(a.at("company_id").as_string() == "globex");
  });
  add("GET", "/api/appointments/{id}", [&] {
    like_missing("GET", "/api/appointments/{X}", "", "ap-a", "nobody-1", 404);
  });
  add("PATCH", "/api/appointments/{id}", [&] {
    like_missing("PATCH", "/api/appointments/{X}",
                 R"({"start_time":")" + times_of("12") + R"("})", "ap-a",
                 "nobody-1", 404);
    // Moving B's own booking to A's staff member.
    like_missing("PATCH", "/api/appointments/ap-b", R"({"staff_id":"{X}"})",
                 "st-a", "nobody-1", 0);
  });
  add("POST", "/api/appointments/{id}/cancel", [&] {
    like_missing("POST", "/api/appointments/{X}/cancel",
                 R"({"reason":"mallory"})", "ap-a", "nobody-1", 404);
  });
  add("GET", "/api/availability", [&] {
    like_missing("GET",
                 "/api/availability?staff_id={X}&service_id=sv-b&date=" + day,
                 "", "st-a", "nobody-1", 0);
    like_missing("GET",
                 "/api/availability?staff_id=st-b&service_id={X}&date=" + day,
                 "", "sv-a", "nobody-1", 0);
  });
  add("POST", "/webhooks/calls/{company_id}", [&] {
    // B cannot sign; unsigned, A's company answers as a missing one.
    like_missing("POST", "/webhooks/calls/{X}",
                 R"({"id":"d-b1","type":"call.ended","call_id":"call-a",
                     "data":{}})",
                 "acme", "nobody", 401);
    // The provider itself, for B, naming A's call id: the call is not
    // B's to end.
    auto r = webhook("globex", R"({"id":"d-b2","type":"call.ended",
        "call_id":"call-a","data":{"duration_s":5}})");
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status / 100 == 4);
    BOOST_TEST(r.body.find("Ada") == std::string::npos);
  });
  add("POST", "/webhooks/calcom/{company_id}", [&] {
    // Unsigned, or signed with B's own secret: A answers as a company
    // that does not exist.
    like_missing("POST", "/webhooks/calcom/{X}",
                 R"({"triggerEvent":"BOOKING_CANCELLED","payload":{}})", "acme",
                 "nobody", 401);
    BOOST_REQUIRE(as_b("PUT", "/api/integrations/calcom",
                       R"({"secret":"globex-cal-secret"})")
                      .status
                  == 200);
    std::string body
        = R"({"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"x"}})";
    like_missing(
        "POST", "/webhooks/calcom/{X}", body, "acme", "nobody", 401,
        {{"X-Cal-Signature-256", hmac_hex("globex-cal-secret", body)}});
  });
  add("POST", "/webhooks/retell/{company_id}", [&] {
    like_missing("POST", "/webhooks/retell/{X}",
                 R"({"event":"call_ended","call":{"call_id":"call-a"}})",
                 "acme", "nobody", 401);
    // Signed with the daemon's Retell key, for B, naming A's call id: ids
    // are per company, so it is B's own new call (ended at once), as with
    // an id nobody has; A's call is untouched (the snapshot of A).
    std::string body = R"({"event":"call_ended","call":{"call_id":"call-a",
        "from_number":"+4930222","start_timestamp":1714608475945,
        "end_timestamp":1714608491736}})";
    auto ms = std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    auto r
        = as_b("POST", "/webhooks/retell/globex", body,
               {{"x-retell-signature",
                 "v=" + ms + ",d=" + hmac_hex("sweep-retell-key", body + ms)}});
    BOOST_TEST(r.status == 204);
    BOOST_TEST(r.body.find("Ada") == std::string::npos);
  });
  add("POST", "/webhooks/twilio/status", [&] {
    // B cannot sign as Twilio: a callback naming A's message answers as
    // one naming no message.
    like_missing("POST", "/webhooks/twilio/status",
                 "MessageSid={X}&MessageStatus=delivered", "SM-a", "SM-nobody",
                 403, {{"Content-Type", "application/x-www-form-urlencoded"}});
  });
  add("GET", "/api/integrations/retell", [&] {
    auto r = as_b("GET", "/api/integrations/retell?company_id=acme");
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(r.body.find("acme-treatment") == std::string::npos);
  });
  add("PUT", "/api/integrations/retell", [&] {
    auto r = as_b("PUT", "/api/integrations/retell?company_id=acme",
                  R"({"fields":{"notes":"globex-notes"}})");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
  });
  add("GET", "/api/integrations/calcom", [&] {
    for (const auto* q : {"/api/integrations/calcom",
                          "/api/integrations/calcom?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 200);
      BOOST_TEST(r.json().at("company_id").as_string() == "globex");
      for (const auto* a : {"sv-a", "st-a", "acme-cal-secret", "staff-a@"})
        BOOST_TEST(r.body.find(a) == std::string::npos);
    }
  });
  add("PUT", "/api/integrations/calcom", [&] {
    // B's token sets B's settings, whatever company it names.
    auto r = as_b("PUT", "/api/integrations/calcom?company_id=acme",
                  R"({"event_types":{"77":"sv-b"}})");
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(r.body.find("sv-a") == std::string::npos);
  });
  add("OPTIONS", "/broadcasting/auth", [&] {
    // The CORS preflight needs no token and says nothing of a company.
    auto r = as_b("OPTIONS", "/broadcasting/auth", "",
                  {{"Origin", "https://acme.example"},
                   {"Access-Control-Request-Method", "POST"}});
    BOOST_TEST(r.status < 500);
  });
  add("POST", "/broadcasting/auth", [&] {
    for (const auto* prefix : {"private-company.", "presence-company."})
      like_missing("POST", "/broadcasting/auth",
                   std::string{"socket_id=1.2&channel_name="} + prefix + "{X}",
                   "acme", "nobody", 403,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  });
  // The Pusher HTTP API is the server's (signed with the app secret); a
  // company token opens none of it.
  for (auto [method, path] :
       {std::pair{"POST", "/apps/{app_id}/events"},
        std::pair{"POST", "/apps/{app_id}/batch_events"},
        std::pair{"GET", "/apps/{app_id}/channels"},
        std::pair{"GET", "/apps/{app_id}/channels/{channel_name}"},
        std::pair{"GET", "/apps/{app_id}/channels/{channel_name}/users"},
        std::pair{"GET", "/apps/{app_id}/connections"}}) {
    std::string m{method}, p{path};
    add(m, p, [=, &like_missing] {
      auto target = p;
      target.replace(target.find("{app_id}"), 8, "sweep-app");
      if (auto at = target.find("{channel_name}"); at != std::string::npos)
        target.replace(at, 14, "presence-company.{X}");
      std::string body
          = m == "POST"
                ? R"({"name":"x","channel":"private-company.{X}","data":"{}"})"
                : "";
      like_missing(m, target, body, "acme", "nobody", 401);
    });
  }

  // Every route has its recipe, and every recipe its route.
  auto routes = switchboard::test::openapi_routes();
  BOOST_REQUIRE(routes.size() >= 30u);
  for (const auto& key : routes) {
    BOOST_TEST_CONTEXT(key.first << " " << key.second) {
      auto i = recipes.find(key);
      BOOST_TEST((i != recipes.end()), "no cross-company recipe for "
                                           << key.first << " " << key.second);
      if (i != recipes.end())
        i->second();
    }
  }
  for (const auto& [key, r] : recipes)
    BOOST_TEST(routes.count(key) == 1u,
               key.first << " " << key.second << " is not in openapi.yaml");
  BOOST_TEST(calls > 60);
  // A's objects are as they were.
  auto after = snapshot_of_a();
  BOOST_REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i)
    BOOST_TEST(after[i] == before[i]);
}

// The list routes other than GET /api/appointments, paged one at a time
// by company B among A's records: every page that may be followed by more
// carries a cursor, and following them reaches every record the listing
// holds at once, in order.
BOOST_FIXTURE_TEST_CASE(paging_never_stops_silently, sweep_fixture) {
  http_client c{port};
  // A second booking of B's: two failed CRM syncs, more messages.
  json::object b{{"id", "ap-b2"},
                 {"customer_id", "cu-b"},
                 {"service_id", "sv-b"},
                 {"staff_id", "st-b"},
                 {"start_time", day + "T15:00:00Z"}};
  BOOST_REQUIRE(
      c.request("POST", "/api/appointments", json::serialize(b), globex).status
      == 201);
  // The JSON listings: {items: [...], next_after}.
  struct listing {
    std::string path, items, key;
  };
  for (const auto& l : {listing{"/api/jobs/failed", "jobs", "id"},
                        listing{"/api/outbox", "messages", "id"},
                        listing{"/api/audit", "records", "sequence"}}) {
    BOOST_TEST_CONTEXT(l.path) {
      // Wait for B's second failed job and message before comparing.
      json::array all;
      for (int i = 0; i < 300; ++i) {
        auto r = c.request("GET", l.path + "?limit=1000", "", globex);
        BOOST_REQUIRE(r.status == 200);
        all = r.json().at(l.items).as_array();
        if (all.size() >= 2)
          break;
        std::this_thread::sleep_for(100ms);
      }
      BOOST_REQUIRE(all.size() >= 2u);
      std::vector<std::string> seen;
      std::string cursor = "0";
      for (int pages = 0; pages < 1000; ++pages) {
        auto r
            = c.request("GET", l.path + "?limit=1&after=" + cursor, "", globex);
        BOOST_REQUIRE(r.status == 200);
        auto v = r.json();
        for (const auto& x : v.at(l.items).as_array())
          seen.push_back(json::serialize(x.at(l.key)));
        std::string next;
        if (l.items == "records")
          next = r.header("x-next-after");
        else if (!v.at("next_after").is_null())
          next = json::serialize(v.at("next_after"));
        if (next.empty())
          break;
        BOOST_TEST(next != cursor);
        cursor = next;
      }
      // Every record listed at once was reached (the listing may have
      // grown meanwhile: a superset, in the same order).
      std::size_t k = 0;
      for (const auto& x : all) {
        auto id = json::serialize(x.at(l.key));
        while (k < seen.size() && seen[k] != id)
          ++k;
        BOOST_TEST(k < seen.size(), id << " was never reached");
      }
    }
  }
  // The events: by cursor after a sequence, and one stream by version.
  auto all = c.request("GET", "/api/events?after=0&limit=1000", "", globex);
  BOOST_REQUIRE(all.status == 200);
  auto all_json = all.json();
  std::vector<std::string> seen;
  std::string cursor = "0";
  for (int pages = 0; pages < 1000; ++pages) {
    auto r
        = c.request("GET", "/api/events?limit=1&after=" + cursor, "", globex);
    BOOST_REQUIRE(r.status == 200);
    auto r_v10 = r.json();
    for (const auto& e : r_v10.as_array())
      seen.emplace_back(e.at("id").as_string());
    auto next = r.header("x-next-after");
    if (next.empty())
      break;
    cursor = next;
  }
  BOOST_TEST(seen.size() >= all_json.as_array().size());
  for (std::size_t i = 0; i < all_json.as_array().size(); ++i)
    BOOST_TEST(seen.at(i) == all_json.at(i).at("id").as_string());
  auto s1
      = c.request("GET", "/api/events/appointment/ap-b2?limit=1", "", globex);
  BOOST_REQUIRE(s1.status == 200);
  BOOST_TEST(s1.json().as_array().size() == 1u);
  BOOST_TEST(
      s1.header("x-next-from-version").empty()
      == (c.request("GET", "/api/events/appointment/ap-b2?from_version=2", "",
                    globex)
              .json()
              .as_array()
              .empty()));
}

BOOST_AUTO_TEST_SUITE_END()
