// Runs the real switchboard binary.

#include <cstdlib>
#include <fstream>

#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/scoped_env.hpp"

using namespace std::chrono_literals;
using switchboard::test::child_process;
using switchboard::test::scoped_env;
using switchboard::test::serve_args;
using switchboard::test::temp_dir;

namespace {

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(daemon_suite)

BOOST_AUTO_TEST_CASE(a_second_daemon_on_one_data_directory_refuses_to_start) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  child_process first(serve_args(data));
  BOOST_TEST_INFO(first.output());
  BOOST_REQUIRE(!first.wait_for("serving", 30s).empty());
  // The second names the first's pid and never opens the store.
  child_process second(serve_args(data));
  BOOST_TEST(second.wait(30s) == 1);
  BOOST_TEST_INFO(second.output());
  BOOST_TEST(
      contains(second.output(), "the data directory " + data
                                    + " is in use by switchboard process "
                                    + std::to_string(first.pid())));
  BOOST_TEST(!contains(second.output(), "store open"));
  std::string pid;
  std::ifstream{data + "/switchboard.lock"} >> pid;
  BOOST_TEST(pid == std::to_string(first.pid()));
  // The same directory named another way is the same directory.
  child_process third(serve_args(dir.path() + "/./data/"));
  BOOST_TEST(third.wait(30s) == 1);
  BOOST_TEST_INFO(third.output());
  BOOST_TEST(contains(third.output(), std::to_string(first.pid())));
  // The first was not disturbed, and stops cleanly; then the directory is
  // free again.
  first.signal(SIGTERM);
  BOOST_TEST(first.wait(30s) == 0);
  child_process after_stop(serve_args(data));
  BOOST_TEST_INFO(after_stop.output());
  BOOST_REQUIRE(!after_stop.wait_for("serving", 30s).empty());
  // A daemon that dies holds nothing: the kernel drops its lock.
  after_stop.signal(SIGKILL);
  BOOST_TEST(after_stop.wait(30s) == 128 + SIGKILL);
  child_process after_kill(serve_args(data));
  BOOST_TEST_INFO(after_kill.output());
  BOOST_REQUIRE(!after_kill.wait_for("serving", 30s).empty());
  after_kill.signal(SIGTERM);
  BOOST_TEST(after_kill.wait(30s) == 0);
}

BOOST_AUTO_TEST_CASE(the_cli_finds_the_daemons_store_through_its_config) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  auto ini = dir.path() + "/switchboard.ini";
  std::ofstream{ini} << "[store]\npath = " << data
                     << "\nsync = none\n[http]\nport = 0\n";
  scoped_env env{"SWITCHBOARD_CONFIG", ini};
  auto via_env = "(config " + ini + " ($SWITCHBOARD_CONFIG))";
  child_process daemon({SWITCHBOARD_BINARY, "serve"});
  BOOST_TEST_INFO(daemon.output());
  auto port = switchboard::test::listening_port(daemon);
  BOOST_TEST(contains(daemon.output(), "store open at " + data));
  BOOST_TEST(
      contains(daemon.output(), "config " + ini + " ($SWITCHBOARD_CONFIG)"));
  // The CLI reads the same file and says which store it used.
  child_process add({SWITCHBOARD_BINARY, "tenant", "add", "acme"});
  BOOST_TEST(add.wait(30s) == 0);
  BOOST_TEST_INFO(add.output());
  BOOST_TEST(contains(add.output(), "switchboard tenant add: store " + data
                                        + " " + via_env + "; daemon pid "
                                        + std::to_string(daemon.pid())
                                        + " holds it\n"));
  auto at = add.output().find("\nsb_");
  BOOST_REQUIRE(at != std::string::npos);
  // The daemon honours the token the CLI wrote beside it.
  auto token = add.output().substr(at + 1, 67);
  switchboard::test::http_client http{port};
  BOOST_TEST(http.request("GET", "/api/events", "", token).status == 200);
  BOOST_TEST(http.request("GET", "/api/events", "", token + "x").status == 401);
  // --config comes before the environment.
  child_process list({SWITCHBOARD_BINARY, "tenant", "list", "--config", ini});
  BOOST_TEST(list.wait(30s) == 0);
  BOOST_TEST_INFO(list.output());
  BOOST_TEST(contains(list.output(), "(config " + ini + " (--config))"));
  BOOST_TEST(contains(list.output(), "acme"));
  // A path without a store is an error naming it, and stays empty.
  auto elsewhere = dir.path() + "/elsewhere";
  for (const char* cmd : {"add", "token"}) {
    child_process wrong({SWITCHBOARD_BINARY, "tenant", cmd, "globex", "--set",
                         "store.path=" + elsewhere});
    BOOST_TEST(wrong.wait(30s) == 1);
    BOOST_TEST_INFO(wrong.output());
    BOOST_TEST(contains(wrong.output(), "no store at " + elsewhere));
    BOOST_TEST(!contains(wrong.output(), "sb_"));
  }
  BOOST_TEST(!std::ifstream{elsewhere + "/data.mdb"}.good());
  // Unless asked to create one.
  child_process created({SWITCHBOARD_BINARY, "tenant", "add", "globex",
                         "--create", "--set", "store.path=" + elsewhere});
  BOOST_TEST(created.wait(30s) == 0);
  BOOST_TEST_INFO(created.output());
  BOOST_TEST(contains(created.output(), "\nsb_"));
  BOOST_TEST(std::ifstream{elsewhere + "/data.mdb"}.good());
  child_process create_token({SWITCHBOARD_BINARY, "tenant", "token", "globex",
                              "--create", "--set", "store.path=" + elsewhere});
  BOOST_TEST(create_token.wait(30s) == 2);
  // A file named by the environment that is not there: an error naming it.
  {
    scoped_env missing{"SWITCHBOARD_CONFIG", dir.path() + "/missing.ini"};
    child_process events({SWITCHBOARD_BINARY, "events"});
    BOOST_TEST(events.wait(30s) != 0);
    BOOST_TEST_INFO(events.output());
    BOOST_TEST(contains(events.output(), dir.path() + "/missing.ini"));
    BOOST_TEST(contains(events.output(), "$SWITCHBOARD_CONFIG"));
  }
  daemon.signal(SIGTERM);
  BOOST_TEST(daemon.wait(30s) == 0);
}

BOOST_AUTO_TEST_CASE(config_show_prints_secrets_as_stars) {
  child_process proc({SWITCHBOARD_BINARY, "config", "show", "--set",
                      "providers.crm_secret=hunter2", "--set",
                      "providers.calcom_api_key=cal-key-123", "--set",
                      "providers.smtp_password=pa55word", "--set",
                      "providers.sms_token=sms-tok-9", "--set",
                      "providers.crm_webhook_url=http://127.0.0.1:9/crm"});
  BOOST_TEST(proc.wait(10s) == 0);
  const auto& out = proc.output();
  BOOST_TEST_INFO(out);
  for (const char* secret : {"hunter2", "cal-key-123", "pa55word", "sms-tok-9"})
    BOOST_TEST(!contains(out, secret));
  BOOST_TEST(contains(out, "providers.crm_secret = ***  ; override"));
  BOOST_TEST(contains(out, "providers.calcom_api_key = ***  ; override"));
  BOOST_TEST(contains(out, "providers.smtp_password = ***  ; override"));
  BOOST_TEST(contains(out, "providers.sms_token = ***  ; override"));
  // An unset secret shows that it is unset; other values show as they are.
  BOOST_TEST(contains(out, "providers.whatsapp_token =   ; "));
  BOOST_TEST(contains(
      out, "providers.crm_webhook_url = http://127.0.0.1:9/crm  ; override"));
  BOOST_TEST(contains(out, "store.path = "));
}

BOOST_AUTO_TEST_CASE(serve_opens_the_store_and_stops_cleanly_on_sigterm) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  child_process proc({SWITCHBOARD_BINARY, "serve", "--config",
                      std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini",
                      "--set", "store.path=" + data, "--set", "http.port=0"});
  auto line = proc.wait_for("serving", 30s);
  BOOST_TEST_INFO(proc.output());
  BOOST_REQUIRE(!line.empty());
  BOOST_TEST(line.find(data) != std::string::npos);
  proc.signal(SIGTERM);
  BOOST_TEST(proc.wait(30s) == 0);
  BOOST_TEST(proc.output().find("store closed") != std::string::npos);
  // The environment exists on disk.
  std::ifstream mdb{data + "/data.mdb"};
  BOOST_TEST(mdb.good());
}

BOOST_AUTO_TEST_CASE(serve_refuses_unknown_and_mistyped_options) {
  temp_dir dir;
  auto ini = dir.path() + "/bad.ini";
  std::ofstream{ini} << "[store]\npath = " << dir.path()
                     << "/d\nmap_size_mb = big\ncolour = blue\n";
  child_process proc({SWITCHBOARD_BINARY, "serve", "--config", ini});
  BOOST_TEST(proc.wait(30s) == 2);
  BOOST_TEST_INFO(proc.output());
  BOOST_TEST(proc.output().find("store.map_size_mb") != std::string::npos);
  BOOST_TEST(proc.output().find("unknown option store.colour")
             != std::string::npos);
  // Nothing was created for a refused start.
  std::ifstream mdb{dir.path() + "/d/data.mdb"};
  BOOST_TEST(!mdb.good());
}

BOOST_AUTO_TEST_CASE(unknown_command_and_flag_are_refused) {
  child_process a({SWITCHBOARD_BINARY, "frobnicate"});
  BOOST_TEST(a.wait(10s) == 2);
  BOOST_TEST(a.output().find("unknown command frobnicate")
             != std::string::npos);
  child_process b({SWITCHBOARD_BINARY, "serve", "--colour"});
  BOOST_TEST(b.wait(10s) == 2);
  BOOST_TEST(b.output().find("unknown flag --colour") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(config_show_names_origins) {
  child_process proc(
      {SWITCHBOARD_BINARY, "config", "show", "--set", "log.level=debug"});
  BOOST_TEST(proc.wait(10s) == 0);
  BOOST_TEST(proc.output().find("log.level = debug  ; override")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
