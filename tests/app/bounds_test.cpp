// Bounded resources against the real daemon: one client or one company
// cannot take the daemon from the others (descriptors, memory held by idle
// connections, actors spawned for unknown ids, caches, request rates).

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <app/http/limits.hpp>
#include <store/environment.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/sanitizers.hpp"

using namespace std::chrono_literals;
using switchboard::test::daemon_fixture;
using switchboard::test::http_client;
using switchboard::test::http_reply;
namespace json = boost::json;

namespace {

/// Resident memory of process `pid` in bytes (VmRSS), 0 when unreadable.
std::size_t rss_bytes(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

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

/// An RFC 3339 day `days` from now (YYYY-MM-DD).
std::string day(int days) {
  std::time_t t = std::time(nullptr) + days * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

/// The daemon's count of live aggregate actors (GET /ready, which shows
/// it to admin tokens).
std::int64_t live_aggregates(const daemon_fixture& d) {
  http_client c{d.port};
  auto r = c.request("GET", "/ready", "", d.admin);
  BOOST_REQUIRE(r.status == 200);
  return r.json().at("live_aggregates").as_int64();
}

void created(const http_reply& r) {
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
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
  auto before = rss_bytes(d.proc->pid());
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
  auto after = rss_bytes(d.proc->pid());
  BOOST_TEST_MESSAGE("rss before " << before << " after " << after);
  // Kept, they would hold about 40 MB (the answer, and the read buffer).
  if (switchboard::test::memory_is_measurable)
    BOOST_TEST(after < before + (20u << 20));
}

BOOST_AUTO_TEST_CASE(unknown_ids_cost_no_actor) {
  daemon_fixture d;
  http_client c{d.port};
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                        "duration_minutes":30})",
                    d.acme));
  created(c.request("POST", "/api/customers", R"({"id":"cu1","name":"Ada"})",
                    d.acme));
  created(
      c.request("POST", "/api/staff", R"({"id":"st1","name":"Bo"})", d.acme));
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

// Backpressure: while a company's queued work is further behind than
// queues.max_lag_ms, its new bookings wait (503 with Retry-After) rather
// than add work that would go out late; another company books on.
BOOST_AUTO_TEST_CASE(bookings_wait_while_their_companys_queued_work_is_behind) {
  // The CRM never answers: one job of the default queue at a time, so the
  // company's other jobs there wait behind it.
  switchboard::test::http_server crm{[](int) {
    switchboard::test::http_answer a;
    a.hang = true;
    return a;
  }};
  daemon_fixture d{{"providers.crm_webhook_url=" + crm.url(),
                    "queues.default_concurrency=1", "queues.max_lag_ms=300"}};
  http_client c{d.port};
  for (auto [token, p] : {std::pair{d.acme, ""}, std::pair{d.globex, "g"}}) {
    std::string pre{p};
    created(c.request("POST", "/api/services",
                      R"({"id":")" + pre + R"(s1","name":"Cut",
                          "price_cents":4500,"duration_minutes":30})",
                      token));
    created(c.request("POST", "/api/customers",
                      R"({"id":")" + pre + R"(cu1","name":"Ada"})", token));
    created(c.request("POST", "/api/staff",
                      R"({"id":")" + pre + R"(st1","name":"Bo"})", token));
  }
  auto book = [&](const std::string& token, const std::string& pre, int i) {
    char start[32];
    std::snprintf(start, sizeof start, "%sT%02d:00:00Z", day(2 + i / 8).c_str(),
                  9 + i % 8);
    json::object b{{"customer_id", pre + "cu1"},
                   {"service_id", pre + "s1"},
                   {"staff_id", pre + "st1"},
                   {"start_time", start}};
    return c.request("POST", "/api/appointments", json::serialize(b), token);
  };
  // Each booking leaves jobs on the default queue (the CRM sync, the
  // subscriber); they wait, and soon the company is behind.
  http_reply refused;
  for (int i = 0; i < 40 && refused.status != 503; ++i) {
    auto r = book(d.acme, "", i);
    if (r.status == 503)
      refused = r;
    else
      BOOST_TEST(r.status == 201);
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST_INFO(refused.body);
  BOOST_REQUIRE(refused.status == 503);
  BOOST_TEST(refused.json().at("error").at("code").as_string()
             == "queues_behind");
  BOOST_TEST(std::stoi(refused.header("retry-after")) >= 1);
  auto queues = c.request("GET", "/api/queues", "", d.acme);
  BOOST_REQUIRE(queues.status == 200);
  BOOST_TEST(queues.json().at("lag_ms").as_int64() > 300);
  BOOST_TEST(queues.json().at("max_lag_ms").as_int64() == 300);
  // Another company's jobs are not behind: it books.
  auto other = book(d.globex, "g", 0);
  BOOST_TEST_INFO(other.body);
  BOOST_TEST(other.status == 201);
  auto metrics = c.request("GET", "/metrics", "", d.admin);
  BOOST_TEST(metrics.body.find("switchboard_bookings_shed_total 0\n")
             == std::string::npos);
  BOOST_TEST(
      metrics.body.find("switchboard_queue_lag_seconds{queue=\"default\"}")
      != std::string::npos);
}

// `switchboard replay analytics` beside the running daemon: it reads the
// log in chunks while bookings go on, and at its switch marks the events
// of the analytics jobs still waiting, so every booking counts once.
BOOST_AUTO_TEST_CASE(a_replay_under_load_counts_every_event_once) {
  // The analytics jobs wait 1.5 s: the switch finds some still queued.
  daemon_fixture d{{"listener.update_analytics.delay_ms=1500"}};
  http_client c{d.port};
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                        "duration_minutes":30})",
                    d.acme));
  created(c.request("POST", "/api/customers", R"({"id":"cu1","name":"Ada"})",
                    d.acme));
  created(
      c.request("POST", "/api/staff", R"({"id":"st1","name":"Bo"})", d.acme));
  auto book = [&](http_client& hc, int i) {
    char start[32];
    std::snprintf(start, sizeof start, "%sT%02d:00:00Z", day(2 + i / 8).c_str(),
                  9 + i % 8);
    json::object b{{"customer_id", "cu1"},
                   {"service_id", "s1"},
                   {"staff_id", "st1"},
                   {"start_time", start}};
    return hc.request("POST", "/api/appointments", json::serialize(b), d.acme);
  };
  for (int i = 0; i < 20; ++i)
    created(book(c, i));
  // More bookings while the replay runs.
  std::atomic<int> booked{0};
  std::thread more([&] {
    http_client hc{d.port};
    for (int i = 20; i < 40; ++i) {
      if (book(hc, i).status == 201)
        ++booked;
      std::this_thread::sleep_for(20ms);
    }
  });
  std::vector<std::string> args{SWITCHBOARD_BINARY, "replay", "analytics",
                                "--chunk", "4"};
  auto base = d.base_args();
  args.insert(args.end(), base.begin(), base.end());
  switchboard::test::child_process replay(args);
  auto rc = replay.wait(60s);
  more.join();
  BOOST_TEST_INFO(replay.output());
  BOOST_REQUIRE(rc == 0);
  BOOST_TEST(replay.output().find("chunk(s)") != std::string::npos);
  BOOST_TEST(booked.load() == 20);
  // When the analytics queue has drained, every booking counted once.
  std::int64_t count = -1;
  for (int i = 0; i < 300; ++i) {
    auto q = c.request("GET", "/api/queues", "", d.acme);
    BOOST_REQUIRE(q.status == 200);
    std::int64_t waiting = 0;
    auto body = q.json();
    for (const auto& e : body.at("queues").as_array())
      if (e.at("name").as_string() == "analytics")
        waiting = e.at("ready").as_int64() + e.at("delayed").as_int64()
                  + e.at("leased").as_int64();
    if (waiting == 0) {
      auto a = c.request("GET", "/api/analytics", "", d.acme);
      BOOST_REQUIRE(a.status == 200);
      count = a.json().at("appointments").at("count").as_int64();
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(count == 40);
}

namespace {

/// Holds LMDB's write lock of the daemon's store from this process, as
/// another process (a backup, a CLI) could: the daemon's writer waits.
struct write_lock {
  explicit write_lock(const std::string& path) {
    switchboard::store::options o;
    o.path = path;
    auto e = switchboard::store::environment::open(o);
    BOOST_REQUIRE(e);
    env = std::move(*e);
    auto t = env->begin_write();
    BOOST_REQUIRE(t);
    txn.emplace(std::move(*t));
  }
  void release() {
    if (txn) {
      txn->abort();
      txn.reset();
    }
  }
  ~write_lock() {
    release();
  }
  std::unique_ptr<switchboard::store::environment> env;
  std::optional<switchboard::store::write_txn> txn;
};

} // namespace

BOOST_AUTO_TEST_CASE(a_company_has_a_bounded_number_of_commands_in_flight) {
  daemon_fixture d{{"limits.commands_in_flight=1"}};
  write_lock lock{d.dir.path() + "/data"};
  http_reply first;
  std::thread t([&] {
    http_client w{d.port};
    first = w.request("POST", "/api/customers", R"({"id":"c1","name":"Ada"})",
                      d.acme);
  });
  std::this_thread::sleep_for(500ms);
  http_client c{d.port};
  auto second = c.request("POST", "/api/customers",
                          R"({"id":"c2","name":"Bo"})", d.acme);
  BOOST_TEST_INFO(second.body);
  BOOST_TEST(second.status == 429);
  BOOST_TEST(second.json().at("error").at("code").as_string()
             == "too_many_commands");
  BOOST_TEST(second.header("retry-after") == "1");
  lock.release();
  t.join();
  BOOST_TEST(first.status == 201);
  // Answered: the slot is free again.
  BOOST_TEST(
      c.request("POST", "/api/customers", R"({"id":"c2","name":"Bo"})", d.acme)
          .status
      == 201);
}

BOOST_AUTO_TEST_CASE(a_stuck_writer_fails_ready_and_bounds_the_stop) {
  daemon_fixture d{
      {"http.shutdown_timeout_ms=1000", "http.ready_commit_stall_ms=500"}};
  http_client c{d.port};
  BOOST_REQUIRE(c.request("GET", "/ready").status == 200);
  write_lock lock{d.dir.path() + "/data"};
  http_reply in_flight;
  std::thread t([&] {
    http_client w{d.port};
    in_flight = w.request("POST", "/api/customers",
                          R"({"id":"c1","name":"Ada"})", d.acme);
  });
  std::this_thread::sleep_for(1000ms);
  auto ready = c.request("GET", "/ready");
  BOOST_TEST_INFO(ready.body);
  BOOST_TEST(ready.status == 503);
  auto began = std::chrono::steady_clock::now();
  d.proc->signal(SIGTERM);
  auto rc = d.proc->wait(20s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - began)
                  .count();
  t.join();
  BOOST_TEST_INFO(d.proc->output());
  BOOST_TEST(rc != -1);
  // shutdown_timeout_ms + the 5 s margin, and a little for the test.
  BOOST_TEST(took < 8000);
  BOOST_TEST(in_flight.status == 503);
  BOOST_TEST(in_flight.body.find("shutting_down") != std::string::npos);
  d.proc.reset(); // stopped already
}

BOOST_AUTO_TEST_CASE(calendars_rebuild_from_their_staff_members_appointments) {
  // One live actor at most: every calendar is rebuilt from the store
  // (the staff member's appointments) each time it is needed again.
  daemon_fixture d{{"aggregates.max_live=1"}};
  http_client c{d.port};
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                        "duration_minutes":60})",
                    d.acme));
  for (const char* cu : {"cu1", "cu2"})
    created(c.request("POST", "/api/customers",
                      std::string{R"({"id":")"} + cu + R"(","name":"Ada"})",
                      d.acme));
  for (const char* st : {"st1", "st2"})
    created(c.request("POST", "/api/staff",
                      std::string{R"({"id":")"} + st + R"(","name":"Bo"})",
                      d.acme));
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
    std::vector<std::string> out;
    auto body = r.json();
    for (const auto& v : body.at("appointments").as_array())
      out.emplace_back(v.at("id").as_string());
    return out;
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
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                        "duration_minutes":30})",
                    d.acme));
  for (const char* cu : {"cu1", "cu2"})
    created(c.request("POST", "/api/customers",
                      std::string{R"({"id":")"} + cu + R"(","name":"Ada"})",
                      d.acme));
  for (const char* st : {"st1", "st2"})
    created(c.request("POST", "/api/staff",
                      std::string{R"({"id":")"} + st + R"(","name":"Bo"})",
                      d.acme));
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
    std::vector<std::string> out;
    auto body = r.json();
    for (const auto& e : body.as_array())
      out.emplace_back(e.at("sequence").as_string());
    return out;
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
