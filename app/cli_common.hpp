#pragma once

// Pieces shared by the store tools (app/cli_*.cpp).

#include <initializer_list>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <actors/node.hpp>
#include <app/cli.hpp>
#include <app/cli_tools.hpp>

namespace switchboard::app::cli {

/// Arguments split into the command's own flags and the rest.
struct parsed_args {
  common_flags common;
  std::map<std::string, std::string> values; ///< --flag VALUE
  std::set<std::string> switches;            ///< --flag
};

/// Takes `value_flags` (with a value, `--f V` or `--f=V`) and `switch_flags`
/// out of `args`, then parses the rest as common flags. Errors name the
/// flag.
expected<parsed_args, std::string>
parse_args(const std::vector<std::string>& args,
           const std::set<std::string>& value_flags,
           const std::set<std::string>& switch_flags);

/// `parse_args` with what every tool does first, for `switchboard <cmd>`:
/// prints a bad flag to stderr (exit status 2), or `usage` for --help (exit
/// status 0). Without `operands`, any argument that is not a flag is an
/// error too. With `one_operand`, the tool takes exactly one operand
/// (`common.rest[0]`): with none or more, it prints `switchboard <cmd>:
/// <one_operand>` (ending with its own line feed) and `usage` to stderr
/// (exit status 2). Returns the arguments, or the exit status when the tool
/// is done.
expected<parsed_args, int>
parse_tool_args(const std::string& cmd, const char* usage,
                const std::vector<std::string>& args,
                const std::set<std::string>& value_flags,
                const std::set<std::string>& switch_flags, bool operands,
                const char* one_operand = nullptr);

/// Parses a non-negative integer flag value; errors name the flag.
expected<std::uint64_t, std::string> to_uint(const std::string& flag,
                                             const std::string& text);

/// Sets each target of `flags` whose flag `a` holds to the flag's value (a
/// non-negative integer); the others keep theirs. A bad value: an error on
/// stderr naming `cmd`, and false.
bool read_uints(
    const std::string& cmd, const parsed_args& a,
    std::initializer_list<std::pair<const char*, std::uint64_t*>> flags);

/// Loads the configuration (`locate_store`: one line on stderr names the
/// store) and opens the store it names. An absent store is an error (the
/// tools never create one). Prints errors to stderr with `cmd` and returns
/// null. `rebuild_stream_index`: see `node_store::open`.
std::unique_ptr<node_store> open_store(const std::string& cmd,
                                       const common_flags& flags,
                                       bool rebuild_stream_index = true);

/// Prints `switchboard <cmd>: <flag>: unknown <what> "<value>"` to stderr,
/// with ` (one of <known>)` when `known` names any, and returns the exit
/// status 2.
int unknown_value(const std::string& cmd, const char* flag, const char* what,
                  const std::string& value,
                  const std::vector<std::string_view>& known = {});

/// Milliseconds since the epoch, now.
timestamp_ms wall_now();

} // namespace switchboard::app::cli
