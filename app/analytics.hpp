#pragma once

// The UpdateAnalytics counters of one company, as `GET /api/analytics` and
// `switchboard analytics` show them.

#include <string>

#include <boost/json/object.hpp>

#include <store/error.hpp>

namespace switchboard::store {
class projections;
} // namespace switchboard::store

namespace switchboard::app {

/// `{"appointments": {...}, "calls": {...}, "customers": {...}}` for
/// `company`: each with its totals (`count`, `value_cents`, ...), averages
/// derived from them, and a `by_<dimension>` object per breakdown (day,
/// service, staff, branch, source, sentiment), read from the projection.
store::result<boost::json::object>
analytics_report(const store::projections& projections,
                 const std::string& company);

} // namespace switchboard::app
