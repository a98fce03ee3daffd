#include "app/cli.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sys/stat.h>

#include <app/data_lock.hpp>

namespace switchboard::app {

expected<common_flags, std::string>
parse_common_flags(const std::vector<std::string>& args) {
  common_flags out;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto value_of
        = [&](const std::string& flag) -> expected<std::string, std::string> {
      if (a.size() > flag.size()
          && a.compare(0, flag.size() + 1, flag + "=") == 0)
        return a.substr(flag.size() + 1);
      if (i + 1 >= args.size())
        return make_unexpected(flag + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      out.help = true;
    } else if (a == "--config" || a.rfind("--config=", 0) == 0) {
      auto v = value_of("--config");
      if (!v)
        return make_unexpected(v.error());
      out.config_path = *v;
    } else if (a == "--set" || a.rfind("--set=", 0) == 0) {
      auto v = value_of("--set");
      if (!v)
        return make_unexpected(v.error());
      out.overrides.push_back(*v);
    } else if (a.rfind("--", 0) == 0) {
      return make_unexpected("unknown flag " + a);
    } else {
      out.rest.push_back(a);
    }
  }
  return out;
}

config_source find_config(const common_flags& flags) {
  if (!flags.config_path.empty())
    return {flags.config_path, flags.config_path + " (--config)"};
  if (const char* env = std::getenv(config_env_var);
      env != nullptr && *env != '\0')
    return {env, std::string{env} + " ($" + config_env_var + ")", true};
  struct stat st {};
  if (::stat("config.ini", &st) == 0)
    return {"config.ini", "./config.ini"};
  return {"", "embedded defaults; no --config, $" + std::string{config_env_var}
                  + " or ./config.ini"};
}

expected<config, std::vector<config_error>>
load_config(const common_flags& flags) {
  auto src = find_config(flags);
  if (src.path.empty())
    return parse_config("", "defaults", flags.overrides);
  auto cfg = load_config_file(src.path, flags.overrides);
  if (!cfg && src.from_env && cfg.error().size() == 1
      && cfg.error()[0].key.empty() && cfg.error()[0].line == 0)
    // The file named by the environment: say where its name came from.
    cfg.error()[0].message
        += " (named by $" + std::string{config_env_var} + ")";
  return cfg;
}

bool is_secret_option(std::string_view key) {
  auto name = key.substr(key.find('.') + 1);
  for (std::string_view word : {"secret", "key", "token", "password"})
    if (name.find(word) != std::string_view::npos)
      return true;
  return false;
}

expected<store_location, int>
locate_store(const std::string& cmd, const common_flags& flags, bool create) {
  auto cfg = load_config(flags);
  if (!cfg) {
    std::cerr << "switchboard " << cmd << ": invalid configuration:\n"
              << to_string(cfg.error()) << '\n';
    return make_unexpected(2);
  }
  std::error_code ec;
  auto path = std::filesystem::absolute(cfg->get_string("store.path"), ec)
                  .lexically_normal()
                  .string();
  if (path.size() > 1 && path.back() == '/')
    path.pop_back();
  auto held_by = data_dir_lock::holder(path);
  std::cerr << "switchboard " << cmd << ": store " << path << " (config "
            << find_config(flags).label << ")"
            << (held_by > 0
                    ? "; daemon pid " + std::to_string(held_by) + " holds it"
                    : std::string{})
            << '\n';
  if (!create && !std::filesystem::exists(path + "/data.mdb", ec)) {
    std::cerr << "switchboard " << cmd << ": no store at " << path
              << " (set [store] path, --config FILE or $" << config_env_var
              << " to the daemon's configuration; `switchboard serve`"
              << (cmd == "tenant add" ? " or `tenant add --create`" : "")
              << " creates a store)\n";
    return make_unexpected(1);
  }
  return store_location{std::move(*cfg), std::move(path)};
}

expected<common_flags, int>
parse_command_flags(const std::string& cmd, const char* usage,
                    const std::vector<std::string>& args, bool operands) {
  auto flags = parse_common_flags(args);
  if (!flags) {
    std::cerr << "switchboard " << cmd << ": " << flags.error() << '\n';
    return make_unexpected(2);
  }
  if (flags->help) {
    std::cout << usage;
    return make_unexpected(0);
  }
  if (!operands && !flags->rest.empty()) {
    std::cerr << "switchboard " << cmd << ": unexpected argument "
              << flags->rest[0] << '\n';
    return make_unexpected(2);
  }
  return std::move(*flags);
}

int run_config(const std::vector<std::string>& args) {
  auto flags = parse_command_flags(
      "config",
      "usage: switchboard config [show|check] [--config FILE] "
      "[--set section.key=value]...\n"
      "  show   print every option, its value and where it came "
      "from (default);\n"
      "         secrets (names with secret, key, token or "
      "password) as ***\n"
      "  check  only validate; exit 0 when valid\n",
      args, true);
  if (!flags)
    return flags.error();
  auto cfg = load_config(*flags);
  if (!cfg) {
    std::cerr << "invalid configuration:\n" << to_string(cfg.error()) << '\n';
    return 2;
  }
  auto mode = flags->rest.empty() ? std::string{"show"} : flags->rest[0];
  if (mode == "check") {
    std::cout << "configuration is valid\n";
    return 0;
  }
  if (mode != "show") {
    std::cerr << "switchboard config: unknown mode " << mode << '\n';
    return 2;
  }
  for (const auto& spec : option_specs()) {
    const auto& value = cfg->get_string(spec.key);
    // Secrets are shown as set or not, never their value.
    std::cout << spec.key << " = "
              << (is_secret_option(spec.key) && !value.empty() ? "***" : value)
              << "  ; " << cfg->origin(spec.key) << '\n';
  }
  // The [listener.NAME] sections, which are not in the table of options.
  for (const auto& [key, value] : cfg->values())
    if (key.rfind("listener.", 0) == 0)
      std::cout << key << " = " << value << "  ; " << cfg->origin(key) << '\n';
  return 0;
}

} // namespace switchboard::app
