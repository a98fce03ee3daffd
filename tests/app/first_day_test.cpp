// What a new user hits on the first day, against the real daemon: commands
// that change nothing, stale and malformed If-Match, concurrent updates,
// services a staff member does not perform, customer merges, notifications
// of an appointment moved within the delay, and the HTTP details (encoded
// slashes, Expect: 100-continue, duplicate Authorization, filters).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

namespace {

struct first_day : daemon_fixture {
  first_day() {
    http_client c{port};
    created(c.request("POST", "/api/customers",
                      R"({"id":"cu1","name":"Ada","phone":"+4930123",
                     "prefers_sms":true})",
                      acme));
    created(post_service(c, acme, "s1", "Cut", 4500, 30));
    created(post_service(c, acme, "s2", "Colour", 9000, 60));
    created(post_staff(c, acme, "st1", "Bo"));
  }

  http_reply book(http_client& c, const std::string& id,
                  const std::string& start, const std::string& staff = "st1",
                  const std::string& service = "s1",
                  const std::string& customer = "cu1") {
    return switchboard::test::book(c, acme, id, start, customer, service,
                                   staff);
  }

  /// The SMS bodies in acme's outbox, oldest first.
  std::vector<std::string> sms() {
    http_client c{port};
    auto r = c.request("GET", "/api/outbox?channel=sms", "", acme);
    BOOST_REQUIRE(r.status == 200);
    return strings_of(r.json().at("messages"), "body");
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(first_day_suite)

// A PATCH that changes nothing, or carries a stale If-Match, answers at
// once (it waited 30 s for a response that was never sent, then 504).
BOOST_FIXTURE_TEST_CASE(commands_that_change_nothing_answer_at_once,
                        first_day) {
  http_client c{port, 5s};
  auto start = utc_at(2, 10);
  BOOST_REQUIRE(book(c, "a1", start).status == 201);
  auto began = std::chrono::steady_clock::now();
  auto same = c.request("PATCH", "/api/appointments/a1",
                        "{\"start_time\":\"" + start + "\"}", acme);
  BOOST_TEST_INFO(same.body);
  BOOST_TEST(same.status == 200);
  BOOST_TEST(same.header("etag") == "\"1\"");
  auto same_staff = c.request("PATCH", "/api/appointments/a1",
                              R"({"staff_id":"st1"})", acme);
  BOOST_TEST(same_staff.status == 200);
  auto stale = c.request("PATCH", "/api/appointments/a1",
                         "{\"start_time\":\"" + utc_at(2, 11) + "\"}", acme,
                         {{"If-Match", "\"7\""}});
  BOOST_TEST_INFO(stale.body);
  BOOST_TEST(stale.status == 409);
  BOOST_TEST(stale.body.find("at version 1, expected 7") != std::string::npos);
  // A stale If-Match on a change of nothing is a conflict too.
  auto stale_same
      = c.request("PATCH", "/api/customers/cu1", R"({"name":"Ada"})", acme,
                  {{"If-Match", "\"3\""}});
  BOOST_TEST(stale_same.status == 409);
  BOOST_TEST((std::chrono::steady_clock::now() - began < 5s));
  // Nothing was stored by any of them.
  auto events = c.request("GET", "/api/events/appointment/a1", "", acme);
  BOOST_TEST(events.json().as_array().size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(if_match_is_parsed_strictly, first_day) {
  http_client c{port, 5s};
  for (const char* bad : {"\"2abc\"", "\"-1\"", "W/\"1\"", "\"1\", \"2\"",
                          "\"99999999999999999999\"", "\"\""}) {
    auto r = c.request("PATCH", "/api/customers/cu1", R"({"name":"Eve"})", acme,
                       {{"If-Match", bad}});
    BOOST_TEST_INFO(bad << ": " << r.body);
    BOOST_TEST(r.status == 422);
    BOOST_TEST(r.body.find("If-Match") != std::string::npos);
  }
  // `*` matches any current version (RFC 9110).
  auto any = c.request("PATCH", "/api/customers/cu1", R"({"name":"Eve"})", acme,
                       {{"If-Match", "*"}});
  BOOST_TEST_INFO(any.body);
  BOOST_TEST(any.status == 200);
  auto exact = c.request("PATCH", "/api/customers/cu1", R"({"name":"Ida"})",
                         acme, {{"If-Match", "\"2\""}});
  BOOST_TEST(exact.status == 200);
  BOOST_TEST(exact.header("etag") == "\"3\"");
}

// Without If-Match, concurrent updates serialize and all succeed (the
// entity decided against a state that was not yet committed, and 15 of 20
// failed on a version).
BOOST_FIXTURE_TEST_CASE(concurrent_updates_without_if_match_all_succeed,
                        first_day) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&, i] {
      http_client c{port};
      auto r = c.request("PATCH", "/api/customers/cu1",
                         "{\"name\":\"Ada " + std::to_string(i) + "\"}", acme);
      auto s = c.request("PATCH", "/api/staff/st1",
                         "{\"name\":\"Bo " + std::to_string(i) + "\"}", acme);
      if (r.status == 200 && s.status == 200)
        ++ok;
    });
  for (auto& t : threads)
    t.join();
  BOOST_TEST(ok.load() == 20);
  http_client c{port};
  BOOST_TEST(c.request("GET", "/api/customers/cu1", "", acme)
                 .json()
                 .at("version")
                 .as_int64()
             == 21);
}

BOOST_FIXTURE_TEST_CASE(staff_perform_only_their_services, first_day) {
  http_client c{port};
  auto r = c.request("POST", "/api/staff",
                     R"({"id":"st2","name":"Cy","service_ids":["s2"]})", acme);
  BOOST_REQUIRE(r.status == 201);
  auto date = utc_at(2, 0).substr(0, 10);
  auto offered = c.request(
      "GET", "/api/availability?staff_id=st2&service_id=s1&date=" + date, "",
      acme);
  BOOST_TEST_INFO(offered.body);
  BOOST_TEST(offered.status == 422);
  BOOST_TEST(offered.body.find("does not perform") != std::string::npos);
  auto refused = book(c, "a1", utc_at(2, 10), "st2", "s1");
  BOOST_TEST_INFO(refused.body);
  BOOST_TEST(refused.status == 422);
  BOOST_TEST(refused.body.find("service_id") != std::string::npos);
  BOOST_TEST(book(c, "a2", utc_at(2, 10), "st2", "s2").status == 201);
  // Nor can an appointment of s1 be handed to st2.
  BOOST_REQUIRE(book(c, "a3", utc_at(2, 12)).status == 201);
  auto moved = c.request("PATCH", "/api/appointments/a3",
                         R"({"staff_id":"st2"})", acme);
  BOOST_TEST(moved.status == 422);
  BOOST_TEST(
      c.request("GET",
                "/api/availability?staff_id=st2&service_id=s2&date=" + date, "",
                acme)
          .status
      == 200);
}

BOOST_FIXTURE_TEST_CASE(merges_are_exclusive_and_leave_tombstones, first_day) {
  http_client c{port};
  for (const char* id : {"cA", "cB", "cC"})
    created(c.request(
        "POST", "/api/customers",
        std::string{"{\"id\":\""} + id + "\",\"name\":\"" + id + "\"}", acme));
  // A into B while B into A: exactly one wins, whatever the timing.
  std::atomic<int> won{0};
  auto merge = [&](const std::string& into, const std::string& merged) {
    http_client x{port};
    if (x.request("POST", "/api/customers/" + into + "/merge",
                  R"({"merged_id":")" + merged + R"("})", acme)
            .status
        == 200)
      ++won;
  };
  std::thread t1([&] {
    merge("cA", "cB");
  });
  std::thread t2([&] {
    merge("cB", "cA");
  });
  t1.join();
  t2.join();
  BOOST_TEST(won.load() == 1);
  auto a = c.request("GET", "/api/customers/cA", "", acme).json().as_object();
  auto b = c.request("GET", "/api/customers/cB", "", acme).json().as_object();
  bool a_gone = a.if_contains("merged_into") != nullptr;
  bool b_gone = b.if_contains("merged_into") != nullptr;
  BOOST_REQUIRE(a_gone != b_gone);
  std::string gone = a_gone ? "cA" : "cB";
  std::string kept = a_gone ? "cB" : "cA";
  BOOST_TEST((a_gone ? a : b).at("merged_into").as_string() == kept);
  // The tombstone is never merged, changed or booked again.
  auto again = c.request("POST", "/api/customers/cC/merge",
                         "{\"merged_id\":\"" + gone + "\"}", acme);
  BOOST_TEST_INFO(again.body);
  BOOST_TEST(again.status == 422);
  BOOST_TEST(again.body.find("merged_id") != std::string::npos);
  BOOST_TEST(c.request("POST", "/api/customers/" + gone + "/merge",
                       R"({"merged_id":"cC"})", acme)
                 .status
             == 409);
  BOOST_TEST(
      c.request("PATCH", "/api/customers/" + gone, R"({"name":"X"})", acme)
          .status
      == 409);
  auto booked = book(c, "a1", utc_at(2, 10), "st1", "s1", gone);
  BOOST_TEST_INFO(booked.body);
  BOOST_TEST(booked.status == 422);
  BOOST_TEST(booked.body.find("customer_id") != std::string::npos);
  // A cycle through a third customer is refused as well.
  BOOST_TEST(c.request("POST", "/api/customers/cC/merge",
                       "{\"merged_id\":\"" + kept + "\"}", acme)
                 .status
             == 200);
  BOOST_TEST(c.request("POST", "/api/customers/" + kept + "/merge",
                       R"({"merged_id":"cC"})", acme)
                 .status
             == 409);
}

// Booked, then moved within the notification delay: the customer gets one
// confirmation, of the new time, and no notice of a move before it.
BOOST_FIXTURE_TEST_CASE(a_move_within_the_delay_is_confirmed_once, first_day) {
  http_client c{port};
  BOOST_REQUIRE(book(c, "a1", utc_at(2, 9, 45)).status == 201);
  auto moved
      = c.request("PATCH", "/api/appointments/a1",
                  "{\"start_time\":\"" + utc_at(2, 13, 30) + "\"}", acme);
  BOOST_REQUIRE(moved.status == 200);
  // A cancelled one is not confirmed at all.
  BOOST_REQUIRE(book(c, "a2", utc_at(3, 9)).status == 201);
  BOOST_REQUIRE(
      c.request("POST", "/api/appointments/a2/cancel", "", acme).status == 200);
  auto count = [](const std::vector<std::string>& msgs, const char* word) {
    return std::count_if(msgs.begin(), msgs.end(), [word](const auto& m) {
      return m.find(word) != std::string::npos;
    });
  };
  std::vector<std::string> got;
  for (int i = 0; i < 150 && count(got, "confirmed") == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    got = sms();
  }
  std::this_thread::sleep_for(2s); // anything else queued goes out too
  got = sms();
  std::string all;
  for (const auto& m : got)
    all += m + "\n";
  BOOST_TEST_INFO(all);
  // a1: one confirmation, at the new time, and no notice of the move;
  // a2: a notice of the cancellation, no confirmation.
  BOOST_TEST(got.size() == 2u);
  BOOST_TEST(count(got, "confirmed") == 1);
  BOOST_TEST(count(got, "moved") == 0);
  BOOST_TEST(count(got, utc_at(2, 13, 30).c_str()) == 1);
  BOOST_TEST(count(got, utc_at(2, 9, 45).c_str()) == 0);
  BOOST_TEST(count(got, "cancelled") == 1);
  BOOST_TEST(count(got, utc_at(3, 9).c_str()) == 1);
}

BOOST_FIXTURE_TEST_CASE(http_details, first_day) {
  http_client c{port, 5s};
  // An encoded slash stays in its segment: it does not reach the merge
  // action, and an id cannot be split by it.
  auto encoded = c.request("POST", "/api/customers/cu1%2Fmerge",
                           R"({"merged_id":"cu1"})", acme);
  BOOST_TEST(encoded.status == 405);
  BOOST_TEST(c.request("GET", "/api/customers/c%75%31", "", acme).status
             == 200);
  // Duplicate Authorization headers are refused.
  auto dup = c.raw("GET /api/customers/cu1 HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer "
                   + acme + "\r\nAuthorization: Bearer " + globex
                   + "\r\nConnection: close\r\n\r\n");
  BOOST_TEST_INFO(dup.body);
  BOOST_TEST(dup.status == 400);
  BOOST_TEST(dup.body.find("Authorization") != std::string::npos);
  // Filters name the bad value and the allowed ones.
  auto bogus = c.request("GET", "/api/appointments?status=bogus", "", acme);
  BOOST_TEST(bogus.status == 422);
  BOOST_TEST(bogus.body.find("scheduled") != std::string::npos);
  // Expect: 100-continue gets the interim answer before the body is sent.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s{io};
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  std::string body = R"({"name":"Cy"})";
  std::string head = "POST /api/customers HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer "
                     + acme
                     + "\r\nContent-Type: application/json\r\n"
                       "Expect: 100-continue\r\nContent-Length: "
                     + std::to_string(body.size()) + "\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(head));
  timeval tv{2, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  boost::system::error_code ec;
  boost::asio::read_until(s, boost::asio::dynamic_buffer(got), "\r\n\r\n", ec);
  BOOST_TEST_INFO(ec.message());
  BOOST_TEST(got.rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
  boost::asio::write(s, boost::asio::buffer(body));
  got.erase(0, got.find("\r\n\r\n") + 4);
  boost::asio::read_until(s, boost::asio::dynamic_buffer(got), "\r\n\r\n", ec);
  BOOST_TEST(got.rfind("HTTP/1.1 201", 0) == 0);
}

BOOST_FIXTURE_TEST_CASE(cli_filters_name_the_allowed_values, first_day) {
  auto run = [&](std::vector<std::string> args) {
    auto r = command(std::move(args), 20s);
    return std::pair{r.rc, r.out};
  };
  auto [rc1, out1] = run({"outbox", "--channel", "fax"});
  BOOST_TEST_INFO(out1);
  BOOST_TEST(rc1 != 0);
  BOOST_TEST(out1.find("fax") != std::string::npos);
  BOOST_TEST(out1.find("whatsapp") != std::string::npos);
  auto [rc2, out2] = run({"events", "--type", "nope"});
  BOOST_TEST_INFO(out2);
  BOOST_TEST(rc2 != 0);
  BOOST_TEST(out2.find("appointment.created") != std::string::npos);
  auto [rc3, out3] = run({"events", "--type", "customer.created"});
  BOOST_TEST(rc3 == 0);
}

BOOST_FIXTURE_TEST_CASE(analytics_can_be_read_per_company, first_day) {
  http_client c{port};
  BOOST_REQUIRE(book(c, "a1", utc_at(2, 10)).status == 201);
  json::object report;
  for (int i = 0; i < 100; ++i) {
    auto r = c.request("GET", "/api/analytics", "", acme);
    BOOST_REQUIRE(r.status == 200);
    report = r.json().as_object();
    if (report.at("appointments").at("count").as_int64() == 1)
      break;
    std::this_thread::sleep_for(100ms);
  }
  const auto& appts = report.at("appointments").as_object();
  BOOST_TEST(appts.at("count").as_int64() == 1);
  BOOST_TEST(appts.at("value_cents").as_int64() == 4500);
  BOOST_TEST(appts.at("by_staff").at("st1").as_int64() == 1);
  BOOST_TEST(appts.at("by_service").at("s1").as_int64() == 1);
  BOOST_TEST(appts.at("by_source").at("api").as_int64() == 1);
  BOOST_TEST(report.at("customers").at("count").as_int64() == 1);
  // Another company sees only its own.
  auto other = c.request("GET", "/api/analytics", "", globex);
  BOOST_TEST(other.json().at("appointments").at("count").as_int64() == 0);
  BOOST_TEST(c.request("GET", "/api/analytics", "", admin).status == 422);
  BOOST_TEST(
      c.request("GET", "/api/analytics?company_id=acme", "", admin).status
      == 200);
  // The CLI shows the same figures.
  auto cli = command({"analytics", "acme", "--json"}, 20s);
  std::string found;
  std::istringstream lines{cli.out};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.front() == '{')
      found = line;
  BOOST_TEST(cli.rc == 0);
  BOOST_REQUIRE(!found.empty());
  BOOST_TEST(json::parse(found).at("appointments").at("by_staff").at("st1")
             == 1);
}

// The access log, when on, has a line per request naming the route
// template, the status and the company.
BOOST_AUTO_TEST_CASE(access_log_names_route_status_and_company) {
  daemon_fixture d{{"http.access_log_sample=1"}};
  http_client c{d.port};
  BOOST_TEST(c.request("GET", "/api/customers/nobody", "", d.acme).status
             == 404);
  auto line = d.proc->wait_for("GET /api/customers/{id} 404", 10s);
  BOOST_TEST_INFO(d.proc->output());
  BOOST_TEST(line.find("company=acme") != std::string::npos);
  BOOST_TEST(line.find("http.access") != std::string::npos);
}

// A company in Europe/Berlin: working hours are its wall-clock times, on
// both sides of the 2027 transitions, and customers are told local times.
BOOST_FIXTURE_TEST_CASE(time_zones_of_companies, first_day) {
  auto tenant_cmd = [&](std::vector<std::string> targs) {
    targs.insert(targs.begin(), "tenant");
    auto r = command(std::move(targs), 20s);
    return std::pair{r.rc, r.out};
  };
  auto [bad_rc, bad_out] = tenant_cmd({"time-zone", "acme", "Mars/Olympus"});
  BOOST_TEST(bad_rc == 2);
  BOOST_TEST(bad_out.find("Mars/Olympus") != std::string::npos);
  auto [rc, out] = tenant_cmd({"time-zone", "acme", "Europe/Berlin"});
  BOOST_TEST_INFO(out);
  BOOST_REQUIRE(rc == 0);
  http_client c{port};
  auto company = c.request("GET", "/api/company", "", acme);
  BOOST_REQUIRE(company.status == 200);
  BOOST_TEST(company.json().at("time_zone").as_string() == "Europe/Berlin");
  BOOST_TEST(c.request("GET", "/api/company", "", globex)
                 .json()
                 .at("time_zone")
                 .as_string()
             == "UTC");
  // Mondays 09:00-17:00 local.
  BOOST_REQUIRE(c.request("PUT", "/api/staff/st1/working-hours",
                          R"({"working_hours":[{"day":"monday",
                              "start_minute":540,"end_minute":1020}]})",
                          acme)
                    .status
                == 200);
  auto first_slot = [&](const std::string& date) {
    auto r = c.request(
        "GET", "/api/availability?staff_id=st1&service_id=s1&date=" + date, "",
        acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    auto body = r.json();
    const auto& slots = body.at("slots").as_array();
    BOOST_REQUIRE(slots.size() == 16u);
    return std::string{slots.front().as_string()};
  };
  BOOST_TEST(first_slot("2027-03-22") == "2027-03-22T09:00:00+01:00");
  BOOST_TEST(first_slot("2027-03-29") == "2027-03-29T09:00:00+02:00");
  BOOST_TEST(first_slot("2027-10-25") == "2027-10-25T09:00:00+02:00");
  BOOST_TEST(first_slot("2027-11-01") == "2027-11-01T09:00:00+01:00");
  // 09:00 summer time is 07:00 UTC; 08:30 local is before the hours.
  BOOST_TEST(book(c, "early", "2027-03-29T08:30:00+02:00").status == 422);
  auto booked = book(c, "a1", "2027-03-29T07:00:00Z");
  BOOST_TEST_INFO(booked.body);
  BOOST_REQUIRE(booked.status == 201);
  // The customer is told the local time (a cancellation goes out at once).
  BOOST_REQUIRE(
      c.request("POST", "/api/appointments/a1/cancel", "", acme).status == 200);
  std::vector<std::string> got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    std::this_thread::sleep_for(100ms);
    got = sms();
  }
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].find("2027-03-29T09:00:00+02:00") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
