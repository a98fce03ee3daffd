#pragma once

#include <messages/fields.hpp>

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

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(decode_error, SB_FIELD(field), SB_FIELD(problem),
          SB_FIELD(message, opt))

} // namespace switchboard
