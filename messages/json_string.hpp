#pragma once

// One string member of a JSON object, read leniently: what providers'
// answers, webhook deliveries and job payloads are read with where a
// missing or mistyped member means "none" rather than an error.

#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace switchboard {

/// The string member `key` of `o`; "" when it is missing or not a string.
inline std::string str_of(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string())
    return std::string{v->get_string()};
  return {};
}

} // namespace switchboard
