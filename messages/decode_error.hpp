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

template <class V>
auto fields(V& v, decode_error& x) {
  using namespace field_options;
  return v.list("decode_error", field("field", x.field),
                field("problem", x.problem), field("message", x.message, opt));
}

} // namespace switchboard
