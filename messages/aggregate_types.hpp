#pragma once

#include <string>

/// The aggregate types: the streams events belong to (the registry rows'
/// aggregate_type, messages/registry.hpp), and the `aggregate_type` of
/// commands and routes. Code names them here rather than by a string, so
/// a misspelt one does not compile; the `registry` tests check that every
/// row's aggregate type is one of these. (Strings, since most callers take
/// a `const std::string&`; read them at run time, not from another
/// namespace-scope initializer.)

namespace switchboard::aggregates {

inline const std::string appointment = "appointment";
inline const std::string customer = "customer";
inline const std::string staff = "staff";
inline const std::string service = "service";
inline const std::string call = "call";
inline const std::string notification = "notification";

} // namespace switchboard::aggregates
