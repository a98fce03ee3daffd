// A company's backlog against the real daemon: bookings wait while its
// queued work is behind, a replay under load counts every event once, its
// commands in flight are bounded, and a stuck writer fails /ready and
// bounds the stop.

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <store/environment.hpp>

#include "tests/app/bounds_fixture.hpp"
#include "tests/app/daemon_names.hpp"
#include "tests/support/http_server.hpp"

using switchboard::test::day;

namespace {

/// acme and globex ("g"-prefixed ids) each with a service, a customer and
/// a staff member, booked through `c`.
struct two_companies {
  http_client& c;
  daemon_fixture& d;

  two_companies(http_client& client, daemon_fixture& fixture)
      : c(client), d(fixture) {
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
  }

  /// Booking `i` of the company of `token` (its ids prefixed `pre`).
  http_reply book(const std::string& token, const std::string& pre, int i) {
    char start[32];
    std::snprintf(start, sizeof start, "%sT%02d:00:00Z", day(2 + i / 8).c_str(),
                  9 + i % 8);
    json::object b{{"customer_id", pre + "cu1"},
                   {"service_id", pre + "s1"},
                   {"staff_id", pre + "st1"},
                   {"start_time", start}};
    return c.request("POST", "/api/appointments", json::serialize(b), token);
  }

  /// Books for acme every 100 ms until a booking is refused (at most 40)
  /// for its queued work being behind, as /api/queues then shows: a lag
  /// over `max_lag_ms`. Returns the refusal.
  http_reply book_until_behind(std::int64_t max_lag_ms) {
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
    auto queues = c.request("GET", "/api/queues", "", d.acme);
    BOOST_REQUIRE(queues.status == 200);
    BOOST_TEST(queues.json().at("lag_ms").as_int64() > max_lag_ms);
    BOOST_TEST(queues.json().at("max_lag_ms").as_int64() == max_lag_ms);
    return refused;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(bounds_suite)

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
                    "queues.default_concurrency=1", "queues.max_lag_ms=1000"}};
  http_client c{d.port};
  two_companies two{c, d};
  // Each booking leaves jobs on the default queue (the CRM sync, the
  // subscriber); they wait, and soon the company is behind. (The lag is
  // over the log readers' idle wait, half a second, which every company
  // may see.)
  auto refused = two.book_until_behind(1000);
  BOOST_TEST(std::stoi(refused.header("retry-after")) >= 1);
  // Another company's jobs are not behind: it books.
  auto other = two.book(d.globex, "g", 0);
  BOOST_TEST_INFO(other.body);
  BOOST_TEST(other.status == 201);
  auto metrics = c.request("GET", "/metrics", "", d.admin);
  BOOST_TEST(metrics.body.find("switchboard_bookings_shed_total 0\n")
             == std::string::npos);
  BOOST_TEST(
      metrics.body.find("switchboard_queue_lag_seconds{queue=\"default\"}")
      != std::string::npos);
  BOOST_TEST(metrics.body.find("switchboard_catch_up_events_behind{listener="
                               "\"update_analytics\"}")
             != std::string::npos);
}

// The log readers are every company's: while one is further behind than
// queues.max_lag_ms (the analytics reads the log every 3 s here), new
// bookings of every company wait, and /api/queues shows the lag.
BOOST_AUTO_TEST_CASE(bookings_wait_while_a_log_reader_is_behind) {
  daemon_fixture d{
      {"listener.update_analytics.poll_ms=3000", "queues.max_lag_ms=500"}};
  http_client c{d.port};
  two_companies two{c, d};
  two.book_until_behind(500);
  // The other company's events wait behind the same reader.
  auto other = two.book(d.globex, "g", 0);
  BOOST_TEST_INFO(other.body);
  BOOST_TEST(other.status == 503);
  // /metrics has the reader's lag: over max_lag_ms, as the refusal says
  // (unless the reader read meanwhile: then a booking makes it lag again).
  const std::string series
      = "switchboard_catch_up_lag_seconds{listener=\"update_analytics\"} ";
  double seconds = 0;
  for (int i = 0; i < 50 && seconds <= 0.5; ++i) {
    auto metrics = c.request("GET", "/metrics", "", d.admin);
    auto at = metrics.body.find(series);
    BOOST_REQUIRE(at != std::string::npos);
    seconds = std::stod(metrics.body.substr(at + series.size()));
    if (seconds <= 0.5) {
      two.book(d.acme, "lag", i);
      std::this_thread::sleep_for(100ms);
    }
  }
  BOOST_TEST(seconds > 0.5);
  BOOST_TEST(seconds < 60.0);
}

// An event a reader holds for its listener's delay (the notification's
// 5 s, here the analytics' 3 s) is due later, as a delayed job is: it is
// not lag, and /api/queues counts it apart from the events behind.
BOOST_AUTO_TEST_CASE(events_held_for_a_delay_are_not_lag) {
  daemon_fixture d{
      {"listener.update_analytics.delay_ms=3000", "queues.max_lag_ms=500"}};
  http_client c{d.port};
  two_companies two{c, d};
  for (int i = 0; i < 20; ++i) {
    auto r = two.book(d.acme, "", i);
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 201);
    std::this_thread::sleep_for(100ms);
  }
  auto analytics = [&](const std::string& token) {
    auto q = c.request("GET", "/api/queues", "", token);
    BOOST_REQUIRE(q.status == 200);
    auto body = q.json();
    for (const auto& e : body.at("catch_up").as_array())
      if (e.at("listener").as_string() == "update_analytics")
        return e.as_object();
    BOOST_FAIL("no update_analytics in catch_up");
    return json::object{};
  };
  auto held = analytics(d.acme);
  BOOST_TEST_INFO(json::serialize(held));
  BOOST_TEST(held.at("events_delayed").to_number<std::int64_t>() > 0);
  BOOST_TEST(analytics(d.admin).at("events_delayed").to_number<std::int64_t>()
             > 0);
  // Once the delay is over, they are applied.
  json::object after;
  for (int i = 0; i < 100; ++i) {
    after = analytics(d.acme);
    if (after.at("events_delayed").to_number<std::int64_t>() == 0
        && after.at("events_behind").to_number<std::int64_t>() == 0)
      break;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST_INFO(json::serialize(after));
  BOOST_TEST(after.at("events_delayed").to_number<std::int64_t>() == 0);
  BOOST_TEST(after.at("events_behind").to_number<std::int64_t>() == 0);
}

// `switchboard replay analytics` beside the running daemon: it reads the
// log in chunks while bookings go on, and at its switch moves the daemon's
// analytics checkpoint to the last event it counted, so every booking
// counts once.
BOOST_AUTO_TEST_CASE(a_replay_under_load_counts_every_event_once) {
  // The daemon's analytics holds each batch it read 1.5 s: the switch
  // finds one read and not yet applied, which must not be applied.
  daemon_fixture d{{"listener.update_analytics.delay_ms=1500"}};
  http_client c{d.port};
  seed(c, d.acme, R"({"id":"cu1","name":"Ada"})");
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
  auto replay = d.command({"replay", "analytics", "--chunk", "4"}, 60s);
  more.join();
  BOOST_TEST_INFO(replay.out);
  BOOST_REQUIRE(replay.rc == 0);
  BOOST_TEST(replay.out.find("chunk(s)") != std::string::npos);
  BOOST_TEST(booked.load() == 20);
  // When the analytics has read the whole log, every booking counted once.
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
    for (const auto& e : body.at("catch_up").as_array())
      waiting += e.at("events_behind").as_int64();
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

BOOST_AUTO_TEST_SUITE_END()

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

BOOST_AUTO_TEST_SUITE(bounds_suite)

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

BOOST_AUTO_TEST_SUITE_END()
