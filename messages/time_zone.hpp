#pragma once

// IANA time zones (`Europe/Berlin`), read from the system's compiled
// tz database (TZif files under /usr/share/zoneinfo, or $TZDIR): the
// offset from UTC at any instant, and the instant of a local wall-clock
// time across daylight-saving transitions.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <messages/envelope.hpp>
#include <messages/expected.hpp>

namespace switchboard {

/// One IANA time zone. Cheap to copy (the transitions are shared).
/// Instants past the last transition of the file follow the POSIX TZ rule
/// of its footer (TZif version 2 and later): "fat" files list transitions
/// up to 2037, "slim" ones stop at the last change of the rules.
class time_zone {
public:
  /// UTC: no transitions, offset 0.
  time_zone();

  /// Loads `name` ("UTC", "Europe/Berlin", ...). Loaded zones are kept, so
  /// a name is read from disk once per process. Errors name the zone and
  /// the problem (unknown name, not a TZif file).
  static expected<time_zone, std::string> load(std::string_view name);

  /// A zone that follows one POSIX TZ rule at all times, such as
  /// "CET-1CEST,M3.5.0,M10.5.0/3" (RFC 8536 section 3.3.1: Jn, n and
  /// Mm.w.d dates, times from -167 to 167 hours, `<+03>-3` names). Its
  /// name is the rule. Errors say where the rule is malformed.
  static expected<time_zone, std::string>
  from_posix_rule(std::string_view rule);

  const std::string& name() const noexcept;

  /// Seconds east of UTC in force at `utc` (3600 for CET, 7200 for CEST).
  int offset_s(timestamp_ms utc) const noexcept;

  /// The instant at which the zone's clocks show `local` (a wall-clock time
  /// written as if it were UTC). Nothing when the clocks skip it (spring
  /// forward); the earlier instant when they show it twice (fall back).
  std::optional<timestamp_ms> to_utc(timestamp_ms local) const noexcept;

  /// The wall-clock time at `utc`, written as if it were UTC.
  timestamp_ms to_local(timestamp_ms utc) const noexcept {
    return utc + static_cast<timestamp_ms>(offset_s(utc)) * 1000;
  }

  /// The transitions (defined in time_zone.cpp).
  struct data;

private:
  explicit time_zone(std::shared_ptr<const data> d);
  std::shared_ptr<const data> d_;
};

/// True when `name` can name a zone file: 1 to 64 bytes of letters,
/// digits, `_`, `-`, `+` and `/`, without `..` or a leading `/`.
bool valid_time_zone_name(std::string_view name) noexcept;

/// Formats `utc` as RFC 3339 with the local offset of `tz`, e.g.
/// "2026-03-30T09:00:00+02:00" ("Z" where the offset is 0).
std::string format_rfc3339_in(timestamp_ms utc, const time_zone& tz);

} // namespace switchboard
