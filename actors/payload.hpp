#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include <caf/error.hpp>

#include <messages/envelope.hpp>

namespace switchboard {

/// Reads the fields of a command payload (a JSON object), collecting a
/// problem per field; `error()` turns them into one invalid_argument error
/// whose message is "field: problem; field: problem".
class payload_reader {
public:
  explicit payload_reader(const std::string& json);

  /// Reads an already parsed document (an object, or the problem "body").
  explicit payload_reader(boost::json::value doc);

  /// True when the payload parsed as an object.
  bool ok() const {
    return parsed_;
  }

  bool has(const char* name) const;

  std::optional<std::string> str(const char* name, bool required = false);
  std::optional<bool> boolean(const char* name, bool required = false);
  std::optional<std::int64_t> integer(const char* name, bool required = false,
                                      std::int64_t min = INT64_MIN,
                                      std::int64_t max = INT64_MAX);
  /// An RFC 3339 timestamp.
  std::optional<timestamp_ms> time(const char* name, bool required = false);
  std::optional<std::vector<std::string>> strings(const char* name);
  /// The raw JSON value of a field, or nullptr.
  const boost::json::value* raw(const char* name) const;

  /// Records a problem found by the caller.
  void problem(const std::string& field, const std::string& what);

  bool valid() const {
    return parsed_ && problems_.empty();
  }

  /// The collected problems as an invalid_argument error (none when
  /// valid).
  caf::error error() const;

private:
  /// The raw value of a field; nullptr when it is missing (with the
  /// problem "is required" if it is `required`) or when `is` says it has
  /// another type (with the problem `wrong_type`).
  const boost::json::value*
  field(const char* name, bool required,
        bool (boost::json::value::*is)() const noexcept = nullptr,
        const char* wrong_type = nullptr);

  boost::json::value doc_;
  bool parsed_ = false;
  std::map<std::string, std::string> problems_;
};

/// Moves an optional field's value (as payload_reader reads it) into
/// `to`; true when there was one.
template <class T>
bool take(std::optional<T> v, T& to) {
  if (!v)
    return false;
  to = std::move(*v);
  return true;
}

/// An invalid_argument error naming each field of `problems` ("field:
/// problem; ..."), as payload_reader words its problems.
caf::error
field_problems_error(const std::map<std::string, std::string>& problems);

} // namespace switchboard
