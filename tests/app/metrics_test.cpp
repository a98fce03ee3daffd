// GET /metrics against the real daemon, parsed by Prometheus' own text
// parser (tests/app/scripts/check_metrics.py, python3-prometheus-client).

#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/check_script.hpp"
#include "tests/app/daemon_names.hpp"
#include "tests/app/free_port.hpp"
#include "tests/support/http_server.hpp"

namespace {

/// Every family a scrape must have after a booking.
const std::vector<std::string> families{
    "switchboard_events_appended",
    "switchboard_dispatch_duration_seconds",
    "switchboard_listener_runs",
    "switchboard_listener_failures",
    "switchboard_listener_duration_seconds",
    "switchboard_queue_jobs",
    "switchboard_queue_wait_seconds",
    "switchboard_queue_job_runtime_seconds",
    "switchboard_queue_retries",
    "switchboard_http_requests",
    "switchboard_http_request_duration_seconds",
    "switchboard_store_commits",
    "switchboard_store_commit_batch_size",
    "switchboard_store_commit_duration_seconds",
    "switchboard_store_fsync_duration_seconds",
    "switchboard_store_map_size_bytes",
    "switchboard_store_used_bytes",
    "switchboard_websocket_connections",
    "switchboard_websocket_messages_sent",
};

/// Runs the parser on scrapes saved in `dir`; returns its exit code and
/// prints what it said.
int check(const std::string& dir, const std::vector<std::string>& texts) {
  std::vector<std::string> args;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto path = dir + "/scrape" + std::to_string(i) + ".txt";
    std::ofstream{path} << texts[i];
    args.push_back(path);
  }
  for (const auto& f : families) {
    args.push_back("--family");
    args.push_back(f);
  }
  return switchboard::test::run_check_script("check_metrics.py", args, 30s)
      .status;
}

/// The value of the sample `name{labels}` as written ("" when absent).
std::string sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return {};
  auto from = at + series.size() + 2;
  return text.substr(from, text.find('\n', from) - from);
}

double value_of(const std::string& text, const std::string& series) {
  auto v = sample(text, series);
  return v.empty() ? -1 : std::stod(v);
}

/// A CRM endpoint that takes every call: with it configured, the
/// external sync's calls are jobs (a booking's other listeners read the
/// log and make none), so that the queue families get samples.
struct crm_endpoint {
  switchboard::test::http_server crm{[](int) {
    return switchboard::test::http_answer{};
  }};
};

struct metrics_fixture : crm_endpoint, daemon_fixture {
  explicit metrics_fixture(std::vector<std::string> sets = {})
      : daemon_fixture(with_crm(std::move(sets), crm.url())) {}

  static std::vector<std::string> with_crm(std::vector<std::string> sets,
                                           const std::string& url) {
    sets.push_back("providers.crm_webhook_url=" + url);
    return sets;
  }

  void seed(http_client& c) {
    switchboard::test::seed(c, acme,
                            R"({"id":"cu1","name":"Ada","phone":"+4930123",
                                "email":"ada@example.com",
                                "prefers_email":true})");
  }

  http_reply book(http_client& c, const std::string& id, int hour) {
    return switchboard::test::book(c, acme, id, utc_at(3, hour));
  }

  /// `seed`, then bookings a1 (at nine) and a2 (at ten), both required.
  void seed_two_bookings(http_client& c) {
    seed(c);
    BOOST_REQUIRE(book(c, "a1", 9).status == 201);
    BOOST_REQUIRE(book(c, "a2", 10).status == 201);
  }

  std::string scrape(http_client& c) {
    auto r = c.request("GET", "/metrics", "", admin);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.headers["content-type"]
               == "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }

  /// Waits until the queues have run at least `runs` queued listener jobs.
  void await_queued_runs(http_client& c, double runs) {
    for (int i = 0; i < 200; ++i) {
      auto text = scrape(c);
      double total = 0;
      std::regex re{
          R"(\nswitchboard_listener_runs_total\{[^}]*kind="queued"\} ([0-9]+))"};
      for (std::sregex_iterator it{text.begin(), text.end(), re}, end;
           it != end; ++it)
        total += std::stod((*it)[1]);
      if (total >= runs)
        return;
      std::this_thread::sleep_for(50ms);
    }
    BOOST_FAIL("no queued listener ran");
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_FIXTURE_TEST_CASE(a_booking_shows_in_every_family, metrics_fixture) {
  http_client c{port};
  seed(c);
  BOOST_REQUIRE(book(c, "a1", 9).status == 201);
  await_queued_runs(c, 1);
  auto first = scrape(c);
  BOOST_REQUIRE(book(c, "a2", 10).status == 201);
  // A request that matches no route: its path must not become a label.
  BOOST_TEST(c.request("GET", "/nosuch-route", "", acme).status == 404);
  await_queued_runs(c, 2);
  auto second = scrape(c);
  BOOST_TEST(check(dir.path(), {first, second}) == 0);

  BOOST_TEST(
      value_of(
          second,
          R"(switchboard_events_appended_total{type="appointment.created"})")
      == 2);
  BOOST_TEST(
      value_of(
          second,
          R"(switchboard_http_requests_total{method="POST",route="/api/appointments",status="201"})")
      == 2);
  BOOST_TEST(
      value_of(
          second,
          R"(switchboard_http_requests_total{method="-",route="unmatched",status="404"})")
      >= 1);
  BOOST_TEST(second.find("nosuch-route") == std::string::npos);
  BOOST_TEST(value_of(second, "switchboard_store_commits_total") > 0);
  BOOST_TEST(
      value_of(
          second,
          R"(switchboard_listener_runs_total{listener="cache_invalidator",kind="sync"})")
      >= 2);
  BOOST_TEST(value_of(second, "switchboard_store_map_size_bytes") > 0);
  BOOST_TEST(value_of(second, "switchboard_store_used_bytes") > 0);
  BOOST_TEST(value_of(second, "switchboard_store_used_bytes")
             <= value_of(second, "switchboard_store_map_size_bytes"));
  // The failing and the timing families carry their samples, too.
  BOOST_TEST(second.find("switchboard_queue_wait_seconds_bucket{queue=")
             != std::string::npos);
  BOOST_TEST(second.find(R"(switchboard_queue_jobs{queue=)")
             != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(only_admins_read_metrics_on_the_main_port,
                        metrics_fixture) {
  http_client c{port};
  BOOST_TEST(c.request("GET", "/metrics", "", "").status == 401);
  BOOST_TEST(c.request("GET", "/metrics", "", acme).status == 403);
  BOOST_TEST(c.request("GET", "/metrics", "", admin).status == 200);
}

BOOST_AUTO_TEST_CASE(a_metrics_port_of_its_own_needs_no_token) {
  auto mport = switchboard::test::free_tcp_port();
  daemon_fixture d{{"metrics.port=" + std::to_string(mport)}};
  http_client m{mport};
  auto r = m.request("GET", "/metrics", "", "");
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(r.body.find("# TYPE switchboard_http_requests_total counter")
             != std::string::npos);
  // Only /metrics is there: nothing of the API.
  BOOST_TEST(m.request("GET", "/api/customers/cu1", "", d.admin).status == 404);
  // The main port still needs an admin token.
  http_client c{d.port};
  BOOST_TEST(c.request("GET", "/metrics", "", "").status == 401);
}

namespace {

/// The total count of series `kind`/`name` in GET /api/admin/stats, or -1.
double stats_total(http_client& c, const std::string& admin,
                   const std::string& kind, const std::string& name,
                   const std::string& query = {}) {
  auto r = c.request("GET", "/api/admin/stats?step=60" + query, "", admin);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  auto body = r.json();
  for (const auto& s : body.at("series").as_array()) {
    const auto& o = s.as_object();
    if (o.at("kind").as_string() == kind && o.at("name").as_string() == name)
      return static_cast<double>(o.at("total").at("count").to_number<double>());
  }
  return -1;
}

} // namespace

BOOST_AUTO_TEST_CASE(stats_survive_a_restart) {
  metrics_fixture d{{"metrics.stats_interval_ms=100"}};
  {
    http_client c{d.port};
    d.seed_two_bookings(c);
    d.await_queued_runs(c, 2);
    double seen = -1;
    for (int i = 0; i < 200 && seen < 2; ++i) {
      seen = stats_total(c, d.admin, "event", "appointment.created");
      std::this_thread::sleep_for(50ms);
    }
    BOOST_REQUIRE(seen == 2);
    auto r = c.request("GET", "/api/admin/stats", "", d.admin);
    BOOST_TEST_INFO(r.body);
    // A listener's series carries its timing.
    BOOST_TEST(r.body.find("\"p99_ms\"") != std::string::npos);
    auto bad = c.request("GET", "/api/admin/stats?step=90", "", d.admin);
    BOOST_TEST(bad.status == 422);
    BOOST_TEST(bad.body.find("step") != std::string::npos);
    bad = c.request(
        "GET",
        "/api/admin/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "", d.admin);
    BOOST_TEST(bad.status == 422);
    BOOST_TEST(bad.body.find("from") != std::string::npos);
  }
  d.proc->signal(SIGTERM);
  BOOST_REQUIRE(d.proc->wait(30s) == 0);
  child_process again(switchboard::test::serve_args(d.dir.path() + "/data"));
  http_client c{switchboard::test::listening_port(again)};
  BOOST_TEST(stats_total(c, d.admin, "event", "appointment.created") == 2);
  BOOST_TEST(stats_total(c, d.admin, "event", "customer.created") == 1);
  // `switchboard top` reads the same buckets beside the running daemon.
  auto top = d.command({"top", "--once"});
  const auto& text = top.out;
  BOOST_TEST_INFO(text);
  BOOST_TEST(top.rc == 0);
  BOOST_TEST(text.find("jobs past hour") != std::string::npos);
  BOOST_TEST(text.find("notifications") != std::string::npos);
  std::regex hour{R"(jobs past hour +([0-9]+))"};
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(text, m, hour));
  BOOST_TEST(std::stoi(m[1]) >= 2);
  again.signal(SIGTERM);
  BOOST_TEST(again.wait(30s) == 0);
}

BOOST_AUTO_TEST_CASE(each_company_reads_its_own_stats) {
  metrics_fixture d{{"metrics.stats_interval_ms=100"}};
  http_client c{d.port};
  // Acme: a customer, a service, a staff member, two bookings (their
  // queued listeners run). Globex: three customers.
  d.seed_two_bookings(c);
  for (const auto* id : {"g1", "g2", "g3"})
    BOOST_REQUIRE(c.request("POST", "/api/customers",
                            std::string{R"({"id":")"} + id
                                + R"(","name":"G","phone":"+4930222"})",
                            d.globex)
                      .status
                  == 201);
  d.await_queued_runs(c, 2);
  // Until the recorder has written every company's buckets.
  double node = -1, acme = -1, globex = -1;
  for (int i = 0; i < 400 && (node < 4 || acme < 1 || globex < 3); ++i) {
    node = stats_total(c, d.admin, "event", "customer.created");
    acme = stats_total(c, d.acme, "event", "customer.created");
    globex = stats_total(c, d.globex, "event", "customer.created");
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(node == 4);
  BOOST_TEST(acme == 1);
  BOOST_TEST(globex == 3);
  BOOST_TEST(stats_total(c, d.acme, "event", "appointment.created") == 2);
  // Globex booked nothing: no such series, and no listener run of acme's.
  BOOST_TEST(stats_total(c, d.globex, "event", "appointment.created") == -1);
  auto g = c.request("GET", "/api/admin/stats", "", d.globex);
  BOOST_REQUIRE(g.status == 200);
  auto gv = g.json();
  BOOST_TEST(gv.at("company_id").as_string() == "globex");
  for (const auto& s : gv.at("series").as_array())
    BOOST_TEST(s.at("name").as_string() != "send_appointment_notification");
  auto a = c.request("GET", "/api/admin/stats", "", d.acme);
  BOOST_REQUIRE(a.status == 200);
  BOOST_TEST(a.body.find("\"listener\"") != std::string::npos);
  // A company cannot name another: company_id is the admin's filter.
  BOOST_TEST(
      stats_total(c, d.globex, "event", "customer.created", "&company_id=acme")
      == 3);
  BOOST_TEST(stats_total(c, d.globex, "event", "appointment.created",
                         "&company_id=acme")
             == -1);
  // The admin narrows to one company.
  BOOST_TEST(
      stats_total(c, d.admin, "event", "customer.created", "&company_id=globex")
      == 3);
  BOOST_TEST(stats_total(c, d.admin, "event", "appointment.created",
                         "&company_id=acme")
             == 2);
  BOOST_TEST(
      stats_total(c, d.admin, "event", "customer.created", "&company_id=nobody")
      == -1);
  // Bad input names the field, for companies as for admins.
  auto bad = c.request("GET", "/api/admin/stats?step=90", "", d.globex);
  BOOST_TEST(bad.status == 422);
  BOOST_TEST(bad.body.find("step") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
