// The README's walkthrough, run as it stands against a fresh daemon: the
// shell block between the walkthrough markers, with the daemon's port,
// store and webhook secret passed in through the variables it reads.

#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

namespace {

std::string readme_block() {
  std::ifstream in{std::string{SWITCHBOARD_SOURCE_DIR} + "/README.md"};
  std::stringstream ss;
  ss << in.rdbuf();
  auto text = ss.str();
  const std::string open = "<!-- walkthrough -->\n```sh\n";
  const std::string close = "```\n<!-- /walkthrough -->";
  auto b = text.find(open);
  auto e = text.find(close);
  if (b == std::string::npos || e == std::string::npos || e < b)
    return {};
  return text.substr(b + open.size(), e - b - open.size());
}

struct walkthrough_daemon : daemon_fixture {
  walkthrough_daemon()
      : daemon_fixture({"webhooks.call_provider_secret=walk-secret"}) {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(readme_suite)

BOOST_FIXTURE_TEST_CASE(readme_walkthrough_runs, walkthrough_daemon) {
  auto block = readme_block();
  BOOST_REQUIRE_MESSAGE(!block.empty(), "README.md has no walkthrough block");
  auto script = dir.path() + "/walkthrough.sh";
  std::ofstream{script} << block;
  // `$SB` is the CLI on this daemon's store.
  auto sb = dir.path() + "/sb";
  {
    std::ofstream out{sb};
    out << "#!/bin/sh\nexec '" << SWITCHBOARD_BINARY << "' \"$@\"";
    for (const auto& a : base_args())
      out << " '" << a << "'";
    out << '\n';
  }
  BOOST_REQUIRE(::chmod(sb.c_str(), 0755) == 0);
  child_process p({"/usr/bin/env", "SB=" + sb,
                   "API=http://127.0.0.1:" + std::to_string(port),
                   "WEBHOOK_SECRET=walk-secret", "bash", "-euo", "pipefail",
                   script});
  std::string line;
  while (p.read_line(line, 60s)) {
  }
  auto rc = p.wait(60s);
  BOOST_TEST_INFO(p.output());
  BOOST_TEST(rc == 0);
  const auto& out = p.output();
  BOOST_TEST(out.find("\"slots\":[\"") != std::string::npos);
  BOOST_TEST(out.find("\"status\":\"cancelled\"") != std::string::npos);
  BOOST_TEST(out.find("\"state\":\"started\"") != std::string::npos);
  BOOST_TEST(out.find("\"appointments\":{") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
