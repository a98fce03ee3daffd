#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <messages/expected.hpp>

namespace switchboard::app {

/// The type an option's value must have.
enum class option_type { string, integer, boolean, choice };

/// One option of config.ini: `section.key`, its type, default and help.
/// The table of all options (option_specs) is the single source of truth:
/// defaults are embedded in the binary, and tests check that config.ini
/// lists every option with exactly this default.
struct option_spec {
  std::string_view key;
  option_type type;
  std::string_view default_value;
  std::string_view help;
  std::vector<std::string_view> choices = {}; ///< For option_type::choice.
  std::int64_t min = 0;                       ///< For option_type::integer.
  std::int64_t max = INT64_MAX;               ///< For option_type::integer.
};

/// Every option Switchboard knows, in the order config.ini documents them.
const std::vector<option_spec>& option_specs();

/// A problem with the configuration, naming the option (or line) at fault.
struct config_error {
  std::string key;     ///< `section.key`, or empty for syntax errors.
  int line = 0;        ///< 1-based line in the file, 0 for overrides.
  std::string message; ///< Human-readable, names the key and the problem.
};

/// Renders errors one per line, e.g. for stderr before refusing to start.
std::string to_string(const std::vector<config_error>& errors);

/// Validated configuration: every known option has a value of its type.
class config {
public:
  /// The embedded defaults, with no file read.
  static config defaults();

  const std::string& get_string(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  bool get_bool(std::string_view key) const;

  /// Where a value came from: "default", a file path, or "override".
  const std::string& origin(std::string_view key) const;

  /// The values set by a file or an override (an option left at its
  /// default is not listed; get_string answers its default).
  const std::map<std::string, std::string, std::less<>>& values() const {
    return values_;
  }

private:
  friend expected<config, std::vector<config_error>>
  parse_config(std::string_view, std::string_view,
               const std::vector<std::string>&);
  /// Every option's default, built once from option_specs.
  static const std::map<std::string, std::string, std::less<>>& builtin();
  // Only what was set: a parse starts from nothing rather than from a copy
  // of every default.
  std::map<std::string, std::string, std::less<>> values_;
  std::map<std::string, std::string, std::less<>> origins_;
};

/// Parses INI text (`[section]`, `key = value`, `;` or `#` comments; values
/// may be quoted) over the embedded defaults, then applies `overrides`
/// (each `section.key=value`). Unknown sections or keys, duplicate keys,
/// values of the wrong type or out of range: all are reported, each naming
/// its key, and no config is returned.
expected<config, std::vector<config_error>>
parse_config(std::string_view ini_text, std::string_view origin,
             const std::vector<std::string>& overrides = {});

/// What a `[listener.NAME]` section of config.ini sets for the queued
/// listener NAME (or every handler of the subscriber NAME); unset fields
/// keep the listener's own values.
struct listener_settings {
  std::optional<std::uint32_t> tries;
  std::optional<std::vector<std::uint32_t>> backoff_ms;
  std::optional<std::uint32_t> delay_ms;
  std::optional<std::uint32_t> timeout_ms;
  std::optional<std::uint32_t> poll_ms;
};

/// The `[listener.NAME]` sections of `cfg`, by NAME. (parse_config checked
/// their keys and values; whether NAME is a listener is the daemon's to
/// check, which refuses to start on an unknown one.)
std::map<std::string, listener_settings>
listener_settings_of(const config& cfg);

/// Parses comma-separated milliseconds (`1000,5000`) into `out`; returns
/// an error message, or "" when it parsed.
std::string parse_ms_list(std::string_view text,
                          std::vector<std::uint32_t>& out);

/// Reads `path` and parses it as parse_config does. A missing or unreadable
/// file is an error naming the path.
expected<config, std::vector<config_error>>
load_config_file(const std::string& path,
                 const std::vector<std::string>& overrides = {});

} // namespace switchboard::app
