#pragma once
// The causation trace's databases (entries under their correlation id,
// and trace_ends, trace_done: the jobs that ended), its entry formats and
// its keys,
// built from a correlation id and an entry kind (traces.cpp). The forget
// of a company walks the entries of each correlation id its events, jobs
// and messages carry, and keeps those whose record names the company
// (company_forget_jobs.cpp). Not part of the store's interface: include
// store/traces.hpp.

#include "store/codec.hpp"
#include "store/traces.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard::store::trace_detail {

/// Database names.
inline constexpr const char* traces_db = "traces";
inline constexpr const char* done_db = "trace_done";
inline constexpr const char* ends_db = "trace_ends";

/// Every entry of format 1; a job's entry then holds its outcome, finish
/// time and record (written before `trace_done`).
inline constexpr std::uint8_t trace_format_v1 = 1;

/// A job's entry: its company and the key of its end in `trace_done` (0:
/// it lives, or its end is in `trace_ends` under its id).
inline constexpr std::uint8_t trace_format_v2 = 2;

/// The key of the entry `id` under `prefix` (`prefix_of`).
inline std::string key_of(std::string_view prefix, std::uint64_t id) {
  std::string k{prefix};
  k.resize(prefix.size() + 8);
  put_be64(k.data() + prefix.size(), id);
  return k;
}

/// The bytes every key of `correlation_id` starts with: its length (one
/// byte) and the id; empty when it is not a valid correlation id.
inline std::string base_of(std::string_view correlation_id) {
  std::string p;
  if (!valid_correlation_id(correlation_id))
    return p;
  p.reserve(correlation_id.size() + 1);
  p.push_back(static_cast<char>(correlation_id.size()));
  p.append(correlation_id);
  return p;
}

/// The prefix of the entries of one `kind` ('e', 'j', 'm') of
/// `correlation_id`; empty when it is not a valid correlation id.
inline std::string prefix_of(std::string_view correlation_id, char kind) {
  auto p = base_of(correlation_id);
  if (!p.empty())
    p.push_back(kind);
  return p;
}

} // namespace switchboard::store::trace_detail
