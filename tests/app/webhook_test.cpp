// Webhooks against the real daemon: signed call-provider deliveries drive
// the call workflow through to notification jobs; forged, stale and
// replayed deliveries get 401 and store nothing. (Cal.com: calcom_test.)

#include <chrono>
#include <ctime>
#include <thread>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/support/hmac.hpp"

namespace {

constexpr const char* secret = "whsec-test";

std::int64_t unix_now() {
  return unix_time<std::chrono::seconds>();
}

std::string sign(const std::string& ts, const std::string& body,
                 const std::string& key = secret) {
  return "sha256=" + switchboard::test::hmac(key, ts + "." + body);
}

struct webhook_fixture : daemon_fixture {
  webhook_fixture()
      : daemon_fixture(
          {std::string{"webhooks.call_provider_secret="} + secret}) {
    http_client c{port};
    seed_service(c, acme);
    created(c.request("POST", "/api/customers",
                      R"({"id":"cu1","name":"Eve","phone":"+4930777"})", acme));
  }

  http_reply post(const std::string& path, const std::string& body,
                  std::int64_t ts = 0, const std::string& key = secret) {
    http_client c{port};
    auto t = std::to_string(ts == 0 ? unix_now() : ts);
    return c.request("POST", path, body, "",
                     {{"X-Switchboard-Timestamp", t},
                      {"X-Switchboard-Signature", sign(t, body, key)}});
  }

  http_reply call_event(const std::string& call, const std::string& type,
                        json::object data = {}) {
    json::object b{{"id", "d-" + std::to_string(++deliveries)},
                   {"type", type},
                   {"call_id", call},
                   {"data", std::move(data)}};
    return post("/webhooks/calls/acme", json::serialize(b));
  }

  json::object analysis(const std::string& start) {
    return {
        {"analysis", json::object{{"sentiment", "positive"},
                                  {"summary", "wants a cut"},
                                  {"appointment_request",
                                   json::object{{"service_id", "s1"},
                                                {"staff_id", "st1"},
                                                {"preferred_start", start},
                                                {"customer_name", "Ada"}}}}}};
  }

  void to_ended(const std::string& call, const std::string& from) {
    for (auto [type, data] :
         {std::pair{"call.started",
                    json::object{{"from_number", from}, {"to_number", "+1"}}},
          std::pair{"call.connected", json::object{}},
          std::pair{"call.ended", json::object{{"duration_s", 60}}}}) {
      auto r = call_event(call, type, data);
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 200);
    }
  }

  int deliveries = 0;

  json::array outbox(const std::string& channel) {
    http_client c{port};
    auto r = c.request("GET", "/api/outbox?channel=" + channel, "", acme);
    BOOST_REQUIRE(r.status == 200);
    return r.json().at("messages").as_array();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(webhook_suite)

BOOST_FIXTURE_TEST_CASE(call_workflow_from_webhooks_to_notifications,
                        webhook_fixture) {
  to_ended("k1", "+49 30 123");
  // Duplicate delivery (fresh signature): one change.
  auto before = event_count();
  auto dup = call_event("k1", "call.ended", {{"duration_s", 60}});
  BOOST_TEST_INFO(dup.body);
  BOOST_REQUIRE(dup.status == 200);
  BOOST_TEST(dup.json().at("duplicate").as_bool());
  BOOST_TEST(event_count() == before);
  // Invalid transition: 409 naming the state.
  BOOST_REQUIRE(
      call_event("k5", "call.started", {{"from_number", "+4930555"}}).status
      == 200);
  auto bad = call_event("k5", "call.ended");
  BOOST_TEST(bad.status == 409);
  BOOST_TEST(bad.body.find("call k5 is in state started") != std::string::npos);
  // Booking intent with a free slot: the caller is created (source phone)
  // and the appointment booked.
  auto r = call_event("k1", "call.analyzed", analysis(utc_at(2, 10)));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  auto call = r.json().at("call").as_object();
  BOOST_TEST(call.at("state").as_string() == "appointment_created");
  http_client c{port};
  auto appt = c.request(
      "GET",
      "/api/appointments/" + std::string{call.at("appointment_id").as_string()},
      "", acme);
  BOOST_TEST_INFO(appt.body);
  BOOST_TEST(appt.status == 200);
  // A second call wants the same slot: appointment failed, follow-up due.
  to_ended("k2", "+4930777");
  r = call_event("k2", "call.analyzed", analysis(utc_at(2, 10)));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  call = r.json().at("call").as_object();
  BOOST_TEST(call.at("state").as_string() == "follow_up_scheduled");
  BOOST_TEST(call.at("customer_id").as_string() == "cu1");
  // The call can be read by its company, and only by it.
  auto read = c.request("GET", "/api/calls/k2", "", acme);
  BOOST_TEST_INFO(read.body);
  BOOST_REQUIRE(read.status == 200);
  BOOST_TEST(read.json().at("state").as_string() == "follow_up_scheduled");
  BOOST_TEST(c.request("GET", "/api/calls/k2", "", globex).status == 404);
  // The confirmation SMS goes out after the 5 s notification delay.
  std::this_thread::sleep_for(6500ms);
  auto sms = outbox("sms");
  BOOST_REQUIRE(sms.size() == 1u);
  BOOST_TEST(sms[0].as_object().at("recipient").as_string() == "+4930123");
  // The follow-up is a delayed job (an hour later).
  auto q = c.request("GET", "/api/queues", "", admin);
  BOOST_TEST_INFO(q.body);
  // Delayed: the 24 h and 1 h reminders of the booking and the follow-up.
  auto qj = q.json();
  for (const auto& qv : qj.at("queues").as_array())
    if (qv.at("name").as_string() == "notifications")
      BOOST_TEST(qv.at("delayed").as_int64() == 3);
}

BOOST_FIXTURE_TEST_CASE(forged_stale_and_replayed_get_401, webhook_fixture) {
  auto before = event_count();
  auto body = json::serialize(
      json::object{{"id", "x1"},
                   {"type", "call.started"},
                   {"call_id", "k9"},
                   {"data", json::object{{"from_number", "+4930999"}}}});
  BOOST_TEST(post("/webhooks/calls/acme", body, 0, "wrong").status == 401);
  // Well signed, but for a company that does not exist.
  BOOST_TEST(post("/webhooks/calls/nosuchco", body).status == 404);
  BOOST_TEST(post("/webhooks/calls/acme", body, unix_now() - 3600).status
             == 401);
  http_client c{port};
  BOOST_TEST(c.request("POST", "/webhooks/calls/acme", body).status == 401);
  BOOST_TEST(event_count() == before);
  // A valid one, then the identical request again: a replay.
  auto t = std::to_string(unix_now());
  std::vector<std::pair<std::string, std::string>> h{
      {"X-Switchboard-Timestamp", t},
      {"X-Switchboard-Signature", sign(t, body)}};
  BOOST_TEST(c.request("POST", "/webhooks/calls/acme", body, "", h).status
             == 200);
  BOOST_TEST(c.request("POST", "/webhooks/calls/acme", body, "", h).status
             == 401);
  BOOST_TEST(event_count() == before + 1);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Every event of a trace's tree, depth first.
void flatten(const json::array& events, std::vector<json::object>& out) {
  for (const auto& e : events) {
    out.push_back(e.as_object());
    flatten(e.at("caused").as_array(), out);
  }
}

/// The event of `type` in `events`, or an empty object.
json::object event_of(const std::vector<json::object>& events,
                      const std::string& type) {
  for (const auto& e : events)
    if (e.at("type").as_string() == type)
      return e;
  return {};
}

} // namespace

BOOST_FIXTURE_TEST_CASE(call_trace_from_webhook_to_sms, webhook_fixture) {
  to_ended("t1", "+49 30 124");
  auto r = call_event("t1", "call.analyzed", analysis(utc_at(3, 11)));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  auto appt_id
      = std::string{r.json().at("call").at("appointment_id").as_string()};
  http_client c{port};
  // The confirmation goes out after its delay, written by the
  // notification's reader (no provider takes SMS here): its SMS joins the
  // trace under the appointment's event.
  json::object trace;
  json::object sms;
  for (int i = 0; i < 600 && sms.empty(); ++i) {
    auto t = c.request("GET", "/api/traces/t1", "", acme);
    BOOST_TEST_INFO(t.body);
    BOOST_REQUIRE(t.status == 200);
    trace = t.json().as_object();
    std::vector<json::object> all;
    flatten(trace.at("events").as_array(), all);
    for (const auto& e : all)
      if (e.at("type").as_string() == "appointment.created"
          && !e.at("messages").as_array().empty())
        sms = e.at("messages").at(0).as_object();
    if (sms.empty())
      std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST_INFO(json::serialize(trace));
  BOOST_REQUIRE(!sms.empty());
  BOOST_TEST(trace.at("correlation_id").as_string() == "t1");
  // The call's first event is a root; the appointment was caused by the
  // call's appointment_requested event and sits under it.
  const auto& roots = trace.at("events").as_array();
  BOOST_REQUIRE(!roots.empty());
  BOOST_TEST(roots.at(0).at("type").as_string() == "call.started");
  std::vector<json::object> all;
  flatten(roots, all);
  auto requested = event_of(all, "appointment.requested");
  BOOST_REQUIRE(!requested.empty());
  auto created = event_of(all, "appointment.created");
  BOOST_REQUIRE(!created.empty());
  BOOST_TEST(created.at("aggregate_id").as_string() == appt_id);
  BOOST_TEST(created.at("metadata").at("causation_id").as_string()
             == requested.at("id").as_string());
  bool under_requested = false;
  for (const auto& k : requested.at("caused").as_array())
    under_requested = under_requested || k.at("id") == created.at("id");
  BOOST_TEST(under_requested);
  for (const auto& e : all)
    BOOST_TEST(e.at("metadata").at("correlation_id").as_string() == "t1");
  // The SMS: caused by the appointment's event, sent to the caller.
  BOOST_TEST(sms.at("event_id") == created.at("id"));
  BOOST_TEST(sms.at("correlation_id").as_string() == "t1");
  BOOST_TEST(sms.at("channel").as_string() == "sms");
  BOOST_TEST(sms.at("recipient").as_string() == "+4930124");
  BOOST_TEST(sms.at("causation_id") == created.at("id"));
  BOOST_TEST(trace.at("message_count").as_int64() >= 1);
  // The outbox listing carries the same ids.
  bool listed = false;
  for (const auto& m : outbox("sms"))
    listed = listed
             || (m.at("id") == sms.at("id")
                 && m.at("correlation_id").as_string() == "t1");
  BOOST_TEST(listed);
  // Another company's token: 404, exactly as an id nobody has.
  auto theirs = c.request("GET", "/api/traces/t1", "", globex);
  auto nobody = c.request("GET", "/api/traces/t9", "", globex);
  BOOST_TEST(theirs.status == 404);
  BOOST_TEST(nobody.status == 404);
  auto masked = theirs.body;
  masked.replace(masked.find("t1"), 2, "t9");
  BOOST_TEST(masked == nobody.body);
  // The admin sees it.
  BOOST_TEST(c.request("GET", "/api/traces/t1", "", admin).status == 200);
}

BOOST_FIXTURE_TEST_CASE(commands_start_or_continue_a_correlation,
                        webhook_fixture) {
  http_client c{port};
  // A malformed header: 400 naming it, nothing stored.
  auto bad = c.request("POST", "/api/customers", R"({"id":"cu7","name":"Ida"})",
                       acme, {{"X-Correlation-Id", "has space"}});
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.body.find("X-Correlation-Id") != std::string::npos);
  BOOST_TEST(c.request("GET", "/api/customers/cu7", "", acme).status == 404);
  // Given: the command continues it, and says so.
  auto given
      = c.request("POST", "/api/customers", R"({"id":"cu7","name":"Ida"})",
                  acme, {{"X-Correlation-Id", "crm-sync:42"}});
  BOOST_TEST_INFO(given.body);
  BOOST_REQUIRE(given.status == 201);
  BOOST_TEST(given.header("x-correlation-id") == "crm-sync:42");
  auto t = c.request("GET", "/api/traces/crm-sync:42", "", acme);
  BOOST_TEST_INFO(t.body);
  BOOST_REQUIRE(t.status == 200);
  auto events = t.json().at("events").as_array();
  BOOST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0].at("type").as_string() == "customer.created");
  BOOST_TEST(events[0].at("aggregate_id").as_string() == "cu7");
  // None: a new correlation, returned.
  auto fresh = c.request("POST", "/api/customers",
                         R"({"id":"cu8","name":"Jo"})", acme);
  BOOST_REQUIRE(fresh.status == 201);
  auto id = fresh.header("x-correlation-id");
  BOOST_REQUIRE(!id.empty());
  auto t2 = c.request("GET", "/api/traces/" + id, "", acme);
  BOOST_TEST_INFO(t2.body);
  BOOST_REQUIRE(t2.status == 200);
  BOOST_TEST(t2.json().at("events").at(0).at("aggregate_id").as_string()
             == "cu8");
  BOOST_TEST(c.request("GET", "/api/traces/" + id, "", globex).status == 404);
  // A malformed id in the path: 422 naming it.
  auto odd = c.request("GET", "/api/traces/a%20b", "", acme);
  BOOST_TEST(odd.status == 422);
  BOOST_TEST(odd.body.find("correlation_id") != std::string::npos);
}
