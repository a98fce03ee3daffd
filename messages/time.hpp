#pragma once

#include <messages/envelope.hpp>
#include <messages/expected.hpp>

#include <string>
#include <string_view>

namespace switchboard {

/// Returns the current wall-clock time in milliseconds since the Unix epoch.
timestamp_ms now_ms() noexcept;

/// Formats `t` as an RFC 3339 UTC timestamp, e.g. "2024-05-01T09:30:00Z",
/// with a ".mmm" fraction only when the milliseconds are not zero. Years
/// outside 0000..9999 are clamped to that range.
std::string format_rfc3339(timestamp_ms t);

/// Parses an RFC 3339 timestamp ("2024-05-01T09:30:00.250+02:00").
/// Accepts `T`, `t` or a space between date and time, `Z`/`z` or a
/// `+hh:mm`/`-hh:mm` offset, and any number of fractional digits (truncated
/// to milliseconds). Validates every component, including the day of the
/// month. On error, returns a message saying what is wrong.
expected<timestamp_ms, std::string> parse_rfc3339(std::string_view text);

} // namespace switchboard
