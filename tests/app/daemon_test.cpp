// Runs the real switchboard binary.

#include <fstream>

#include <boost/test/unit_test.hpp>

#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using switchboard::test::child_process;
using switchboard::test::temp_dir;

BOOST_AUTO_TEST_SUITE(daemon_suite)

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
