#pragma once

#include <string>
#include <vector>

#include <app/config.hpp>
#include <messages/expected.hpp>

namespace switchboard::app {

/// Flags shared by every subcommand that reads the configuration.
struct common_flags {
  std::string config_path;            ///< --config FILE; empty = default.
  std::vector<std::string> overrides; ///< --set section.key=value.
  std::vector<std::string> rest;      ///< Positional arguments left over.
  bool help = false;                  ///< --help or -h was given.
};

/// Parses `--config FILE`, `--config=FILE`, `--set k=v`, `--help`; anything
/// else starting with `--` is an error naming the flag.
expected<common_flags, std::string>
parse_common_flags(const std::vector<std::string>& args);

/// Loads the configuration the flags ask for: `--config FILE` when given,
/// else ./config.ini when it exists, else the embedded defaults; then the
/// overrides. On error prints every problem to stderr.
expected<config, std::vector<config_error>>
load_config(const common_flags& flags);

/// `switchboard serve`: runs the daemon until SIGTERM or SIGINT. Returns the
/// process exit code.
int run_serve(const std::vector<std::string>& args);

/// `switchboard config [show|check]`: prints the effective configuration
/// with the origin of each value, or only validates it.
int run_config(const std::vector<std::string>& args);

} // namespace switchboard::app
