#include "app/cli_common.hpp"

#include <charconv>
#include <chrono>

#include <app/store_options.hpp>

namespace switchboard::app {

namespace cli {

namespace {

/// Takes `value_flags` and `switch_flags` out of `args` into `out`; the
/// other arguments go to `rest`. Returns an error naming the flag, or "".
std::string take_flags(const std::vector<std::string>& args,
                       const std::set<std::string>& value_flags,
                       const std::set<std::string>& switch_flags,
                       parsed_args& out, std::vector<std::string>& rest) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto eq = a.find('=');
    auto name = a.rfind("--", 0) == 0 ? a.substr(0, eq) : std::string{};
    if (!name.empty() && value_flags.count(name) > 0) {
      if (eq != std::string::npos) {
        out.values[name] = a.substr(eq + 1);
      } else {
        if (i + 1 >= args.size())
          return name + " needs a value";
        out.values[name] = args[++i];
      }
    } else if (!name.empty() && eq == std::string::npos
               && switch_flags.count(name) > 0) {
      out.switches.insert(name);
    } else {
      rest.push_back(a);
    }
  }
  return {};
}

} // namespace

expected<parsed_args, std::string>
parse_args(const std::vector<std::string>& args,
           const std::set<std::string>& value_flags,
           const std::set<std::string>& switch_flags) {
  parsed_args out;
  std::vector<std::string> rest;
  if (auto err = take_flags(args, value_flags, switch_flags, out, rest);
      !err.empty())
    return make_unexpected(std::move(err));
  auto common = parse_common_flags(rest);
  if (!common)
    return make_unexpected(common.error());
  out.common = std::move(*common);
  return out;
}

expected<parsed_args, int>
parse_tool_args(const std::string& cmd, const char* usage,
                const std::vector<std::string>& args,
                const std::set<std::string>& value_flags,
                const std::set<std::string>& switch_flags, bool operands,
                const char* one_operand) {
  parsed_args out;
  std::vector<std::string> rest;
  if (auto err = take_flags(args, value_flags, switch_flags, out, rest);
      !err.empty()) {
    std::cerr << "switchboard " << cmd << ": " << err << '\n';
    return make_unexpected(2);
  }
  auto common = parse_command_flags(cmd, usage, rest, operands);
  if (!common)
    return make_unexpected(common.error());
  if (one_operand != nullptr && common->rest.size() != 1) {
    std::cerr << "switchboard " << cmd << ": " << one_operand << usage;
    return make_unexpected(2);
  }
  out.common = std::move(*common);
  return out;
}

bool read_uints(
    const std::string& cmd, const parsed_args& a,
    std::initializer_list<std::pair<const char*, std::uint64_t*>> flags) {
  for (auto [flag, out] : flags) {
    if (auto i = a.values.find(flag); i != a.values.end()) {
      auto n = to_uint(flag, i->second);
      if (!n) {
        std::cerr << "switchboard " << cmd << ": " << n.error() << '\n';
        return false;
      }
      *out = *n;
    }
  }
  return true;
}

expected<std::uint64_t, std::string> to_uint(const std::string& flag,
                                             const std::string& text) {
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty())
    return make_unexpected(flag + " expects a non-negative integer, got \""
                           + text + "\"");
  return n;
}

std::unique_ptr<node_store> open_store(const std::string& cmd,
                                       const common_flags& flags,
                                       bool rebuild_stream_index) {
  auto where = locate_store(cmd, flags);
  if (!where)
    return nullptr;
  auto opts = store_options(where->cfg);
  opts.path = where->path;
  auto st = node_store::open(opts, rebuild_stream_index);
  if (!st) {
    std::cerr << "switchboard " << cmd << ": cannot open the store at "
              << opts.path << ": " << st.error() << '\n';
    return nullptr;
  }
  return std::move(*st);
}

int unknown_value(const std::string& cmd, const char* flag, const char* what,
                  const std::string& value,
                  const std::vector<std::string_view>& known) {
  std::cerr << "switchboard " << cmd << ": " << flag << ": unknown " << what
            << " \"" << value << '"';
  for (std::size_t i = 0; i < known.size(); ++i)
    std::cerr << (i == 0 ? " (one of " : ", ") << known[i];
  std::cerr << (known.empty() ? "\n" : ")\n");
  return 2;
}

timestamp_ms wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace cli

} // namespace switchboard::app
