#include "app/cli.hpp"
#include "app/config.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <boost/test/unit_test.hpp>

using namespace switchboard::app;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// True when some error names `key` and its message contains `text`.
bool has_error(const std::vector<config_error>& errors, const std::string& key,
               const std::string& text) {
  for (const auto& e : errors)
    if (e.key == key && e.message.find(text) != std::string::npos)
      return true;
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_suite)

BOOST_AUTO_TEST_CASE(empty_text_gives_defaults) {
  auto cfg = parse_config("", "test");
  BOOST_REQUIRE(cfg);
  BOOST_TEST(cfg->get_string("store.path") == "./data");
  BOOST_TEST(cfg->get_int("store.map_size_mb") == 1024);
  BOOST_TEST(cfg->get_string("store.sync") == "full");
  BOOST_TEST(cfg->origin("store.path") == "default");
}

BOOST_AUTO_TEST_CASE(repo_config_ini_lists_every_option_with_its_default) {
  auto path = std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini";
  auto text = read_file(path);
  BOOST_REQUIRE(!text.empty());
  auto cfg = parse_config(text, path);
  BOOST_REQUIRE_MESSAGE(cfg, (cfg ? "" : to_string(cfg.error())));
  for (const auto& spec : option_specs()) {
    BOOST_TEST_INFO("option " << spec.key);
    BOOST_TEST(cfg->origin(spec.key) == path);
    BOOST_TEST(cfg->get_string(spec.key) == spec.default_value);
  }
}

BOOST_AUTO_TEST_CASE(values_are_read_and_typed) {
  auto cfg = parse_config("[store]\npath = \"/tmp/x y\" ; comment\n"
                          "map_size_mb=64\nsync = none\n"
                          "[scheduler]\nmax_threads = 4\n",
                          "t.ini");
  BOOST_REQUIRE(cfg);
  BOOST_TEST(cfg->get_string("store.path") == "/tmp/x y");
  BOOST_TEST(cfg->get_int("store.map_size_mb") == 64);
  BOOST_TEST(cfg->get_string("store.sync") == "none");
  BOOST_TEST(cfg->get_int("scheduler.max_threads") == 4);
  BOOST_TEST(cfg->origin("store.sync") == "t.ini");
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_sections_are_refused_by_name) {
  auto cfg = parse_config("[store]\npaht = x\n[nope]\nkey = 1\n", "t.ini");
  BOOST_REQUIRE(!cfg);
  BOOST_TEST(has_error(cfg.error(), "store.paht", "unknown option store.paht"));
  BOOST_TEST(has_error(cfg.error(), "nope.key", "unknown option nope.key"));
  BOOST_TEST(has_error(cfg.error(), "store.paht", "t.ini:2"));
}

BOOST_AUTO_TEST_CASE(wrong_types_are_refused_by_name) {
  auto cfg = parse_config("[store]\nmap_size_mb = lots\nsync = sometimes\n"
                          "max_batch = 0\n[log]\nformat = xml\n",
                          "t.ini");
  BOOST_REQUIRE(!cfg);
  BOOST_TEST(cfg.error().size() == 4u);
  BOOST_TEST(has_error(cfg.error(), "store.map_size_mb", "integer"));
  BOOST_TEST(has_error(cfg.error(), "store.sync", "one of full"));
  BOOST_TEST(has_error(cfg.error(), "store.max_batch", "between 1"));
  BOOST_TEST(has_error(cfg.error(), "log.format", "xml"));
}

BOOST_AUTO_TEST_CASE(syntax_errors_and_duplicates_are_refused) {
  auto cfg = parse_config("[store\npath = a\npath = b\njust words\n", "t.ini");
  BOOST_REQUIRE(!cfg);
  BOOST_TEST(has_error(cfg.error(), "", "malformed section header"));
  BOOST_TEST(has_error(cfg.error(), "", "expected key = value"));
}

BOOST_AUTO_TEST_CASE(duplicate_key_is_refused) {
  auto cfg = parse_config("[store]\npath = a\npath = b\n", "t.ini");
  BOOST_REQUIRE(!cfg);
  BOOST_TEST(has_error(cfg.error(), "store.path", "set twice"));
}

BOOST_AUTO_TEST_CASE(overrides_apply_last_and_are_validated) {
  auto cfg = parse_config("[store]\npath = a\n", "t.ini", {"store.path=b"});
  BOOST_REQUIRE(cfg);
  BOOST_TEST(cfg->get_string("store.path") == "b");
  BOOST_TEST(cfg->origin("store.path") == "override");
  auto bad = parse_config("", "t.ini", {"store.sync=maybe", "x"});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(has_error(bad.error(), "store.sync", "maybe"));
  BOOST_TEST(has_error(bad.error(), "x", "section.key=value"));
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_error) {
  auto cfg = load_config_file("/nonexistent/switchboard.ini");
  BOOST_REQUIRE(!cfg);
  BOOST_TEST(cfg.error().front().message.find("/nonexistent/switchboard.ini")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(secrets_are_the_options_named_so) {
  std::vector<std::string> secrets;
  for (const auto& spec : option_specs())
    if (is_secret_option(spec.key))
      secrets.emplace_back(spec.key);
  // Every credential of config.ini, and nothing else.
  for (const char* key :
       {"providers.calcom_api_key", "providers.crm_secret",
        "providers.crm_token", "providers.sms_token",
        "providers.whatsapp_token", "providers.smtp_password",
        "providers.twilio_auth_token", "providers.twilio_api_key_secret",
        "webhooks.call_provider_secret", "webhooks.calcom_secret",
        "cluster.secret"}) {
    BOOST_TEST_INFO(key);
    BOOST_TEST(std::count(secrets.begin(), secrets.end(), key) == 1);
  }
  for (const char* key :
       {"store.path", "providers.smtp_user", "providers.calcom_base_url",
        "providers.calcom_api_version", "webhooks.tolerance_s"}) {
    BOOST_TEST_INFO(key);
    BOOST_TEST(!is_secret_option(key));
  }
}

BOOST_AUTO_TEST_SUITE_END()
