#pragma once

// The opening every settings body shares (a company's branches, its
// Cal.com and Retell settings): the text must be one JSON object, and
// each of its keys must be one the settings know.

#include <boost/json/object.hpp>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace switchboard {

/// Problems of a body by field: field name -> "code: message".
using field_problems = std::map<std::string, std::string>;

/// Parses `text` as a JSON object. Not an object: the problem `body`
/// and no object. Each key not in `known` is the problem
/// "unknown: expects a, b or c" under that key, and the object is still
/// returned, so that its known fields are checked too.
std::optional<boost::json::object>
settings_object(std::string_view text,
                std::initializer_list<std::string_view> known,
                field_problems& errs);

} // namespace switchboard
