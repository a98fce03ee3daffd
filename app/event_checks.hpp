#pragma once

// The checks an event appended as history passes, shared by the admin
// import of `POST /api/events` and `switchboard import`: every id it names
// is well-formed and of the event's company, and its payload decodes as
// its type.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include <messages/envelope.hpp>
#include <store/error.hpp>

namespace switchboard::app {

/// Problems by field name (dotted path, e.g. "data.appointment.id").
using event_problems = std::map<std::string, std::string>;

/// The company owning the stream (`aggregate_type`, `id`), or "" when the
/// stream does not exist.
using owner_lookup = std::function<store::result<std::string>(
    std::string_view aggregate_type, std::string_view id)>;

/// Most nesting of an appended event's data.
inline constexpr std::size_t max_data_depth = 8;

/// Depth of nested arrays and objects in `v` (a scalar: 0).
std::size_t json_nesting(const boost::json::value& v);

/// Checks that every id the payload `data` of `env` names is of `env`'s
/// company: its own id equals aggregate_id, every company_id is the
/// event's, and every aggregate it refers to exists in the event's company
/// (by `owner_of`; another company's answers like a missing one). Adds a
/// problem per field to `errs`.
void check_references(const envelope& env, const boost::json::object& data,
                      const owner_lookup& owner_of, event_problems& errs);

/// The company_id a payload names for itself (at its top level or in one
/// of its objects, e.g. data.appointment.company_id), "" when none.
std::string company_named_by(const boost::json::object& data);

} // namespace switchboard::app
