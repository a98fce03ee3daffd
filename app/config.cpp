#include "app/config.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace switchboard::app {

namespace {

using ot = option_type;

std::string_view trim(std::string_view s) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

/// The options of a `[listener.NAME]` section (`listener.NAME.field`).
const option_spec* listener_field_spec(std::string_view key) {
  using ot = option_type;
  static const std::vector<option_spec> fields = {
      {"tries",
       ot::integer,
       "",
       "most attempts of the listener's jobs (0: unlimited)",
       {},
       0,
       1000000},
      {"backoff_ms", ot::string, "",
       "milliseconds before each retry, comma-separated; the last repeats"},
      {"delay_ms",
       ot::integer,
       "",
       "milliseconds between the event and the first attempt",
       {},
       0,
       2592000000},
      {"timeout_ms",
       ot::integer,
       "",
       "milliseconds one attempt may run",
       {},
       1,
       86400000},
      {"poll_ms",
       ot::integer,
       "",
       "a catch-up listener's wait before it reads the log again when it "
       "read less than a batch (default 100, and up to 500 while idle)",
       {},
       1,
       3600000},
  };
  constexpr std::string_view prefix = "listener.";
  if (key.substr(0, prefix.size()) != prefix)
    return nullptr;
  auto dot = key.rfind('.');
  if (dot <= prefix.size())
    return nullptr; // no listener name
  auto field = key.substr(dot + 1);
  for (const auto& f : fields)
    if (f.key == field)
      return &f;
  return nullptr;
}

const option_spec* find_spec(std::string_view key) {
  for (const auto& spec : option_specs())
    if (spec.key == key)
      return &spec;
  return listener_field_spec(key);
}

bool parse_int(std::string_view text, std::int64_t& out) {
  auto first = text.data();
  auto last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc{} && ptr == last && !text.empty();
}

/// Checks `value` against the spec; returns an error message or "".
std::string check_value(const option_spec& spec, std::string_view value) {
  switch (spec.type) {
  case ot::string:
    return {};
  case ot::integer: {
    std::int64_t n = 0;
    if (!parse_int(value, n))
      return "expects an integer, got \"" + std::string{value} + "\"";
    if (n < spec.min || n > spec.max)
      return "must be between " + std::to_string(spec.min) + " and "
             + std::to_string(spec.max) + ", got " + std::string{value};
    return {};
  }
  case ot::boolean:
    if (value == "true" || value == "false")
      return {};
    return "expects true or false, got \"" + std::string{value} + "\"";
  case ot::choice: {
    if (std::find(spec.choices.begin(), spec.choices.end(), value)
        != spec.choices.end())
      return {};
    std::string msg = "expects one of";
    for (auto c : spec.choices)
      msg.append(" ").append(c);
    return msg + ", got \"" + std::string{value} + "\"";
  }
  }
  return {};
}

std::string unquote(std::string_view v) {
  if (v.size() >= 2
      && ((v.front() == '"' && v.back() == '"')
          || (v.front() == '\'' && v.back() == '\'')))
    return std::string{v.substr(1, v.size() - 2)};
  return std::string{v};
}

} // namespace

std::string to_string(const std::vector<config_error>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty())
      out += '\n';
    out += e.message;
  }
  return out;
}

config config::defaults() {
  return config{};
}

const std::map<std::string, std::string, std::less<>>& config::builtin() {
  static const auto built = [] {
    std::map<std::string, std::string, std::less<>> m;
    for (const auto& spec : option_specs())
      m.emplace(std::string{spec.key}, std::string{spec.default_value});
    return m;
  }();
  return built;
}

const std::string& config::get_string(std::string_view key) const {
  if (auto i = values_.find(key); i != values_.end())
    return i->second;
  if (auto i = builtin().find(key); i != builtin().end())
    return i->second;
  static const std::string empty;
  return empty;
}

std::int64_t config::get_int(std::string_view key) const {
  std::int64_t n = 0;
  parse_int(get_string(key), n);
  return n;
}

bool config::get_bool(std::string_view key) const {
  return get_string(key) == "true";
}

const std::string& config::origin(std::string_view key) const {
  if (auto i = origins_.find(key); i != origins_.end())
    return i->second;
  static const std::string by_default = "default";
  static const std::string none = "unknown";
  return builtin().count(key) != 0 ? by_default : none;
}

expected<config, std::vector<config_error>>
parse_config(std::string_view text, std::string_view origin,
             const std::vector<std::string>& overrides) {
  auto result = config::defaults();
  std::vector<config_error> errors;
  std::map<std::string, int, std::less<>> seen;
  auto assign = [&](const std::string& key, std::string_view value, int line_no,
                    std::string_view where) {
    auto* spec = find_spec(key);
    auto at = [&] {
      return line_no > 0
                 ? std::string{origin} + ":" + std::to_string(line_no) + ": "
                 : std::string{"override: "};
    };
    if (spec == nullptr) {
      errors.push_back({key, line_no, at() + "unknown option " + key});
      return;
    }
    if (auto msg = check_value(*spec, value); !msg.empty()) {
      errors.push_back({key, line_no, at() + key + " " + msg});
      return;
    }
    if (spec->key == "backoff_ms") {
      std::vector<std::uint32_t> list;
      if (auto msg = parse_ms_list(value, list); !msg.empty()) {
        errors.push_back({key, line_no, at() + key + " " + msg});
        return;
      }
    }
    result.values_[key] = std::string{value};
    result.origins_[key] = std::string{where};
  };
  std::string section;
  // The text is walked in place, a line at a time (as std::getline splits
  // it: at each '\n', the last line with or without one).
  int line_no = 0;
  for (std::size_t at = 0; at < text.size();) {
    auto nl = text.find('\n', at);
    auto raw = text.substr(at, nl == std::string_view::npos ? nl : nl - at);
    at = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    auto line = trim(raw);
    if (line.empty() || line.front() == ';' || line.front() == '#')
      continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        errors.push_back({"", line_no,
                          std::string{origin} + ":" + std::to_string(line_no)
                              + ": malformed section header"});
        continue;
      }
      section = std::string{trim(line.substr(1, line.size() - 2))};
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      errors.push_back({"", line_no,
                        std::string{origin} + ":" + std::to_string(line_no)
                            + ": expected key = value"});
      continue;
    }
    auto name = std::string{trim(line.substr(0, eq))};
    auto value = trim(line.substr(eq + 1));
    // Strip a trailing comment that follows whitespace (after the closing
    // quote of a quoted value).
    std::size_t from = 0;
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      auto close = value.find(value.front(), 1);
      from = close == std::string_view::npos ? value.size() : close + 1;
    }
    for (auto pos = value.find_first_of(";#", from);
         pos != std::string_view::npos;
         pos = value.find_first_of(";#", pos + 1)) {
      if (pos > 0 && (value[pos - 1] == ' ' || value[pos - 1] == '\t')) {
        value = trim(value.substr(0, pos));
        break;
      }
    }
    auto key = section.empty() ? name : section + "." + name;
    if (section.empty()) {
      errors.push_back({key, line_no,
                        std::string{origin} + ":" + std::to_string(line_no)
                            + ": option " + name + " outside any section"});
      continue;
    }
    if (auto [it, fresh] = seen.emplace(key, line_no); !fresh) {
      errors.push_back({key, line_no,
                        std::string{origin} + ":" + std::to_string(line_no)
                            + ": " + key + " set twice (first on line "
                            + std::to_string(it->second) + ")"});
      continue;
    }
    assign(key, unquote(value), line_no, origin);
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos) {
      errors.push_back(
          {o, 0, "override: expected section.key=value, got " + o});
      continue;
    }
    assign(std::string{trim(std::string_view{o}.substr(0, eq))},
           unquote(trim(std::string_view{o}.substr(eq + 1))), 0, "override");
  }
  if (!errors.empty())
    return make_unexpected(std::move(errors));
  return result;
}

std::string parse_ms_list(std::string_view text,
                          std::vector<std::uint32_t>& out) {
  out.clear();
  auto rest = trim(text);
  if (rest.empty())
    return "expects milliseconds, comma-separated (e.g. 1000,5000)";
  while (true) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    std::int64_t n = 0;
    if (!parse_int(item, n) || n < 0 || n > 86400000)
      return "expects milliseconds from 0 to 86400000, comma-separated, "
             "got \""
             + std::string{item} + "\"";
    out.push_back(static_cast<std::uint32_t>(n));
    if (out.size() > 64)
      return "takes at most 64 entries";
    if (comma == std::string_view::npos)
      break;
    rest = rest.substr(comma + 1);
  }
  return {};
}

std::map<std::string, listener_settings>
listener_settings_of(const config& cfg) {
  std::map<std::string, listener_settings> out;
  constexpr std::string_view prefix = "listener.";
  for (const auto& [key, value] : cfg.values()) {
    std::string_view k = key;
    if (k.substr(0, prefix.size()) != prefix)
      continue;
    auto dot = k.rfind('.');
    auto name = std::string{k.substr(prefix.size(), dot - prefix.size())};
    auto field = k.substr(dot + 1);
    auto& s = out[name];
    std::int64_t n = 0;
    if (field == "backoff_ms") {
      std::vector<std::uint32_t> list;
      if (parse_ms_list(value, list).empty())
        s.backoff_ms = std::move(list);
    } else if (parse_int(value, n)) {
      if (field == "tries")
        s.tries = static_cast<std::uint32_t>(n);
      else if (field == "delay_ms")
        s.delay_ms = static_cast<std::uint32_t>(n);
      else if (field == "timeout_ms")
        s.timeout_ms = static_cast<std::uint32_t>(n);
      else if (field == "poll_ms")
        s.poll_ms = static_cast<std::uint32_t>(n);
    }
  }
  return out;
}

expected<config, std::vector<config_error>>
load_config_file(const std::string& path,
                 const std::vector<std::string>& overrides) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    return make_unexpected(
        std::vector<config_error>{{"", 0, "cannot read config file " + path}});
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path, overrides);
}

} // namespace switchboard::app
