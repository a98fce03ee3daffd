#pragma once

#include <string>

namespace switchboard {

/// Why a JSON document could not be read into a message.
struct decode_error {
  /// Dotted path of the offending field, e.g. "appointment.start_time" or
  /// "staff.working_hours[1].end_minute"; "" for the document itself.
  std::string field;
  /// One of "missing", "wrong_type", "unknown_value", "bad_timestamp",
  /// "invalid", "malformed".
  std::string problem;
  /// Human-readable explanation for logs and API error bodies.
  std::string message;
};

inline bool operator==(const decode_error& a, const decode_error& b) {
  return a.field == b.field && a.problem == b.problem && a.message == b.message;
}

} // namespace switchboard
