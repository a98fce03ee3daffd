#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace switchboard::log {

/// Output format of every logger.
enum class format { text, json };

/// Sets the level and format of every subsystem logger, existing and future.
/// `level` is one of trace, debug, info, warn, error, off.
void configure(const std::string& level, format fmt);

/// The subsystems that log, one logger each; a logger's name (in every
/// line, and the JSON format's "logger") is its subsystem's.
enum class subsystem {
  app,
  caf,
  calls,
  cluster,
  dispatcher,
  http,
  http_access, ///< "http.access": one line per request (sampled)
  listeners,
  node,
  providers,
  queue,
  router,
  stats,
  store,
};

/// The name of `s` ("store", "dispatcher", "http", ...).
const char* name_of(subsystem s);

/// The logger of `s`, created on first use with the configured sink, level
/// and format.
std::shared_ptr<spdlog::logger> get(subsystem s);

} // namespace switchboard::log
