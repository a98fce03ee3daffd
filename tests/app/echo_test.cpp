// Laravel Echo and pusher-js from npm (tests/app/echo/package.json, exact
// versions) against the real daemon: Echo subscribes to the private
// channel company.acme through POST /broadcasting/auth with acme's token,
// and a booking over HTTP reaches it as appointment.created with the
// seed's payload. The modules are installed once into the build tree with
// `npm install --no-package-lock`; without node, npm or the registry the
// test says so and is skipped.

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

namespace fs = std::filesystem;

namespace {

/// The executable `name` on PATH, or "".
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    auto p = fs::path{dir} / name;
    std::error_code ec;
    if (fs::exists(p, ec) && ::access(p.c_str(), X_OK) == 0)
      return p.string();
  }
  return {};
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Installs package.json's modules beside listen.mjs in the build tree
/// (again only when package.json changed). Returns the directory, or ""
/// with `why` set when it cannot.
std::string install_echo(std::string& why) {
  auto node = find_on_path("node");
  auto npm = find_on_path("npm");
  if (node.empty() || npm.empty()) {
    why = "node or npm is not installed";
    return {};
  }
  fs::path src = std::string{SWITCHBOARD_SOURCE_DIR} + "/tests/app/echo";
  fs::path dir = SWITCHBOARD_NPM_DIR;
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto manifest = read_file(src / "package.json");
  bool fresh = read_file(dir / "package.json") == manifest
               && fs::exists(dir / "node_modules/laravel-echo/package.json")
               && fs::exists(dir / "node_modules/pusher-js/package.json");
  fs::copy_file(src / "listen.mjs", dir / "listen.mjs",
                fs::copy_options::overwrite_existing, ec);
  if (fresh)
    return dir.string();
  fs::copy_file(src / "package.json", dir / "package.json",
                fs::copy_options::overwrite_existing, ec);
  child_process install{{"/bin/sh", "-c",
                         "cd '" + dir.string()
                             + "' && timeout 240 npm install "
                               "--no-package-lock --no-audit --no-fund"}};
  auto rc = install.wait(260s);
  if (rc != 0) {
    why = "npm install failed (no registry?): " + install.output();
    fs::remove(dir / "package.json", ec); // try again next time
    return {};
  }
  return dir.string();
}

struct echo_fixture : daemon_fixture {
  echo_fixture()
      : daemon_fixture({"broadcasting.app_id=4242", "broadcasting.key=echo-key",
                        "broadcasting.secret=echo-secret"}) {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(broadcast_echo_suite)

BOOST_FIXTURE_TEST_CASE(laravel_echo_receives_a_booking, echo_fixture) {
  std::string why;
  auto dir = install_echo(why);
  if (dir.empty()) {
    BOOST_TEST_MESSAGE("skipped: " << why);
    return;
  }
  child_process echo{{find_on_path("node"), dir + "/listen.mjs",
                      std::to_string(port), "echo-key", acme, "acme"}};
  auto subscribed = echo.wait_for("\"subscribed\"", 30s);
  BOOST_TEST_INFO(echo.output());
  BOOST_REQUIRE(subscribed.find("private-company.acme") != std::string::npos);

  http_client c{port};
  seed(c, acme);
  // Another company's booking never reaches acme's channel.
  created(c.request("POST", "/api/customers",
                    R"({"id":"gc1","name":"Gus","phone":"+4930999"})", globex));
  created(post_service(c, globex, "gs1", "Wash", 900, 30));
  created(post_staff(c, globex, "gst1", "Gi"));
  created(book(c, globex, "g1", utc_at(2, 9), "gc1", "gs1", "gst1"));
  json::object b{{"id", "a1"},
                 {"customer_id", "cu1"},
                 {"service_id", "s1"},
                 {"staff_id", "st1"},
                 {"start_time", utc_at(2, 10)},
                 {"notes", "from echo_test"}};
  created(c.request("POST", "/api/appointments", json::serialize(b), acme));

  // Echo hands the listener the payload, parsed: the seed's broadcastWith.
  auto line = echo.wait_for("appointment.created", 30s);
  BOOST_TEST_INFO(echo.output());
  BOOST_REQUIRE(!line.empty());
  auto v = json::parse(line);
  const auto& a = v.at("data").at("appointment");
  BOOST_TEST(a.at("id").as_string() == "a1");
  BOOST_TEST(a.at("company_id").as_string() == "acme");
  BOOST_TEST(a.at("notes").as_string() == "from echo_test");
  BOOST_TEST(v.at("data").as_object().contains("source"));
  // The first appointment Echo saw was acme's: globex's came before it.
  BOOST_TEST(echo.output().find("\"g1\"") == std::string::npos);
  BOOST_TEST(echo.output().find("\"error\"") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
