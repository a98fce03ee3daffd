// Cal.com both ways against the real daemon. Inbound: the deliveries of
// tests/app/fixtures/calcom/ (Cal.com's payload shape), signed as Cal.com
// signs them, mapped through the company's table: accepted, redelivered
// (state changes once), forged, unmapped (422 naming what is missing).
// Outbound: a server started by the test plays Cal.com's API v2 and gets
// the create, the reschedule and the cancel by the booking uid the daemon
// stored from its answers.

#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/app/fixture_files.hpp"
#include "tests/support/hmac.hpp"
#include "tests/support/http_server.hpp"

using switchboard::test::http_answer;
using switchboard::test::http_record;
using switchboard::test::http_server;
using switchboard::test::str;

namespace {

/// Lowercase hex HMAC-SHA256 of `body` under `key`: X-Cal-Signature-256.
std::string cal_signature(const std::string& key, const std::string& body) {
  return switchboard::test::hmac(key, body);
}

/// A fixture delivery, as Cal.com would post it.
std::string fixture(const std::string& name) {
  return switchboard::test::fixture_text("calcom/" + name + ".json");
}

/// `text` as JSON with `change` applied to its payload object.
std::string with_payload(const std::string& text,
                         const std::function<void(json::object&)>& change) {
  auto v = json::parse(text);
  change(v.as_object().at("payload").as_object());
  return json::serialize(v);
}

constexpr const char* acme_secret = "acme-cal-secret";
constexpr const char* default_secret = "default-cal-secret";

struct calcom_fixture : daemon_fixture {
  explicit calcom_fixture(std::vector<std::string> sets = {})
      : daemon_fixture(with_default(std::move(sets))) {
    http_client c{port};
    seed_service(c, acme, "Anna");
    // Ada is a customer of acme already (her email in another case).
    succeeded(c.request("POST", "/api/customers",
                        R"({"id":"cu-ada","name":"Ada L.",
                     "email":"ADA@example.com","phone":"+4930123"})",
                        acme));
    auto r = c.request("PUT", "/api/integrations/calcom",
                       std::string{R"({"secret":")"} + acme_secret
                           + R"(","event_types":{"1201":"s1"},
                             "hosts":{"anna@salon.example":"st1"}})",
                       acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
  }

  static std::vector<std::string> with_default(std::vector<std::string> s) {
    s.push_back(std::string{"webhooks.calcom_secret="} + default_secret);
    return s;
  }

  http_reply deliver(const std::string& company, const std::string& body,
                     const std::string& key = acme_secret) {
    http_client c{port};
    return c.request("POST", "/webhooks/calcom/" + company, body, "",
                     {{"X-Cal-Signature-256", cal_signature(key, body)},
                      {"X-Cal-Webhook-Version", "2021-10-20"},
                      {"User-Agent", "Cal.com Webhooks"}});
  }

  /// Delivers `body` to acme and requires that it was accepted (200).
  http_reply accepted(const std::string& body) {
    auto r = deliver("acme", body);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    return r;
  }

  /// Delivers `body` to acme once more: accepted as a duplicate, nothing
  /// new stored.
  void redelivered(const std::string& body) {
    auto after = event_count();
    BOOST_TEST(accepted(body).json().at("duplicate").as_bool());
    BOOST_TEST(event_count() == after);
  }

  json::object appointment(const std::string& id,
                           const std::string& token = {}) {
    http_client c{port};
    auto r = c.request("GET", "/api/appointments/" + id, "",
                       token.empty() ? acme : token);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    return r.json().as_object();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(calcom_suite)

BOOST_FIXTURE_TEST_CASE(settings_are_the_companys_and_hide_the_secret,
                        calcom_fixture) {
  http_client c{port};
  auto r = c.request("GET", "/api/integrations/calcom", "", acme);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(str(r.json(), "secret") == "***");
  BOOST_TEST(r.body.find(acme_secret) == std::string::npos);
  BOOST_TEST(r.json().at("event_types").at("1201").as_string() == "s1");
  // A PUT without a secret keeps it; bad entries are named.
  r = c.request("PUT", "/api/integrations/calcom",
                R"({"event_types":{"1201":"s1"},
                    "hosts":{"ANNA@salon.example":"st1"}})",
                acme);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(str(r.json(), "secret") == "***");
  BOOST_TEST(r.json().at("hosts").at("anna@salon.example").as_string()
             == "st1");
  r = c.request("PUT", "/api/integrations/calcom",
                R"({"event_types":{"abc":"s1"},"hosts":{"nobody":"st1"},
                    "colour":1})",
                acme);
  BOOST_TEST(r.status == 422);
  for (const auto* field : {"event_types.abc", "hosts.nobody", "colour"})
    BOOST_TEST(r.body.find(field) != std::string::npos, field);
  // Globex sees its own (empty) settings; an admin names the company.
  r = c.request("GET", "/api/integrations/calcom", "", globex);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(str(r.json(), "secret") == "");
  BOOST_TEST(r.json().at("event_types").as_object().empty());
  r = c.request("GET", "/api/integrations/calcom?company_id=acme", "", admin);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(str(r.json(), "company_id") == "acme");
  BOOST_TEST(c.request("GET", "/api/integrations/calcom", "", admin).status
             == 422);
  // The CLI sets them beside the running daemon, from a file.
  auto file = dir.path() + "/globex-calcom.json";
  std::ofstream{file} << R"({"event_types":{"1201":"s1"},
                             "hosts":{"anna@salon.example":"st1"}})";
  auto cli = command({"tenant", "calcom", "globex", file});
  BOOST_TEST_INFO(cli.out);
  BOOST_REQUIRE(cli.rc == 0);
  r = c.request("GET", "/api/integrations/calcom", "", globex);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("event_types").at("1201").as_string() == "s1");
}

BOOST_FIXTURE_TEST_CASE(bookings_follow_calcom_once_each, calcom_fixture) {
  auto created = fixture("booking_created");
  auto before = event_count();
  // Forged: no signature, another key, the default key (acme has its own),
  // a signature of another body.
  http_client c{port};
  BOOST_TEST(c.request("POST", "/webhooks/calcom/acme", created).status == 401);
  BOOST_TEST(deliver("acme", created, "not-the-secret").status == 401);
  BOOST_TEST(deliver("acme", created, default_secret).status == 401);
  BOOST_TEST(c.request("POST", "/webhooks/calcom/acme", created, "",
                       {{"X-Cal-Signature-256",
                         cal_signature(acme_secret, created + " ")}})
                 .status
             == 401);
  // Unmapped: the event type, the host; nothing is stored.
  auto r = deliver("acme", with_payload(created, [](json::object& p) {
                     p["eventTypeId"] = 999;
                   }));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("payload.eventTypeId") != std::string::npos);
  BOOST_TEST(r.body.find("999") != std::string::npos);
  r = deliver("acme", with_payload(created, [](json::object& p) {
                p["organizer"].as_object()["email"] = "bob@salon.example";
              }));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("payload.organizer.email") != std::string::npos);
  BOOST_TEST(r.body.find("bob@salon.example") != std::string::npos);
  BOOST_TEST(event_count() == before);

  // Accepted: Ada (found by email) booked with Anna for the cut.
  r = accepted(created);
  BOOST_TEST(!r.json().at("duplicate").as_bool());
  auto id = str(r.json(), "id");
  auto a = appointment(id);
  BOOST_TEST(str(a, "customer_id") == "cu-ada");
  BOOST_TEST(str(a, "staff_id") == "st1");
  BOOST_TEST(str(a, "service_id") == "s1");
  BOOST_TEST(str(a, "start_time").rfind("2030-01-07T09:00:00", 0) == 0u);
  BOOST_TEST(str(a, "calcom_uid") == "bFJeNb2uX8ANpT3JL5EfXw");
  // Redelivered: accepted, nothing new.
  redelivered(created);

  // Rescheduled on Cal.com: a new uid names the original.
  auto moved = fixture("booking_rescheduled");
  accepted(moved);
  a = appointment(id);
  BOOST_TEST(str(a, "start_time").rfind("2030-01-07T11:00:00", 0) == 0u);
  BOOST_TEST(str(a, "calcom_uid") == "nX4qR7tLkP2mW9vZ1aB3cD");
  redelivered(moved);

  // Marked a no-show, then not; each once.
  auto no_show = fixture("booking_no_show_updated");
  accepted(no_show);
  BOOST_TEST(str(appointment(id), "status") == "no_show");
  redelivered(no_show);
  auto came = with_payload(no_show, [](json::object& p) {
    p["attendees"].as_array()[0].as_object()["noShow"] = false;
  });
  BOOST_REQUIRE(deliver("acme", came).status == 200);
  BOOST_TEST(str(appointment(id), "status") == "scheduled");

  // Cancelled by the new uid; the redelivery changes nothing.
  auto cancelled = fixture("booking_cancelled");
  accepted(cancelled);
  BOOST_TEST(str(appointment(id), "status") == "cancelled");
  redelivered(cancelled);
  // Its meeting's end, as Cal.com still sends it: nothing changes.
  auto after = event_count();
  r = accepted(with_payload(fixture("meeting_ended"), [](auto& p) {
    p["uid"] = "nX4qR7tLkP2mW9vZ1aB3cD";
  }));
  BOOST_TEST(r.json().at("duplicate").as_bool());
  BOOST_TEST(str(appointment(id), "status") == "cancelled");
  BOOST_TEST(event_count() == after);
  // A booking Cal.com never told us of: 422 naming the uid.
  r = deliver("acme", with_payload(cancelled, [](json::object& p) {
                p["uid"] = "never-seen-uid";
              }));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("payload.uid") != std::string::npos);
  BOOST_TEST(r.body.find("never-seen-uid") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_meeting_that_ended_completes_its_appointment,
                        calcom_fixture) {
  // Booked on Cal.com to start in three seconds.
  auto rfc3339 = [](std::chrono::system_clock::time_point t) {
    std::time_t s = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string{buf};
  };
  auto start = std::chrono::system_clock::now() + 4s;
  auto r
      = accepted(with_payload(fixture("booking_created"), [&](json::object& p) {
          p["startTime"] = rfc3339(start);
          p["endTime"] = rfc3339(start + 30min);
        }));
  auto id = str(r.json(), "id");
  std::this_thread::sleep_until(start + 1s);
  auto ended = fixture("meeting_ended");
  r = accepted(ended);
  BOOST_TEST(!r.json().at("duplicate").as_bool());
  BOOST_TEST(str(appointment(id), "status") == "completed");
  http_client c{port};
  auto events = c.request("GET", "/api/events/appointment/" + id, "", acme);
  BOOST_REQUIRE(events.status == 200);
  auto list = events.json();
  BOOST_REQUIRE(list.as_array().size() == 2u);
  BOOST_TEST(list.at(1).at("type").as_string() == "appointment.completed");
  BOOST_TEST(list.at(1).at("eventsource").as_string() == "calcom");
  // Redelivered: accepted, nothing new.
  redelivered(ended);
}

BOOST_FIXTURE_TEST_CASE(requested_then_rejected_with_a_new_web_customer,
                        calcom_fixture) {
  auto r = accepted(fixture("booking_requested"));
  auto id = str(r.json(), "id");
  auto a = appointment(id);
  BOOST_TEST(str(a, "status") == "scheduled");
  // Grace is new: created from the attendee, source web.
  auto customer = str(a, "customer_id");
  BOOST_TEST(customer != "cu-ada");
  http_client c{port};
  auto cu = c.request("GET", "/api/customers/" + customer, "", acme);
  BOOST_TEST_INFO(cu.body);
  BOOST_REQUIRE(cu.status == 200);
  BOOST_TEST(str(cu.json(), "name") == "Grace Hopper");
  BOOST_TEST(str(cu.json(), "phone") == "+12025550142");
  auto evs = c.request("GET", "/api/events/customer/" + customer, "", acme);
  BOOST_REQUIRE(evs.status == 200);
  bool from_web = evs.body.find(R"(\"source\":\"web\")") != std::string::npos
                  || evs.body.find(R"("source":"web")") != std::string::npos;
  BOOST_TEST(from_web, evs.body);
  // The host declines: the appointment is cancelled, once.
  auto rejected = fixture("booking_rejected");
  accepted(rejected);
  a = appointment(id);
  BOOST_TEST(str(a, "status") == "cancelled");
  redelivered(rejected);
}

BOOST_FIXTURE_TEST_CASE(another_company_cannot_reach_a_booking,
                        calcom_fixture) {
  auto r = deliver("acme", fixture("booking_created"));
  BOOST_REQUIRE(r.status == 200);
  auto id = str(r.json(), "id");
  // Globex has no secret of its own: the default signs for it. Its
  // deliveries naming acme's booking find nothing, and its map is empty.
  auto before = event_count();
  r = deliver("globex", fixture("booking_rescheduled"), default_secret);
  BOOST_TEST_INFO(r.body);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("payload.rescheduleUid") != std::string::npos);
  r = deliver("globex",
              with_payload(fixture("booking_cancelled"),
                           [](json::object& p) {
                             p["uid"] = "bFJeNb2uX8ANpT3JL5EfXw";
                           }),
              default_secret);
  BOOST_TEST(r.status == 422);
  r = deliver("globex", fixture("booking_created"), default_secret);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("payload.eventTypeId") != std::string::npos);
  BOOST_TEST(event_count() == before);
  BOOST_TEST(str(appointment(id), "status") == "scheduled");
  // Well signed for a company that does not exist.
  BOOST_TEST(
      deliver("nosuchco", fixture("booking_created"), default_secret).status
      == 404);
}

BOOST_AUTO_TEST_CASE(bookings_reach_calcom_and_keep_its_uid) {
  // Cal.com's API v2: the create answers the booking with its uid, the
  // reschedule the new booking with a new uid, the cancel the booking.
  http_server cal{[](int n) {
    if (n == 1)
      return http_answer{201, R"({"status":"success","data":{"id":501,
          "uid":"cal-uid-1","status":"accepted"}})"};
    if (n == 2)
      return http_answer{201, R"({"status":"success","data":{"id":502,
          "uid":"cal-uid-2","status":"accepted",
          "rescheduledFromUid":"cal-uid-1"}})"};
    return http_answer{200, R"({"status":"success","data":{"id":502,
        "uid":"cal-uid-2","status":"cancelled"}})"};
  }};
  calcom_fixture f{{"providers.calcom_base_url=" + cal.url(),
                    "providers.calcom_api_key=cal_test_key"}};
  http_client c{f.port};
  succeeded(c.request("POST", "/api/appointments",
                      R"({"id":"ap1","customer_id":"cu-ada",
                                   "service_id":"s1","staff_id":"st1",
                                   "start_time":"2030-01-07T09:00:00Z"})",
                      f.acme));
  BOOST_REQUIRE(eventually(
      [&] {
        return str(f.appointment("ap1"), "calcom_uid") == "cal-uid-1";
      },
      1min));
  auto reqs = cal.requests();
  BOOST_REQUIRE(reqs.size() == 1u);
  const auto& create = reqs[0];
  BOOST_TEST(create.method == "POST");
  BOOST_TEST(create.target == "/v2/bookings");
  BOOST_TEST(create.headers.at("cal-api-version") == "2024-08-13");
  BOOST_TEST(create.headers.at("authorization") == "Bearer cal_test_key");
  auto body = json::parse(create.body).as_object();
  BOOST_TEST(str(body, "start").rfind("2030-01-07T09:00:00", 0) == 0u);
  BOOST_TEST(body.at("eventTypeId").as_int64() == 1201);
  const auto& attendee = body.at("attendee");
  BOOST_TEST(str(attendee, "name") == "Ada L.");
  BOOST_TEST(str(attendee, "email") == "ADA@example.com");
  BOOST_TEST(str(attendee, "phoneNumber") == "+4930123");
  BOOST_TEST(str(attendee, "timeZone") == "UTC");
  BOOST_TEST(str(body.at("metadata"), "appointment_id") == "ap1");

  // Cal.com's BOOKING_CREATED of that booking comes back: nothing new.
  auto before = f.event_count();
  auto echo = f.deliver(
      "acme", with_payload(fixture("booking_created"), [](json::object& p) {
        p["uid"] = "cal-uid-1";
      }));
  BOOST_TEST_INFO(echo.body);
  BOOST_REQUIRE(echo.status == 200);
  BOOST_TEST(echo.json().at("duplicate").as_bool());
  BOOST_TEST(str(echo.json(), "id") == "ap1");
  BOOST_TEST(f.event_count() == before);

  // Moved here: Cal.com reschedules the booking by its uid.
  succeeded(c.request("PATCH", "/api/appointments/ap1",
                      R"({"start_time":"2030-01-07T10:00:00Z"})", f.acme));
  BOOST_REQUIRE(eventually(
      [&] {
        return str(f.appointment("ap1"), "calcom_uid") == "cal-uid-2";
      },
      1min));
  reqs = cal.requests();
  BOOST_REQUIRE(reqs.size() == 2u);
  BOOST_TEST(reqs[1].method == "POST");
  BOOST_TEST(reqs[1].target == "/v2/bookings/cal-uid-1/reschedule");
  BOOST_TEST(reqs[1].headers.at("cal-api-version") == "2024-08-13");
  BOOST_TEST(
      str(json::parse(reqs[1].body), "start").rfind("2030-01-07T10:00:00", 0)
      == 0u);

  // The uid is an event: it survives a restart.
  f.stop();
  f.start();
  http_client c2{f.port};
  BOOST_TEST(str(f.appointment("ap1"), "calcom_uid") == "cal-uid-2");

  // Cancelled here: Cal.com cancels the newest booking.
  succeeded(c2.request("POST", "/api/appointments/ap1/cancel",
                       R"({"reason":"Caught a cold"})", f.acme));
  BOOST_REQUIRE(eventually(
      [&] {
        return cal.requests().size() >= 3u;
      },
      1min));
  reqs = cal.requests();
  BOOST_REQUIRE(reqs.size() == 3u);
  BOOST_TEST(reqs[2].target == "/v2/bookings/cal-uid-2/cancel");
  BOOST_TEST(str(json::parse(reqs[2].body), "cancellationReason")
             == "Caught a cold");
  // Changes that came from Cal.com are not sent back to it.
  auto r = f.deliver("acme", fixture("booking_created"));
  BOOST_REQUIRE(r.status == 200);
  BOOST_REQUIRE(eventually(
      [&] {
        auto q = c2.request("GET", "/api/queues", "", f.admin);
        if (q.status != 200)
          return false;
        auto qj = q.json();
        for (const auto& qv : qj.at("queues").as_array())
          if (qv.at("name").as_string() == "default")
            return qv.at("ready").as_int64() == 0
                   && qv.at("leased").as_int64() == 0
                   && qv.at("delayed").as_int64() == 0;
        return false;
      },
      1min));
  BOOST_TEST(cal.requests().size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
