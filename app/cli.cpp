#include "app/cli.hpp"

#include <iostream>
#include <sys/stat.h>

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

expected<config, std::vector<config_error>>
load_config(const common_flags& flags) {
  if (!flags.config_path.empty())
    return load_config_file(flags.config_path, flags.overrides);
  struct stat st {};
  if (::stat("config.ini", &st) == 0)
    return load_config_file("config.ini", flags.overrides);
  return parse_config("", "defaults", flags.overrides);
}

int run_config(const std::vector<std::string>& args) {
  auto flags = parse_common_flags(args);
  if (!flags) {
    std::cerr << "switchboard config: " << flags.error() << '\n';
    return 2;
  }
  if (flags->help) {
    std::cout << "usage: switchboard config [show|check] [--config FILE] "
                 "[--set section.key=value]...\n"
                 "  show   print every option, its value and where it came "
                 "from (default)\n"
                 "  check  only validate; exit 0 when valid\n";
    return 0;
  }
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
    std::cout << spec.key << " = " << cfg->get_string(spec.key) << "  ; "
              << cfg->origin(spec.key) << '\n';
  }
  return 0;
}

} // namespace switchboard::app
