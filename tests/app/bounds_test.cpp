// Bounded resources against the real daemon: one client or one company
// cannot take the daemon from the others (descriptors, memory held by idle
// connections, actors spawned for unknown ids, caches, request rates).
// A company's backlog is in bounds_backlog_test.cpp, reads of large
// calendars and listings in bounds_reads_test.cpp.

#include <cstdlib>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <app/http/limits.hpp>

#include "tests/app/bounds_fixture.hpp"
#include "tests/app/daemon_names.hpp"
#include "tests/support/sanitizers.hpp"

using switchboard::test::day;

namespace {

/// Lines of the daemon's output read within `window` that contain `needle`.
std::size_t count_lines(daemon_fixture& d, const std::string& needle,
                        std::chrono::milliseconds window) {
  auto until = std::chrono::steady_clock::now() + window;
  std::size_t n = 0;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    if (!d.proc->read_line(line, left))
      continue;
    if (line.find(needle) != std::string::npos)
      ++n;
  }
  return n;
}

/// The daemon's count of live aggregate actors (GET /ready, which shows
/// it to admin tokens).
std::int64_t live_aggregates(const daemon_fixture& d) {
  http_client c{d.port};
  auto r = c.request("GET", "/ready", "", d.admin);
  BOOST_REQUIRE(r.status == 200);
  return r.json().at("live_aggregates").as_int64();
}
} // namespace

BOOST_AUTO_TEST_SUITE(bounds_suite)

BOOST_AUTO_TEST_CASE(running_out_of_descriptors_backs_off_and_recovers) {
  // 256 descriptors, hard limit too: the daemon cannot raise it, caps its
  // connections below it, and more clients than descriptors wait in the
  // listen backlog.
  daemon_fixture d{{"http.read_timeout_ms=60000"},
                   {"/usr/bin/prlimit", "--nofile=256:256"}};
  BOOST_TEST_INFO(d.proc->output());
  BOOST_TEST(d.proc->output().find("http.max_connections 1024 lowered to 192")
             != std::string::npos);
  boost::asio::io_context ioc;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> idle;
  for (int i = 0; i < 400; ++i) {
    auto s = std::make_unique<boost::asio::ip::tcp::socket>(ioc);
    boost::system::error_code ec;
    s->connect({boost::asio::ip::make_address("127.0.0.1"), d.port}, ec);
    BOOST_REQUIRE(!ec);
    idle.push_back(std::move(s));
  }
  // Accept fails with EMFILE for the connections beyond the descriptors:
  // reported at most once a second, not once per retry.
  auto failures = count_lines(d, "accept failed", 4s);
  BOOST_TEST(failures >= 1u);
  BOOST_TEST(failures <= 6u);
  // Once the clients go, the daemon answers again.
  idle.clear();
  http_client c{d.port};
  auto deadline = std::chrono::steady_clock::now() + 20s;
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = c.request("GET", "/health").status;
    if (status != 200)
      std::this_thread::sleep_for(200ms);
  }
  BOOST_TEST_INFO("the daemon wrote: " << d.proc->output());
  BOOST_TEST(status == 200);
}

BOOST_AUTO_TEST_CASE(idle_connections_give_back_large_answers) {
  // Freed memory goes back to the system at once, so that RSS shows what
  // the daemon still holds.
  ::setenv("MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0", 1);
  daemon_fixture d;
  ::unsetenv("MALLOC_CONF");
  http_client c{d.port};
  // A staff member performing 1,000 services of 127-byte ids: an answer
  // of about 130 kB (every string and list is bounded, this is near the
  // largest an aggregate can be).
  json::array ids;
  for (int i = 0; i < 1000; ++i) {
    auto id = std::to_string(i);
    ids.emplace_back(id + std::string(127 - id.size(), 'x'));
  }
  auto made
      = c.request("POST", "/api/staff",
                  json::serialize(json::object{
                      {"id", "big"}, {"name", "Big"}, {"service_ids", ids}}),
                  d.acme);
  BOOST_TEST_INFO(made.body);
  BOOST_REQUIRE(made.status == 201);
  BOOST_REQUIRE(c.request("GET", "/api/staff/big", "", d.acme).status == 200);
  std::this_thread::sleep_for(300ms);
  auto before = memory_bytes(d.proc->pid(), "VmRSS");
  BOOST_REQUIRE(before > 0);
  // 300 keep-alive connections that each fetched the 130 kB staff member
  // and stay open.
  std::vector<std::unique_ptr<http_client>> clients;
  for (int i = 0; i < 300; ++i) {
    clients.push_back(std::make_unique<http_client>(d.port));
    auto r = clients.back()->request("GET", "/api/staff/big", "", d.acme);
    BOOST_REQUIRE(r.status == 200);
    BOOST_REQUIRE(r.body.size() > 128000u);
  }
  std::this_thread::sleep_for(500ms);
  auto after = memory_bytes(d.proc->pid(), "VmRSS");
  BOOST_TEST_MESSAGE("rss before " << before << " after " << after);
  // Kept, they would hold about 40 MB (the answer, and the read buffer).
  if (switchboard::test::memory_is_measurable)
    BOOST_TEST(after < before + (20u << 20));
}

BOOST_AUTO_TEST_CASE(unknown_ids_cost_no_actor) {
  daemon_fixture d;
  http_client c{d.port};
  seed(c, d.acme, R"({"id":"cu1","name":"Ada"})");
  created(c.request("POST", "/api/staff", R"({"id":"gx1","name":"Gus"})",
                    d.globex));
  auto base = live_aggregates(d);
  auto date = day(2);
  for (int i = 0; i < 50; ++i) {
    auto r = c.request("GET",
                       "/api/availability?service_id=s1&date=" + date
                           + "&staff_id=nobody" + std::to_string(i),
                       "", d.acme);
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 404);
  }
  // Another company's staff member is unknown here, and costs nothing.
  BOOST_TEST(c.request("GET",
                       "/api/availability?service_id=s1&date=" + date
                           + "&staff_id=gx1",
                       "", d.acme)
                 .status
             == 404);
  auto book = [&](const std::string& staff) {
    json::object b{{"customer_id", "cu1"},
                   {"service_id", "s1"},
                   {"staff_id", staff},
                   {"start_time", date + "T10:00:00Z"}};
    return c.request("POST", "/api/appointments", json::serialize(b), d.acme);
  };
  for (const char* staff : {"nobody", "gx1"}) {
    auto r = book(staff);
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 422);
    BOOST_TEST(r.body.find("staff_id") != std::string::npos);
  }
  BOOST_TEST(
      c.request("PATCH", "/api/customers/nobody", R"({"name":"X"})", d.acme)
          .status
      == 404);
  BOOST_TEST(live_aggregates(d) == base);
  // A known staff member gets a calendar.
  auto ok = c.request(
      "GET", "/api/availability?service_id=s1&date=" + date + "&staff_id=st1",
      "", d.acme);
  BOOST_TEST_INFO(ok.body);
  BOOST_TEST(ok.status == 200);
  BOOST_TEST(book("st1").status == 201);
  BOOST_TEST(live_aggregates(d) == base + 1);
}

BOOST_AUTO_TEST_CASE(live_aggregates_are_capped) {
  daemon_fixture d{{"aggregates.max_live=3"}};
  http_client c{d.port};
  for (int i = 0; i < 8; ++i)
    created(c.request("POST", "/api/customers",
                      R"({"id":"c)" + std::to_string(i) + R"(","name":"Ada"})",
                      d.acme));
  std::this_thread::sleep_for(200ms);
  BOOST_TEST(live_aggregates(d) <= 3);
  // The passivated ones come back from the store.
  for (int i = 0; i < 8; ++i) {
    auto r = c.request("PATCH", "/api/customers/c" + std::to_string(i),
                       R"({"name":"Bea"})", d.acme);
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.json().at("version").as_int64() == 2);
  }
  std::this_thread::sleep_for(200ms);
  BOOST_TEST(live_aggregates(d) <= 3);
}

BOOST_AUTO_TEST_CASE(a_company_over_its_rate_gets_429) {
  daemon_fixture d{{"limits.requests_per_second=5",
                    "limits.per_company=globex:1000:0",
                    "limits.refusal_pause_ms=0"}};
  http_client c{d.port};
  int limited = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = c.request("GET", "/api/outbox", "", d.acme);
    if (r.status == 429) {
      ++limited;
      BOOST_TEST(r.json().at("error").at("code").as_string() == "rate_limited");
      BOOST_TEST(std::stoi(r.header("retry-after")) >= 1);
    } else {
      BOOST_TEST(r.status == 200);
    }
  }
  BOOST_TEST(limited >= 10);
  // Another company (here with a higher limit) and admins go on.
  for (int i = 0; i < 20; ++i) {
    BOOST_TEST(c.request("GET", "/api/outbox", "", d.globex).status == 200);
    BOOST_TEST(c.request("GET", "/api/queues", "", d.admin).status == 200);
  }
  // A second later acme has its share again.
  std::this_thread::sleep_for(1100ms);
  BOOST_TEST(c.request("GET", "/api/outbox", "", d.acme).status == 200);
}

// `[limits] per_company` takes rows per second as a fourth field; without
// it an entry keeps the default rows limit.
BOOST_AUTO_TEST_CASE(per_company_limits_take_an_optional_rows_field) {
  using switchboard::app::http::company_limit;
  company_limit defaults;
  defaults.rows_per_second = 500;
  auto parsed = switchboard::app::http::parse_company_limits(
      "acme:5:6, big:0:1024:0 ,small:1:1:20", defaults);
  BOOST_REQUIRE(parsed);
  BOOST_TEST(parsed->at("acme").requests_per_second == 5u);
  BOOST_TEST(parsed->at("acme").commands_in_flight == 6u);
  BOOST_TEST(parsed->at("acme").rows_per_second == 500u);
  BOOST_TEST(parsed->at("big").rows_per_second == 0u);
  BOOST_TEST(parsed->at("small").rows_per_second == 20u);
  for (const char* bad : {"acme:1:2:3:4", "acme:1", "acme:1:2:x", ":1:2"}) {
    auto refused = switchboard::app::http::parse_company_limits(bad, defaults);
    BOOST_TEST_INFO(bad);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(refused.error().find(bad) != std::string::npos);
  }
}

// Listings cost the rows they may return: a page is charged its limit
// before it runs, against the company's rows per second, across every
// listing route; another company and admins are not charged.
BOOST_AUTO_TEST_CASE(a_company_over_its_rows_per_second_gets_429) {
  daemon_fixture d{{"limits.rows_per_second=100",
                    "limits.per_company=globex:0:0:0",
                    "limits.refusal_pause_ms=0"}};
  http_client c{d.port};
  auto list = [&](const std::string& path, const std::string& token) {
    return c.request("GET", path, "", token);
  };
  BOOST_TEST(list("/api/appointments?limit=60", d.acme).status == 200);
  // 40 rows left: a page of 60 is refused, one of 30 is not.
  auto r = list("/api/appointments?limit=60", d.acme);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 429);
  BOOST_TEST(r.json().at("error").at("code").as_string()
             == "rows_rate_limited");
  BOOST_TEST(std::stoi(r.header("retry-after")) >= 1);
  BOOST_TEST(list("/api/appointments?limit=30", d.acme).status == 200);
  // The default page (100) of another listing draws on the same rows.
  r = list("/api/events", d.acme);
  BOOST_TEST(r.status == 429);
  BOOST_TEST(list("/api/audit?limit=100", d.acme).status == 429);
  // Globex has no rows limit, admins none at all.
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST(list("/api/appointments?limit=1000", d.globex).status == 200);
    BOOST_TEST(list("/api/events?limit=1000", d.admin).status == 200);
  }
  // A second later acme has its rows again; requests other than
  // listings were never charged.
  BOOST_TEST(c.request("GET", "/api/company", "", d.acme).status == 200);
  std::this_thread::sleep_for(1100ms);
  BOOST_TEST(list("/api/appointments?limit=100", d.acme).status == 200);
}

// A client that asks again at once after a 429 is not read until its
// Retry-After: flooding buys it nothing and costs the gateway nothing.
BOOST_AUTO_TEST_CASE(a_connection_refused_429_is_read_again_after_a_pause) {
  daemon_fixture d{{"limits.requests_per_second=2"}};
  http_client c{d.port};
  int status = 0;
  for (int i = 0; i < 10 && status != 429; ++i)
    status = c.request("GET", "/api/outbox", "", d.acme).status;
  BOOST_REQUIRE(status == 429);
  auto refused = std::chrono::steady_clock::now();
  // The same connection: its next request waits out the pause (a bucket
  // of 2 per second has a token again by then).
  auto r = c.request("GET", "/api/outbox", "", d.acme);
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - refused)
                    .count();
  BOOST_TEST(r.status == 200);
  BOOST_TEST(waited >= 900);
  BOOST_TEST(!r.closed);
}

BOOST_AUTO_TEST_SUITE_END()
