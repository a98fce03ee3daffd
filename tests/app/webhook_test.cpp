// Webhooks against the real daemon: signed call-provider deliveries drive
// the call workflow through to notification jobs; forged, stale and
// replayed deliveries get 401 and store nothing. (Cal.com: calcom_test.)

#include <chrono>
#include <ctime>
#include <thread>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/app/daemon_fixture.hpp"

using namespace std::chrono_literals;
using switchboard::test::daemon_fixture;
using switchboard::test::http_client;
using switchboard::test::http_reply;
namespace json = boost::json;

namespace {

constexpr const char* secret = "whsec-test";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sign(const std::string& ts, const std::string& body,
                 const std::string& key = secret) {
  auto text = ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
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

std::string slot(int days, int hour) {
  auto secs = unix_now();
  std::time_t t = secs - secs % 86400 + days * 86400 + hour * 3600;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct webhook_fixture : daemon_fixture {
  webhook_fixture()
      : daemon_fixture(
          {std::string{"webhooks.call_provider_secret="} + secret}) {
    http_client c{port};
    auto ok = [&](const http_reply& r) {
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 201);
    };
    ok(c.request("POST", "/api/services",
                 R"({"id":"s1","name":"Cut","price_cents":4500,
                     "duration_minutes":30})",
                 acme));
    ok(c.request("POST", "/api/staff", R"({"id":"st1","name":"Bo"})", acme));
    ok(c.request("POST", "/api/customers",
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
  auto r = call_event("k1", "call.analyzed", analysis(slot(2, 10)));
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
  r = call_event("k2", "call.analyzed", analysis(slot(2, 10)));
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
