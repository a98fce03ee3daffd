// Bounded resources against the real daemon: one client or one company
// cannot take the daemon from the others (descriptors, memory held by idle
// connections, actors spawned for unknown ids, caches, request rates).

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <store/environment.hpp>

#include "tests/app/daemon_fixture.hpp"

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
  daemon_fixture d{
      {"limits.requests_per_second=5", "limits.per_company=globex:1000:0"}};
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

BOOST_AUTO_TEST_SUITE_END()
