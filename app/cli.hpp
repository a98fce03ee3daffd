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

/// `parse_common_flags` with what every command does first, for
/// `switchboard <cmd>`: prints a bad flag to stderr (exit status 2), or
/// `usage` for --help (exit status 0). Without `operands`, any argument
/// that is not a flag is an error too. Returns the flags, or the exit
/// status when the command is done.
expected<common_flags, int>
parse_command_flags(const std::string& cmd, const char* usage,
                    const std::vector<std::string>& args, bool operands);

/// The environment variable naming the configuration file when no
/// `--config` is given.
inline constexpr const char* config_env_var = "SWITCHBOARD_CONFIG";

/// The configuration file the flags ask for: `--config FILE` when given,
/// else the file named by $SWITCHBOARD_CONFIG when set and not empty, else
/// ./config.ini when it exists, else none (the embedded defaults).
struct config_source {
  std::string path;      ///< Empty: the embedded defaults only.
  std::string label;     ///< How it was chosen, for messages.
  bool from_env = false; ///< Named by $SWITCHBOARD_CONFIG.
};
config_source find_config(const common_flags& flags);

/// Loads the configuration `find_config` names, then the overrides. A
/// named file that cannot be read is an error naming it.
expected<config, std::vector<config_error>>
load_config(const common_flags& flags);

/// True for an option whose value is a secret (its name contains secret,
/// key, token or password): `config show` prints it as `***`.
bool is_secret_option(std::string_view key);

/// Where a command-line tool finds the store: the configuration it read
/// and the store's absolute path.
struct store_location {
  config cfg;
  std::string path; ///< Absolute `[store] path`.
};

/// Loads the configuration for tool `cmd` (as `serve` does) and prints
/// one line to stderr naming the store path, the configuration it came
/// from and the pid of the daemon that holds the store, if one does. An
/// absent store is an error naming the path, unless `create` (the tool
/// then creates it). Prints errors to stderr, prefixed with `cmd`.
/// @returns the location, or the exit code (2: bad configuration, 1: no
///          store).
expected<store_location, int> locate_store(const std::string& cmd,
                                           const common_flags& flags,
                                           bool create = false);

/// `switchboard serve`: runs the daemon until SIGTERM or SIGINT. Returns the
/// process exit code.
int run_serve(const std::vector<std::string>& args);

/// `switchboard config [show|check]`: prints the effective configuration
/// with the origin of each value, or only validates it.
int run_config(const std::vector<std::string>& args);

} // namespace switchboard::app
