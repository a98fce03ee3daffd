// Retell AI webhooks against the real daemon: the deliveries of
// tests/app/fixtures/retell/, signed as Retell signs them, drive the call
// workflow to a booking; redelivered (state changes once), forged, stale,
// a call that never connected, and the company's field map.

#include <chrono>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/app/fixture_files.hpp"
#include "tests/support/hmac.hpp"

using switchboard::test::str;

namespace {

constexpr const char* retell_key = "key_retell_test";

std::int64_t now_ms() {
  return unix_time<std::chrono::milliseconds>();
}

/// `x-retell-signature` for `body` at `ms` under `key`.
std::string retell_signature(const std::string& body, std::int64_t ms,
                             const std::string& key = retell_key) {
  return "v=" + std::to_string(ms)
         + ",d=" + switchboard::test::hmac(key, body + std::to_string(ms));
}

std::string fixture(const std::string& name) {
  return switchboard::test::fixture_text("retell/" + name + ".json");
}

constexpr const char* call_id = "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6";

struct retell_fixture : daemon_fixture {
  retell_fixture()
      : daemon_fixture({std::string{"webhooks.retell_api_key="} + retell_key}) {
    http_client c{port};
    seed_service(c, acme, "Anna");
  }

  http_reply deliver(const std::string& body, std::int64_t ms = 0,
                     const std::string& key = retell_key,
                     const std::string& company = "acme") {
    http_client c{port};
    return c.request("POST", "/webhooks/retell/" + company, body, "",
                     {{"x-retell-signature",
                       retell_signature(body, ms == 0 ? now_ms() : ms, key)},
                      {"User-Agent", "Retell-Webhook"}});
  }

  json::value call(const std::string& id = call_id) {
    http_client c{port};
    auto r = c.request("GET", "/api/calls/" + id, "", acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    return r.json();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(retell_suite)

BOOST_FIXTURE_TEST_CASE(a_call_from_started_to_a_booking_once, retell_fixture) {
  auto started = fixture("call_started");
  auto r = deliver(started);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 204);
  BOOST_TEST(str(call(), "state") == "in_progress");
  BOOST_TEST(str(call(), "from_number") == "+4930555123");
  // Redelivered (Retell retries): a fresh signature, nothing new.
  auto before = event_count();
  BOOST_REQUIRE(deliver(started).status == 204);
  BOOST_TEST(event_count() == before);

  r = deliver(fixture("call_ended"));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 204);
  BOOST_TEST(str(call(), "state") == "ended");

  auto analyzed = fixture("call_analyzed");
  r = deliver(analyzed);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 204);
  auto c = call();
  BOOST_TEST(str(c, "state") == "appointment_created");
  BOOST_TEST(str(c.at("analysis"), "sentiment") == "positive");
  BOOST_TEST(str(c.at("analysis"), "summary")
             == "Ada wants a cut on 7 January at 15:00.");
  BOOST_TEST(str(c.at("analysis").at("extra"), "wants_reminder") == "true");
  http_client h{port};
  auto a = h.request("GET", "/api/appointments/" + str(c, "appointment_id"), "",
                     acme);
  BOOST_TEST_INFO(a.body);
  BOOST_REQUIRE(a.status == 200);
  BOOST_TEST(str(a.json(), "service_id") == "s1");
  BOOST_TEST(str(a.json(), "staff_id") == "st1");
  BOOST_TEST(str(a.json(), "start_time").rfind("2030-01-07T15:00:00", 0) == 0u);
  before = event_count();
  BOOST_REQUIRE(deliver(analyzed).status == 204);
  BOOST_REQUIRE(deliver(fixture("call_ended")).status == 204);
  BOOST_TEST(event_count() == before);
  // Another company cannot read the call.
  BOOST_TEST(
      h.request("GET", std::string{"/api/calls/"} + call_id, "", globex).status
      == 404);
}

BOOST_FIXTURE_TEST_CASE(forged_and_stale_deliveries_get_401, retell_fixture) {
  auto body = fixture("call_started");
  auto before = event_count();
  http_client c{port};
  BOOST_TEST(c.request("POST", "/webhooks/retell/acme", body).status == 401);
  BOOST_TEST(deliver(body, 0, "key_someone_else").status == 401);
  // Stale: signed six minutes ago, or six minutes ahead.
  BOOST_TEST(deliver(body, now_ms() - 6 * 60 * 1000).status == 401);
  BOOST_TEST(deliver(body, now_ms() + 6 * 60 * 1000).status == 401);
  // Signed over another body; malformed headers.
  auto ms = now_ms();
  BOOST_TEST(
      c.request("POST", "/webhooks/retell/acme", body, "",
                {{"x-retell-signature", retell_signature(body + " ", ms)}})
          .status
      == 401);
  for (const auto* bad : {"v=,d=00", "d=abc", "sha256=abc", "v=12x,d=ab"})
    BOOST_TEST(c.request("POST", "/webhooks/retell/acme", body, "",
                         {{"x-retell-signature", bad}})
                       .status
                   == 401,
               bad);
  BOOST_TEST(event_count() == before);
  // Well signed for no company.
  BOOST_TEST(deliver(body, 0, retell_key, "nosuchco").status == 404);
  // Not Retell's shape: 422 naming the field.
  auto r = deliver(R"({"event":"call_exploded","call":{}})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("\"event\"") != std::string::npos);
  BOOST_TEST(r.body.find("call.call_id") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_call_that_never_connected_ends, retell_fixture) {
  // call_ended without call_started: the call is recorded and ended.
  auto r = deliver(fixture("call_ended_not_connected"));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 204);
  auto c = call("Qm2zK8wXvN4pL1rT6yB9cF3hJ5dG7sA0");
  BOOST_TEST(str(c, "state") == "ended");
  BOOST_TEST(str(c, "from_number") == "+4930555777");
  // A late call_started of it changes nothing.
  auto before = event_count();
  auto late = json::parse(fixture("call_started"));
  late.at("call").as_object()["call_id"] = "Qm2zK8wXvN4pL1rT6yB9cF3hJ5dG7sA0";
  BOOST_REQUIRE(deliver(json::serialize(late)).status == 204);
  BOOST_TEST(event_count() == before);
  BOOST_TEST(str(call("Qm2zK8wXvN4pL1rT6yB9cF3hJ5dG7sA0"), "state") == "ended");
}

BOOST_FIXTURE_TEST_CASE(the_companys_map_reads_its_own_keys, retell_fixture) {
  http_client c{port};
  auto r = c.request("GET", "/api/integrations/retell", "", acme);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(str(r.json().at("fields"), "preferred_start")
             == "preferred_start");
  r = c.request("PUT", "/api/integrations/retell",
                R"({"fields":{"colour":"x","service_id":""}})", acme);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("fields.colour") != std::string::npos);
  BOOST_TEST(r.body.find("fields.service_id") != std::string::npos);
  r = c.request("PUT", "/api/integrations/retell",
                R"({"fields":{"service_id":"treatment",
                    "preferred_start":"slot"}})",
                acme);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(str(r.json().at("fields"), "service_id") == "treatment");
  BOOST_TEST(str(r.json().at("fields"), "staff_id") == "staff_id");
  // Globex keeps the defaults.
  r = c.request("GET", "/api/integrations/retell", "", globex);
  BOOST_TEST(str(r.json().at("fields"), "service_id") == "service_id");

  auto analyzed = json::parse(fixture("call_analyzed"));
  auto& data = analyzed.at("call")
                   .at("call_analysis")
                   .at("custom_analysis_data")
                   .as_object();
  data = {{"treatment", "s1"},
          {"staff_id", "st1"},
          {"slot", "2030-01-08T10:00:00Z"},
          {"mood", "cheerful"}};
  r = deliver(json::serialize(analyzed));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 204);
  auto call_state = call();
  BOOST_TEST(str(call_state, "state") == "appointment_created");
  BOOST_TEST(str(call_state.at("analysis").at("extra"), "mood") == "cheerful");
  auto a = c.request("GET",
                     "/api/appointments/" + str(call_state, "appointment_id"),
                     "", acme);
  BOOST_REQUIRE(a.status == 200);
  BOOST_TEST(str(a.json(), "start_time").rfind("2030-01-08T10:00:00", 0) == 0u);
  // A value the request cannot take: 422 naming it.
  auto other = json::parse(json::serialize(analyzed));
  other.at("call").as_object()["call_id"] = "call-two";
  other.at("call")
      .at("call_analysis")
      .at("custom_analysis_data")
      .as_object()["slot"]
      = "next Tuesday";
  r = deliver(json::serialize(other));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("preferred_start") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
