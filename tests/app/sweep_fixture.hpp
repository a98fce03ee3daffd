#pragma once

// Two companies on one daemon for the sweep tests: A (acme) with one of
// everything, a failed job included (its CRM provider refuses every
// request), and B (globex) with records of its own; and the signature a
// call provider's webhook carries.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/app/switchable_crm.hpp"
#include "tests/support/hmac.hpp"
#include "tests/support/times.hpp"

namespace switchboard::test {

inline constexpr const char* webhook_secret = "sweep-secret";

inline std::string sign(const std::string& ts, const std::string& body) {
  return "sha256=" + hmac(webhook_secret, ts + "." + body);
}

struct provider_holder {
  /// Refuses every request: company A gets a failed job.
  switchable_crm crm;
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
    day = switchboard::test::utc_at(3, 0).substr(0, 10);
    for (auto [token, x, who] : {std::tuple{acme, "a", "Ada Acme"},
                                 std::tuple{globex, "b", "Bea Globex"}}) {
      std::string s{x};
      created(c.request("POST", "/api/customers",
                        R"({"id":"cu-)" + s + R"(","name":")" + who
                            + R"(","phone":"+49301)" + (s == "a" ? "11" : "22")
                            + R"(","prefers_sms":true})",
                        token));
      created(c.request(
          "POST", "/api/staff",
          R"({"id":"st-)" + s + R"(","name":"Staff )" + who + R"("})", token));
      created(c.request("POST", "/api/services",
                        R"({"id":"sv-)" + s + R"(","name":"Cut )" + who
                            + R"(","price_cents":4500,"duration_minutes":30})",
                        token));
      boost::json::object b{{"id", "ap-" + s},
                            {"customer_id", "cu-" + s},
                            {"service_id", "sv-" + s},
                            {"staff_id", "st-" + s},
                            {"start_time", day + "T10:00:00Z"},
                            {"notes", std::string{"notes of "} + who}};
      created(c.request("POST", "/api/appointments", boost::json::serialize(b),
                        token));
    }
    // A's second customer, staff member, service and booking: the ids B
    // creates its own entities under (ids are per company), so that the
    // ids of A's first ones stay unknown to B for the other recipes.
    created(c.request("POST", "/api/customers",
                      R"({"id":"cu-a2","name":"Second of Acme"})", acme));
    created(c.request("POST", "/api/staff",
                      R"({"id":"st-a2","name":"Second of Acme"})", acme));
    created(c.request("POST", "/api/services",
                      R"({"id":"sv-a2","name":"Second of Acme","price_cents":1,
                     "duration_minutes":30})",
                      acme));
    boost::json::object b2{{"id", "ap-a2"},
                           {"customer_id", "cu-a"},
                           {"service_id", "sv-a"},
                           {"staff_id", "st-a"},
                           {"start_time", day + "T11:00:00Z"}};
    created(c.request("POST", "/api/appointments", boost::json::serialize(b2),
                      acme));
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
        job_id = boost::json::serialize(jobs_json.at("jobs").at(0).at("id"));
      auto out = c.request("GET", "/api/outbox", "", acme);
      auto out_json = out.json();
      if (out.status == 200 && !out_json.at("messages").as_array().empty())
        outbox_id
            = boost::json::serialize(out_json.at("messages").at(0).at("id"));
      std::this_thread::sleep_for(100ms);
    }
    BOOST_REQUIRE(!job_id.empty());
    BOOST_REQUIRE(!outbox_id.empty());
    auto audit = c.request("GET", "/api/audit", "", acme);
    BOOST_REQUIRE(audit.status == 200);
    auto audit_json = audit.json();
    BOOST_REQUIRE(!audit_json.at("records").as_array().empty());
    audit_seq
        = boost::json::serialize(audit_json.at("records").at(0).at("sequence"));
  }

  http_reply webhook(const std::string& company, const std::string& body) {
    http_client c{port};
    auto ts = std::to_string(unix_time<std::chrono::seconds>());
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
    // `what` `id` is listed or gone from the list `key` of `target`.
    auto listed = [&](const std::string& what, const std::string& id,
                      const std::string& target, const char* key) {
      auto body = c.request("GET", target, "", acme).json();
      bool has = false;
      for (const auto& v : body.at(key).as_array())
        has = has || boost::json::serialize(v.at("id")) == id;
      out.push_back(what + " " + id + (has ? " listed" : " gone"));
    };
    listed("failed job", job_id, "/api/jobs/failed?limit=1000", "jobs");
    listed("message", outbox_id, "/api/outbox?limit=1000", "messages");
    return out;
  }

  std::string day;
  std::string event_id, event_seq, job_id, outbox_id, audit_seq;
};

} // namespace switchboard::test
