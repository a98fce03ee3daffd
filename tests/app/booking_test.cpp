// Customers, staff, services and appointments over HTTP against the real
// daemon: the booking flow, bad input, the double-booking race, and a
// kill -9 during a booking load.

#include <atomic>
#include <ctime>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

namespace {

struct booking_fixture : daemon_fixture {
  booking_fixture() {
    seed(port, acme,
         R"({"id":"cu1","name":"Ada","phone":"+4930123",
             "email":"ada@example.com","prefers_sms":true,
             "prefers_email":true})");
  }

  http_reply book(http_client& c, const std::string& id,
                  const std::string& start) {
    return switchboard::test::book(c, acme, id, start);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(booking_suite)

BOOST_FIXTURE_TEST_CASE(book_read_reschedule_cancel, booking_fixture) {
  http_client c{port};
  auto r = book(c, "a1", utc_at(2, 10));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
  BOOST_TEST(r.json().at("price_cents").as_int64() == 4500);
  auto got = c.request("GET", "/api/appointments/a1", "", acme);
  BOOST_REQUIRE(got.status == 200);
  BOOST_TEST(got.json().at("staff_id").as_string() == "st1");
  // Another company cannot see it.
  BOOST_TEST(c.request("GET", "/api/appointments/a1", "", globex).status
             == 404);
  auto moved = c.request("PATCH", "/api/appointments/a1",
                         "{\"start_time\":\"" + utc_at(2, 11) + "\"}", acme);
  BOOST_TEST_INFO(moved.body);
  BOOST_REQUIRE(moved.status == 200);
  BOOST_TEST(moved.json().at("version").as_int64() == 2);
  // The old slot is free again; the new one is taken.
  BOOST_TEST(book(c, "a2", utc_at(2, 10)).status == 201);
  BOOST_TEST(book(c, "a3", utc_at(2, 11)).status == 409);
  auto cancelled = c.request("POST", "/api/appointments/a1/cancel",
                             R"({"reason":"ill"})", acme);
  BOOST_REQUIRE(cancelled.status == 200);
  BOOST_TEST(cancelled.json().at("status").as_string() == "cancelled");
  BOOST_TEST(c.request("POST", "/api/appointments/a1/cancel", "", acme).status
             == 409);
  // The list shows a2 scheduled and a1 cancelled, filterable.
  auto list = c.request("GET", "/api/appointments?staff_id=st1", "", acme);
  BOOST_REQUIRE(list.status == 200);
  BOOST_TEST(list.json().at("appointments").as_array().size() == 2u);
  auto scheduled
      = c.request("GET", "/api/appointments?status=scheduled", "", acme);
  BOOST_REQUIRE(scheduled.status == 200);
  BOOST_REQUIRE(scheduled.json().at("appointments").as_array().size() == 1u);
  BOOST_TEST(scheduled.json().at("appointments").at(0).at("id").as_string()
             == "a2");
  BOOST_TEST(c.request("GET", "/api/appointments", "", globex)
                 .json()
                 .at("appointments")
                 .as_array()
                 .empty());
  BOOST_TEST(c.request("GET", "/api/appointments?from=soon", "", acme).status
             == 422);
  // The stream holds created, updated, cancelled.
  auto events = c.request("GET", "/api/events/appointment/a1", "", acme);
  BOOST_REQUIRE(events.status == 200);
  BOOST_TEST(events.json().as_array().size() == 3u);
}

BOOST_FIXTURE_TEST_CASE(an_appointment_is_completed_once_it_has_started,
                        booking_fixture) {
  http_client c{port};
  // Booked to start in three seconds (a booking must be in the future).
  auto starts = std::chrono::system_clock::now() + 3s;
  std::time_t t = std::chrono::system_clock::to_time_t(starts) + 1;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char start[32];
  std::strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%SZ", &tm);
  auto r = book(c, "a1", start);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
  auto early = c.request("POST", "/api/appointments/a1/complete", "", acme);
  BOOST_TEST_INFO(early.body);
  BOOST_TEST(early.status == 409);
  BOOST_TEST(early.body.find("has not started yet") != std::string::npos);
  BOOST_TEST(
      c.request("POST", "/api/appointments/a1/complete", "[]", acme).status
      == 400);
  // Another company's token finds no such appointment, before or after.
  BOOST_TEST(
      c.request("POST", "/api/appointments/a1/complete", "", globex).status
      == 404);
  http_reply done;
  for (int i = 0; i < 100; ++i) {
    done = c.request("POST", "/api/appointments/a1/complete", "{}", acme);
    if (done.status != 409)
      break;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST_INFO(done.body);
  BOOST_REQUIRE(done.status == 200);
  BOOST_TEST(done.json().at("status").as_string() == "completed");
  BOOST_TEST(done.json().at("version").as_int64() == 2);
  auto again = c.request("POST", "/api/appointments/a1/complete", "", acme);
  BOOST_TEST(again.status == 409);
  BOOST_TEST(again.body.find("is completed") != std::string::npos);
  auto events = c.request("GET", "/api/events/appointment/a1", "", acme);
  BOOST_REQUIRE(events.status == 200);
  auto list = events.json();
  BOOST_REQUIRE(list.as_array().size() == 2u);
  BOOST_TEST(list.at(1).at("type").as_string() == "appointment.completed");
  // The analytics count it and its price, for acme only.
  bool counted = false;
  for (int i = 0; i < 100 && !counted; ++i) {
    auto a = c.request("GET", "/api/analytics", "", acme).json();
    auto& appts = a.at("appointments").as_object();
    counted = appts.contains("completed")
              && appts.at("completed").as_int64() == 1
              && appts.at("completed_value_cents").as_int64() == 4500;
    if (!counted)
      std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(counted);
  // Ada prefers SMS and email: a thank-you note on each.
  std::size_t notes = 0;
  for (int i = 0; i < 100 && notes < 2; ++i) {
    auto out = c.request("GET", "/api/outbox?limit=100", "", acme).json();
    notes = 0;
    for (const auto& m : out.at("messages").as_array())
      notes += m.at("subject").as_string() == "Thank you for your visit";
    if (notes < 2)
      std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(notes == 2u);
  auto other = c.request("GET", "/api/analytics", "", globex).json();
  BOOST_TEST(!other.at("appointments").as_object().contains("completed"));
}

BOOST_FIXTURE_TEST_CASE(bad_input_is_refused_and_nothing_stored,
                        booking_fixture) {
  http_client c{port};
  auto before = event_count();
  auto r = c.request("POST", "/api/appointments",
                     R"({"customer_id":7,"staff_id":"st1",
                         "start_time":"tomorrow"})",
                     acme);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 422);
  auto fields = r.json().at("error").at("fields").as_object();
  BOOST_TEST(fields.contains("customer_id"));
  BOOST_TEST(fields.contains("service_id"));
  BOOST_TEST(fields.contains("start_time"));
  BOOST_TEST(c.request("POST", "/api/appointments", "{not json", acme).status
             == 400);
  BOOST_TEST(c.request("POST", "/api/customers",
                       R"({"name":"X","email":"nope","source":"fax"})", acme)
                 .status
             == 422);
  // A stale If-Match is a conflict naming the version.
  auto stale = c.request("PATCH", "/api/customers/cu1", R"({"name":"Eve"})",
                         acme, {{"If-Match", "\"9\""}});
  BOOST_TEST_INFO(stale.body);
  BOOST_TEST(stale.status == 409);
  BOOST_TEST(stale.body.find("version 1") != std::string::npos);
  BOOST_TEST(
      c.request("PATCH", "/api/customers/cu1", R"({"name":"Eve"})", globex)
          .status
      == 404);
  BOOST_TEST(event_count() == before);
  auto avail = c.request("GET", "/api/availability?staff_id=st1", "", acme);
  BOOST_TEST(avail.status == 422);
}

BOOST_FIXTURE_TEST_CASE(fifty_concurrent_bookings_of_one_slot,
                        booking_fixture) {
  auto start = utc_at(3, 9);
  auto count = race(50, [&](int i) {
    http_client c{port};
    return book(c, "race" + std::to_string(i), start);
  });
  BOOST_TEST(count.created == 1);
  BOOST_TEST(count.conflicts == 49);
  BOOST_TEST(count.other == 0);
}

BOOST_FIXTURE_TEST_CASE(availability_follows_bookings, booking_fixture) {
  http_client c{port};
  auto date = utc_at(4, 0).substr(0, 10);
  auto path = "/api/availability?staff_id=st1&service_id=s1&date=" + date;
  auto a = c.request("GET", path, "", acme);
  BOOST_TEST_INFO(a.body);
  BOOST_REQUIRE(a.status == 200);
  auto before = a.json().at("slots").as_array().size();
  BOOST_TEST(before == 48u); // no working hours set: the whole day
  BOOST_REQUIRE(book(c, "a1", utc_at(4, 10)).status == 201);
  auto b = c.request("GET", path, "", acme);
  BOOST_REQUIRE(b.status == 200);
  BOOST_TEST(b.json().at("slots").as_array().size() == before - 1);
}

namespace {

/// Books from 4 connections until `sig` stops the daemon, then restarts it
/// and checks that every booking that got a 201 is there.
void stop_during_a_booking_load(int sig) {
  switchboard::test::temp_dir dir;
  std::set<std::string> acked;
  std::string token;
  auto start_daemon
      = [&](std::unique_ptr<child_process>& proc, std::uint16_t& port) {
          proc = std::make_unique<child_process>(std::vector<std::string>{
              SWITCHBOARD_BINARY, "serve", "--config",
              std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini", "--set",
              "store.path=" + dir.path() + "/data", "--set", "http.port=0",
              // Small stream index flush cycles: the stop lands in one.
              "--set", "store.stream_index_batch=50"});
          port = switchboard::test::listening_port(*proc);
        };
  std::unique_ptr<child_process> proc;
  std::uint16_t port = 0;
  start_daemon(proc, port);
  {
    child_process cli({SWITCHBOARD_BINARY, "tenant", "add", "acme", "--set",
                       "store.path=" + dir.path() + "/data"});
    std::string line;
    while (cli.read_line(line, 10s))
      if (line.rfind("sb_", 0) == 0)
        token = line;
    BOOST_REQUIRE(cli.wait(10s) == 0);
  }
  {
    http_client c{port};
    BOOST_REQUIRE(c.request("POST", "/api/customers",
                            R"({"id":"cu1","name":"Ada"})", token)
                      .status
                  == 201);
    BOOST_REQUIRE(c.request("POST", "/api/services",
                            R"({"id":"s1","name":"Cut","price_cents":100,
                                "duration_minutes":5})",
                            token)
                      .status
                  == 201);
    BOOST_REQUIRE(
        c.request("POST", "/api/staff", R"({"id":"st1","name":"Bo"})", token)
            .status
        == 201);
  }
  std::mutex mtx;
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&, t] {
      http_client c{port};
      for (int i = 0; !stop; ++i) {
        auto id = "k" + std::to_string(t) + "-" + std::to_string(i);
        // Distinct 5-minute slots, days ahead, more than can be booked
        // before the kill.
        if (i >= 288 * 100)
          break;
        auto start = utc_at(2 + t * 100 + i / 288, 0, 5 * (i % 288));
        json::object b{{"id", id},
                       {"customer_id", "cu1"},
                       {"service_id", "s1"},
                       {"staff_id", "st1"},
                       {"start_time", start}};
        http_reply r;
        try {
          r = c.request("POST", "/api/appointments", json::serialize(b), token);
        } catch (...) {
          return; // the daemon died
        }
        if (r.status == 201) {
          std::lock_guard<std::mutex> g{mtx};
          acked.insert(id);
        }
      }
    });
  std::this_thread::sleep_for(1500ms);
  auto before_kill = [&] {
    std::lock_guard<std::mutex> g{mtx};
    return acked.size();
  }();
  proc->signal(sig);
  // SIGTERM: in-flight bookings finish, then a clean exit.
  BOOST_TEST(proc->wait(30s) == (sig == SIGKILL ? 128 + SIGKILL : 0));
  BOOST_TEST_INFO(proc->output());
  if (sig == SIGTERM)
    BOOST_TEST(proc->output().find("store closed") != std::string::npos);
  stop = true;
  for (auto& t : load)
    t.join();
  BOOST_TEST_MESSAGE(acked.size()
                     << " bookings got a 201 before signal " << sig);
  BOOST_REQUIRE(before_kill > 0u);
  start_daemon(proc, port);
  http_client c{port};
  for (const auto& id : acked) {
    auto r = c.request("GET", "/api/appointments/" + id, "", token);
    BOOST_TEST_INFO(id << ": " << r.body);
    BOOST_TEST(r.status == 200);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(kill_9_during_a_booking_load_keeps_every_201) {
  stop_during_a_booking_load(SIGKILL);
}

BOOST_AUTO_TEST_CASE(
    sigterm_during_a_booking_load_stops_cleanly_and_keeps_every_201) {
  stop_during_a_booking_load(SIGTERM);
}

BOOST_AUTO_TEST_SUITE_END()
