#include "actors/log.hpp"

#include "messages/enum_table.hpp"

#include <chrono>
#include <ctime>
#include <mutex>
#include <string_view>

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace switchboard::log {

namespace {

constexpr auto subsystem_names = name_table<subsystem>(
    {"app", "caf", "calls", "cluster", "dispatcher", "http", "http.access",
     "listeners", "node", "providers", "queue", "router", "stats", "store"},
    "unknown");
static_assert(subsystem_names.covers(subsystem::store));

/// The characters JSON escapes by name, and their escapes.
constexpr code_mapping<char, std::string_view> escapes[] = {
    {'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}};

/// Writes each record as one JSON object: time, level, logger, message.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    auto n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms % 1000));
    append(dest, "{\"time\":\"");
    append(dest, ts);
    append(dest, "\",\"level\":\"");
    auto lvl = spdlog::level::to_string_view(msg.level);
    dest.append(lvl.data(), lvl.data() + lvl.size());
    append(dest, "\",\"logger\":");
    append_escaped(dest, {msg.logger_name.data(), msg.logger_name.size()});
    append(dest, ",\"msg\":");
    append_escaped(dest, {msg.payload.data(), msg.payload.size()});
    append(dest, "}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }

private:
  static void append(spdlog::memory_buf_t& dest, std::string_view s) {
    dest.append(s.data(), s.data() + s.size());
  }

  static void append_escaped(spdlog::memory_buf_t& dest, std::string_view s) {
    dest.push_back('"');
    for (char c : s) {
      // Most characters need no escape: only look those up that might.
      if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) {
        dest.push_back(c);
      } else if (auto esc = map_code(c, escapes, std::string_view{});
                 !esc.empty()) {
        append(dest, esc);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        append(dest, buf);
      }
    }
    dest.push_back('"');
  }
};

struct settings {
  std::mutex mtx;
  spdlog::level::level_enum level = spdlog::level::info;
  format fmt = format::text;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
};

settings& global() {
  static settings s;
  return s;
}

void apply(spdlog::logger& lg, const settings& s) {
  lg.set_level(s.level);
  if (s.fmt == format::json)
    lg.set_formatter(std::make_unique<json_formatter>());
  else
    lg.set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v", spdlog::pattern_time_type::utc));
}

} // namespace

void configure(const std::string& level, format fmt) {
  auto& s = global();
  std::lock_guard<std::mutex> guard{s.mtx};
  s.level = spdlog::level::from_str(level);
  s.fmt = fmt;
  spdlog::apply_all([&s](const std::shared_ptr<spdlog::logger>& lg) {
    apply(*lg, s);
  });
}

const char* name_of(subsystem s) {
  return subsystem_names(s);
}

std::shared_ptr<spdlog::logger> get(subsystem which) {
  const std::string name = name_of(which);
  if (auto lg = spdlog::get(name))
    return lg;
  auto& s = global();
  std::lock_guard<std::mutex> guard{s.mtx};
  if (auto lg = spdlog::get(name))
    return lg;
  auto lg = std::make_shared<spdlog::logger>(name, s.sink);
  apply(*lg, s);
  spdlog::register_logger(lg);
  return lg;
}

} // namespace switchboard::log
