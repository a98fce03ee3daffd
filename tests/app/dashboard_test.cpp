// The events dashboard in a real headless browser: Chromium driven by
// Selenium (tests/app/scripts/check_dashboard.py) against the real daemon.
// Skipped, with a message, where Chromium, its driver or Selenium is
// missing. Screenshots go to build/test-artifacts/dashboard/.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/check_script.hpp"
#include "tests/app/daemon_names.hpp"
#include "tests/app/switchable_crm.hpp"

using switchboard::test::run_check_script;
using switchboard::test::switchable_crm;

namespace {

/// True when the browser and its driver are installed.
struct browser_present {
  boost::test_tools::assertion_result
  operator()(boost::unit_test::test_unit_id) {
    for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromedriver"})
      if (!std::filesystem::exists(p)) {
        boost::test_tools::assertion_result r{false};
        r.message() << p
                    << " is missing (apt-get install chromium "
                       "chromium-driver python3-selenium): skipped";
        return r;
      }
    return true;
  }
};

struct dashboard_fixture {
  switchable_crm crm;
  daemon_fixture d{{"providers.crm_webhook_url=" + crm.url()}};
};

} // namespace

BOOST_AUTO_TEST_SUITE(dashboard_suite)

BOOST_FIXTURE_TEST_CASE(dashboard_in_a_headless_browser, dashboard_fixture,
                        *boost::unit_test::precondition(browser_present{})) {
  http_client c{d.port};
  created(c.request("POST", "/api/customers",
                    R"({"id":"cu1","name":"Eve","phone":"+4930777"})", d.acme));
  created(
      c.request("POST", "/api/staff", R"({"id":"st1","name":"Bo"})", d.acme));
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                   "duration_minutes":30})",
                    d.acme));
  // A first booking: the CRM refuses its sync, which fails.
  json::object b{{"customer_id", "cu1"},
                 {"service_id", "s1"},
                 {"staff_id", "st1"},
                 {"start_time", utc_at(2, 9)}};
  created(c.request("POST", "/api/appointments", json::serialize(b), d.acme));
  std::string job_id;
  for (int i = 0; i < 600 && job_id.empty(); ++i) {
    auto r = c.request("GET", "/api/jobs/failed", "", d.acme);
    BOOST_REQUIRE(r.status == 200);
    auto jobs = r.json().at("jobs").as_array();
    if (!jobs.empty())
      job_id = json::serialize(jobs.at(0).at("id"));
    if (job_id.empty())
      std::this_thread::sleep_for(100ms);
  }
  BOOST_REQUIRE(!job_id.empty());
  // From now on the CRM takes what it is sent: the retried job succeeds.
  crm.accept();
  auto out = std::string{SWITCHBOARD_ARTIFACTS_DIR} + "/dashboard";
  std::filesystem::remove_all(out);
  auto [rc, said] = run_check_script(
      "check_dashboard.py",
      {"--base",          "http://127.0.0.1:" + std::to_string(d.port),
       "--admin",         d.admin,
       "--company",       d.acme,
       "--other-company", d.globex,
       "--failed-job",    job_id,
       "--customer",      "cu1",
       "--staff",         "st1",
       "--service",       "s1",
       "--start",         utc_at(2, 11),
       "--out",           out});
  BOOST_TEST_INFO(said);
  if (rc == 77) {
    BOOST_TEST_MESSAGE("skipped: " << said);
    return;
  }
  BOOST_TEST(rc == 0);
  // A screenshot of each screen, kept under the build's test-artifacts:
  // each a PNG file.
  std::set<std::string> screens;
  for (std::size_t at = said.find("screenshot: "); at != std::string::npos;
       at = said.find("screenshot: ", at + 1)) {
    auto path = said.substr(at + 12, said.find('\n', at) - at - 12);
    std::ifstream png{path, std::ios::binary};
    char magic[8] = {};
    png.read(magic, sizeof magic);
    BOOST_TEST_INFO(path);
    BOOST_TEST(std::string(magic, sizeof magic) == "\x89PNG\r\n\x1a\n");
    auto name = std::filesystem::path{path}.stem().string();
    screens.insert(name.substr(name.find('-') + 1));
  }
  for (const auto* screen : {"sign-in", "overview", "trace", "failed-jobs",
                             "after-retry", "other-company"})
    BOOST_TEST(screens.count(screen) == 1u, "no screenshot of " << screen);
  // The retried job ran: it is gone from the failed jobs for good.
  auto j = c.request("GET", "/api/jobs/" + job_id, "", d.admin);
  BOOST_TEST(j.status == 404);
}

BOOST_AUTO_TEST_SUITE_END()
