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

/// The named logger of one subsystem ("store", "dispatcher", "http", ...),
/// created on first use with the configured sink, level and format.
std::shared_ptr<spdlog::logger> get(const std::string& subsystem);

} // namespace switchboard::log
