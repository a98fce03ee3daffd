#pragma once
// The key layout of the minute buckets (stats.cpp), shared with the
// forget of a company (company_forget.cpp). Not part of the store's
// interface: include store/stats.hpp.

#include <cstddef>
#include <string>
#include <string_view>

namespace switchboard::store::stats_detail {

/// The database of the minute buckets.
inline constexpr const char* stats_db = "stats_minutes";

/// Longest series name (and company id) kept in a key.
inline constexpr std::size_t max_series_name = 200;

/// The first byte of a company's keys.
inline constexpr char company_mark = '\xff';

/// The prefix of `company`'s keys: every key of its series starts with it.
inline std::string company_prefix(std::string_view company) {
  std::string k(1, company_mark);
  k.append(company.substr(0, max_series_name));
  k.push_back('\0');
  return k;
}

} // namespace switchboard::store::stats_detail
