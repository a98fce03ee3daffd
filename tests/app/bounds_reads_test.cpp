// Reads of a company's large data against the real daemon: calendars
// rebuilt from their staff members' appointments with one live actor,
// and appointment lists paged by cursor on the reading threads, never in
// front of the gateway's.

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/bounds_fixture.hpp"
#include "tests/app/daemon_names.hpp"

using switchboard::test::day;

namespace {

/// A service (s1) of `minutes`, two customers (cu1, cu2) and two staff
/// members (st1, st2) of company `token`.
void seed_two_each(http_client& c, const std::string& token, int minutes) {
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                        "duration_minutes":)"
                        + std::to_string(minutes) + "}",
                    token));
  for (const char* cu : {"cu1", "cu2"})
    created(c.request("POST", "/api/customers",
                      std::string{R"({"id":")"} + cu + R"(","name":"Ada"})",
                      token));
  for (const char* st : {"st1", "st2"})
    created(c.request("POST", "/api/staff",
                      std::string{R"({"id":")"} + st + R"(","name":"Bo"})",
                      token));
}

} // namespace

BOOST_AUTO_TEST_SUITE(bounds_suite)

BOOST_AUTO_TEST_CASE(calendars_rebuild_from_their_staff_members_appointments) {
  // One live actor at most: every calendar is rebuilt from the store
  // (the staff member's appointments) each time it is needed again.
  daemon_fixture d{{"aggregates.max_live=1"}};
  http_client c{d.port};
  seed_two_each(c, d.acme, 60);
  auto date = day(3);
  auto book = [&](const std::string& id, const std::string& staff,
                  const std::string& customer, const std::string& hour) {
    json::object b{{"id", id},
                   {"customer_id", customer},
                   {"service_id", "s1"},
                   {"staff_id", staff},
                   {"start_time", date + "T" + hour + ":00:00Z"}};
    return c.request("POST", "/api/appointments", json::serialize(b), d.acme);
  };
  created(book("a1", "st1", "cu1", "10"));
  created(book("a2", "st2", "cu2", "12"));
  // a1 moves to st2 at 14:00: st1 is free at 10 again, st2 is taken at 14.
  auto moved = c.request(
      "PATCH", "/api/appointments/a1",
      R"({"staff_id":"st2","start_time":")" + date + R"(T14:00:00Z"})", d.acme);
  BOOST_TEST_INFO(moved.body);
  BOOST_REQUIRE(moved.status == 200);
  // Other calendars' work passivates these ones in between.
  created(book("a3", "st1", "cu2", "16"));
  BOOST_TEST(book("a4", "st2", "cu1", "14").status == 409);
  created(book("a5", "st1", "cu1", "10"));
  BOOST_TEST(book("a6", "st2", "cu1", "12").status == 409);
  BOOST_TEST(book("a7", "st1", "cu1", "16").status == 409);
  auto slots = [&](const std::string& staff) {
    auto r = c.request("GET",
                       "/api/availability?service_id=s1&date=" + date
                           + "&staff_id=" + staff,
                       "", d.acme);
    BOOST_REQUIRE(r.status == 200);
    std::set<std::string> out;
    auto body = r.json();
    for (const auto& v : body.at("slots").as_array())
      out.insert(std::string{v.as_string()});
    return out;
  };
  auto st2 = slots("st2");
  BOOST_TEST(st2.count(date + "T10:00:00Z") == 1u);
  BOOST_TEST(st2.count(date + "T12:00:00Z") == 0u);
  BOOST_TEST(st2.count(date + "T14:00:00Z") == 0u);
  // The lists read the staff member's, the customer's and the company's
  // appointments.
  auto ids = [&](const std::string& query) {
    auto r = c.request("GET", "/api/appointments" + query, "", d.acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    return strings_of(r.json().at("appointments"), "id");
  };
  BOOST_TEST(ids("?staff_id=st1") == (std::vector<std::string>{"a5", "a3"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids("?staff_id=st2") == (std::vector<std::string>{"a2", "a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids("?customer_id=cu1") == (std::vector<std::string>{"a5", "a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids("").size() == 4u);
  BOOST_TEST(ids("?staff_id=st1&customer_id=cu2")
                 == (std::vector<std::string>{"a3"}),
             boost::test_tools::per_element());
  // Another company sees none of them.
  auto other = c.request("GET", "/api/appointments?staff_id=st1", "", d.globex);
  BOOST_REQUIRE(other.status == 200);
  BOOST_TEST(other.json().at("appointments").as_array().empty());
}

BOOST_AUTO_TEST_CASE(appointment_lists_page_by_cursor_off_the_gateway) {
  // One reading thread: listings queue behind each other there, never in
  // front of /health or a booking on the gateway's threads.
  daemon_fixture d{{"http.read_threads=1"}};
  http_client c{d.port};
  seed_two_each(c, d.acme, 30);
  // 240 appointments, booked latest first, half of them cancelled, each
  // also moved once: a history of 480 appointment events.
  constexpr int n = 240;
  // 40 a day, 15 minutes apart from 06:00 (each staff member's 30 apart).
  auto at = [](int i) {
    auto minutes = 360 + (i % 40) * 15;
    char buf[16];
    std::snprintf(buf, sizeof buf, "T%02d:%02d:00Z", minutes / 60,
                  minutes % 60);
    return day(2 + i / 40) + buf;
  };
  // Boost.Test is not thread-safe: the writers keep their failures here.
  std::mutex failed_mtx;
  std::vector<std::string> failed;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      http_client wc{d.port};
      auto expect = [&](const http_reply& r, int status) {
        if (r.status != status) {
          std::lock_guard<std::mutex> lk{failed_mtx};
          failed.push_back(std::to_string(r.status) + " " + r.body);
        }
      };
      for (int i = n - 1 - w; i >= 0; i -= 4) {
        json::object b{{"id", "a" + std::to_string(i)},
                       {"customer_id", i % 3 == 0 ? "cu1" : "cu2"},
                       {"service_id", "s1"},
                       {"staff_id", i % 2 == 0 ? "st1" : "st2"},
                       {"start_time", at(i)}};
        expect(
            wc.request("POST", "/api/appointments", json::serialize(b), d.acme),
            201);
        if (i % 4 < 2)
          expect(
              wc.request("POST",
                         "/api/appointments/a" + std::to_string(i) + "/cancel",
                         "", d.acme),
              200);
      }
    });
  for (auto& t : writers)
    t.join();
  BOOST_TEST(failed.empty());
  for (const auto& f : failed)
    BOOST_TEST_MESSAGE(f);
  // The company's newest events (no cursor), read backwards from its
  // last one: the last ones of a walk from the start.
  auto sequences = [&](const std::string& query) {
    auto r = c.request("GET", "/api/events" + query, "", d.acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    return strings_of(r.json(), "sequence");
  };
  auto walked = sequences("?type=appointment.cancelled&after=0&limit=1000");
  BOOST_REQUIRE(walked.size() == static_cast<std::size_t>(n / 2));
  BOOST_TEST(sequences("?type=appointment.cancelled&limit=5")
                 == std::vector<std::string>(walked.end() - 5, walked.end()),
             boost::test_tools::per_element());
  // Pages through a filter: every appointment once, in start order, a
  // cursor after every page but the last.
  auto walk = [&](const std::string& query, std::size_t limit) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int pages = 0;; ++pages) {
      BOOST_REQUIRE(pages <= n);
      auto sep = query.empty() ? "?" : "&";
      auto r = c.request("GET",
                         "/api/appointments" + query + sep
                             + "limit=" + std::to_string(limit)
                             + (cursor.empty() ? "" : "&cursor=" + cursor),
                         "", d.acme);
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 200);
      auto body = r.json().as_object();
      const auto& page = body.at("appointments").as_array();
      BOOST_TEST(page.size() <= limit);
      std::string previous;
      for (const auto& v : page) {
        ids.emplace_back(v.at("id").as_string());
        std::string start{v.at("start_time").as_string()};
        BOOST_TEST(previous <= start);
        previous = start;
      }
      if (body.at("next").is_null())
        break;
      BOOST_TEST(page.size() == limit);
      cursor = std::string{body.at("next").as_string()};
    }
    return ids;
  };
  auto expect = [&](auto keep) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i)
      if (keep(i))
        out.push_back("a" + std::to_string(i));
    return out;
  };
  BOOST_TEST(walk("", 50) == expect([](int) {
               return true;
             }),
             boost::test_tools::per_element());
  BOOST_TEST(walk("?status=cancelled", 7) == expect([](int i) {
               return i % 4 < 2;
             }),
             boost::test_tools::per_element());
  BOOST_TEST(walk("?staff_id=st1&status=scheduled", 11) == expect([](int i) {
               return i % 2 == 0 && i % 4 >= 2;
             }),
             boost::test_tools::per_element());
  BOOST_TEST(walk("?staff_id=st2&customer_id=cu1", 5) == expect([](int i) {
               return i % 2 == 1 && i % 3 == 0;
             }),
             boost::test_tools::per_element());
  BOOST_TEST(walk("?customer_id=cu1&from=" + day(3) + "T00:00:00Z&to=" + day(4)
                      + "T00:00:00Z",
                  3)
                 == expect([](int i) {
                      return i % 3 == 0 && i / 40 == 1;
                    }),
             boost::test_tools::per_element());
  // A page exactly as long as what is left ends with no cursor.
  auto all = c.request("GET", "/api/appointments?limit=1000", "", d.acme);
  BOOST_REQUIRE(all.status == 200);
  BOOST_TEST(all.json().at("appointments").as_array().size()
             == static_cast<std::size_t>(n));
  BOOST_TEST(all.json().at("next").is_null());
  // A cursor is checked, and names its field.
  auto bad = c.request("GET", "/api/appointments?cursor=a1.zz", "", d.acme);
  BOOST_TEST(bad.status == 422);
  BOOST_TEST(bad.body.find("cursor") != std::string::npos);
  bad = c.request("GET", "/api/appointments?staff_id=a%2Fb", "", d.acme);
  BOOST_TEST(bad.status == 422);
  BOOST_TEST(bad.body.find("staff_id") != std::string::npos);
  // Another company's token, even with acme's cursor, sees nothing of it.
  auto first = c.request("GET", "/api/appointments?limit=2", "", d.acme);
  auto cursor = std::string{first.json().at("next").as_string()};
  auto other
      = c.request("GET", "/api/appointments?cursor=" + cursor, "", d.globex);
  BOOST_REQUIRE(other.status == 200);
  BOOST_TEST(other.json().at("appointments").as_array().empty());
  BOOST_TEST(other.json().at("next").is_null());
  // Listings in a flood, from several clients at once: /health and a
  // booking of another company are answered while they queue, and every
  // listing answers with its full first page and a cursor.
  std::atomic<bool> stop{false};
  std::atomic<int> listed{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> flood;
  for (int f = 0; f < 6; ++f)
    flood.emplace_back([&] {
      http_client fc{d.port};
      while (!stop) {
        auto r = fc.request("GET", "/api/appointments?limit=100", "", d.acme);
        if (r.status == 200
            && r.json().at("appointments").as_array().size() == 100
            && r.json().at("next").is_string())
          ++listed;
        else if (r.status != 429)
          ++wrong;
      }
    });
  http_client g{d.port};
  created(g.request("POST", "/api/services",
                    R"({"id":"gs","name":"Cut","price_cents":100,
                        "duration_minutes":30})",
                    d.globex));
  created(
      g.request("POST", "/api/staff", R"({"id":"gst","name":"Cy"})", d.globex));
  created(g.request("POST", "/api/customers", R"({"id":"gcu","name":"Di"})",
                    d.globex));
  // (No fatal checks while the flood runs: its threads must be joined.)
  for (int i = 0; i < 20; ++i) {
    BOOST_TEST(g.request("GET", "/health", "", "").status == 200);
    json::object b{{"id", "g" + std::to_string(i)},
                   {"customer_id", "gcu"},
                   {"service_id", "gs"},
                   {"staff_id", "gst"},
                   {"start_time", at(2 * i)}};
    auto booked
        = g.request("POST", "/api/appointments", json::serialize(b), d.globex);
    BOOST_TEST_INFO(booked.body);
    BOOST_TEST(booked.status == 201);
    auto mine = g.request("GET", "/api/appointments?limit=1", "", d.globex);
    BOOST_TEST(mine.status == 200);
    if (mine.status == 200)
      BOOST_TEST(mine.json().at("appointments").as_array().size() == 1u);
  }
  while (listed < 20)
    std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& t : flood)
    t.join();
  BOOST_TEST(wrong == 0);
}

BOOST_AUTO_TEST_SUITE_END()
