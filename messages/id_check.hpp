#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace switchboard {

/// Longest id (aggregate, event, stream) accepted from outside, in bytes.
inline constexpr std::size_t max_id_size = 128;

/// Checks an id that enters from outside (an aggregate id, an event id, a
/// referenced id): 1 to `max_id_size` bytes of printable ASCII without
/// '/', '?', '#', '%', whitespace or control characters. Returns the
/// problem ("missing: ...", "invalid: ...") or nothing when the id is good.
std::optional<std::string> id_problem(std::string_view id);

/// True for ids of the form the runtime derives from a company and a key
/// (a caller's customer, a call's appointment): canonical UUIDs of version
/// 8. Clients may not choose them, so that no company can take an id the
/// runtime will derive for another.
bool is_derived_id(std::string_view id) noexcept;

} // namespace switchboard
