#pragma once

#include <messages/calendar_commands.hpp>
#include <messages/commands.hpp>
#include <messages/decode_error.hpp>
#include <messages/entities.hpp>
#include <messages/envelope.hpp>
#include <messages/events.hpp>

#include <caf/meta/type_name.hpp>

/// CAF 0.17 inspectors for every message type (binary serialization across
/// nodes and `deep_to_string`), from each struct's field list
/// (messages/fields.hpp). Enums need none: CAF serializes them through
/// their underlying integer and prints them with `to_string`
/// (messages/entities.hpp). Field order is the wire format between nodes.

namespace switchboard {

namespace detail {

/// The field list's visitor that hands the members to a CAF inspector.
template <class Inspector>
struct inspect_fields {
  Inspector& f;

  template <class... Rs>
  typename Inspector::result_type list(const char* name, field_desc<Rs>... ds) {
    return f(caf::meta::type_name(name), member_of(ds.ref)...);
  }
};

} // namespace detail

/// CAF's inspector of every struct with a field list: its members in list
/// order (the wire format between cluster members).
template <class Inspector, class T>
auto inspect(Inspector& f, T& x)
    -> std::enable_if_t<has_fields_v<T>, typename Inspector::result_type> {
  detail::inspect_fields<Inspector> v{f};
  return fields(v, x);
}

} // namespace switchboard
