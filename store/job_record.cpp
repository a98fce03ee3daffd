// The job record: its layout, its codec, and what a record says about
// its job (attempts, backoff, filters).
#include "messages/enum_table.hpp"
#include "store/job_queue_detail.hpp"
#include "store/le_record_detail.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <tuple>

namespace switchboard::store {

namespace job_detail {

namespace {

void put_le(std::string& out, std::uint64_t x, int bytes) {
  char b[8];
  out.append(b, le_record_detail::put_le(b, x, bytes) - b);
}

void put_varint(std::string& out, std::uint64_t n) {
  char b[le_record_detail::max_varint_size];
  out.append(b, le_record_detail::put_varint(b, n) - b);
}

void put_str(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s.data(), s.size());
}

/// A backoff list: its length (LEB128), then each entry as 4 bytes.
void put_backoff(std::string& out, const std::vector<std::uint32_t>& list) {
  put_varint(out, list.size());
  for (auto x : list)
    put_le(out, x, 4);
}

} // namespace

/// Layout (v1): format byte, state byte; id, event_seq, created_at,
/// due_at, retry_until, first_attempt_at, last_attempt_at, lease_until and
/// failed_at as 8-byte little-endian; attempts, max_tries, timeout_ms,
/// max_exceptions and exceptions as 4-byte little-endian; the number of
/// backoff entries (LEB128) and each as 4-byte little-endian; then queue,
/// listener, event_id, unique_key, last_error and payload, each as a
/// LEB128 length followed by the bytes.
///
/// Layout (v2): v1 with format byte 2, followed by company_id and
/// event_type (LEB128 length and bytes), the number of backoff_ms entries
/// (LEB128) and each as 4-byte little-endian, and the number of history
/// entries (LEB128), each as started_at (8 bytes), duration_ms (4 bytes)
/// and the error (LEB128 length and bytes); then, in records written since
/// jobs carry it, the correlation id (LEB128 length and bytes).
std::string encode_job(const job& j) {
  std::string out;
  out.reserve(2 + 9 * 8 + 5 * 4 + 1 + 4 * j.backoff_s.size() + 6 * 2
              + j.queue.size() + j.listener.size() + j.event_id.size()
              + j.unique_key.size() + j.last_error.size() + j.payload.size());
  out.push_back(static_cast<char>(job_format_v2));
  out.push_back(static_cast<char>(j.state));
  for (auto x : {j.id, j.event_seq, static_cast<std::uint64_t>(j.created_at),
                 static_cast<std::uint64_t>(j.due_at),
                 static_cast<std::uint64_t>(j.retry_until),
                 static_cast<std::uint64_t>(j.first_attempt_at),
                 static_cast<std::uint64_t>(j.last_attempt_at),
                 static_cast<std::uint64_t>(j.lease_until),
                 static_cast<std::uint64_t>(j.failed_at)})
    put_le(out, x, 8);
  for (auto x :
       {j.attempts, j.max_tries, j.timeout_ms, j.max_exceptions, j.exceptions})
    put_le(out, x, 4);
  put_backoff(out, j.backoff_s);
  put_str(out, j.queue);
  put_str(out, j.listener);
  put_str(out, j.event_id);
  put_str(out, j.unique_key);
  put_str(out, j.last_error);
  put_str(out, j.payload);
  put_str(out, j.company_id);
  put_str(out, j.event_type);
  put_backoff(out, j.backoff_ms);
  put_varint(out, j.history.size());
  for (const auto& a : j.history) {
    put_le(out, static_cast<std::uint64_t>(a.started_at), 8);
    put_le(out, a.duration_ms, 4);
    put_str(out, a.error);
  }
  put_str(out, j.correlation_id);
  return out;
}

namespace {

using le_record_detail::reader;

/// Reads what `put_backoff` wrote into `list`; false when the record is
/// truncated or the list longer than a job keeps.
bool read_backoff(reader& r, std::vector<std::uint32_t>& list) {
  auto n = r.varint();
  if (!r.ok || n > max_backoff_entries)
    return false;
  list.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i)
    list.push_back(static_cast<std::uint32_t>(r.le(4)));
  return true;
}

} // namespace

result<job> decode_job(const MDB_val& v) {
  auto p = static_cast<const unsigned char*>(v.mv_data);
  if (v.mv_size < 2)
    return err(errc::corrupt, "jobs: truncated record");
  if (p[0] != job_format_v1 && p[0] != job_format_v2)
    return err(errc::corrupt, "jobs: unknown record format "
                                  + std::to_string(static_cast<int>(p[0])));
  if (p[1] > static_cast<unsigned char>(job_state::failed))
    return err(errc::corrupt, "jobs: unknown state");
  reader r{p + 2, p + v.mv_size};
  job j;
  j.state = static_cast<job_state>(p[1]);
  j.id = r.le(8);
  j.event_seq = r.le(8);
  j.created_at = static_cast<timestamp_ms>(r.le(8));
  j.due_at = static_cast<timestamp_ms>(r.le(8));
  j.retry_until = static_cast<timestamp_ms>(r.le(8));
  j.first_attempt_at = static_cast<timestamp_ms>(r.le(8));
  j.last_attempt_at = static_cast<timestamp_ms>(r.le(8));
  j.lease_until = static_cast<timestamp_ms>(r.le(8));
  j.failed_at = static_cast<timestamp_ms>(r.le(8));
  j.attempts = static_cast<std::uint32_t>(r.le(4));
  j.max_tries = static_cast<std::uint32_t>(r.le(4));
  j.timeout_ms = static_cast<std::uint32_t>(r.le(4));
  j.max_exceptions = static_cast<std::uint32_t>(r.le(4));
  j.exceptions = static_cast<std::uint32_t>(r.le(4));
  if (!read_backoff(r, j.backoff_s))
    return err(errc::corrupt, "jobs: bad backoff list");
  j.queue = r.str();
  j.listener = r.str();
  j.event_id = r.str();
  j.unique_key = r.str();
  j.last_error = r.str();
  j.payload = r.str();
  if (p[0] == job_format_v1) {
    // v1 kept only the last error: it is the history's one entry.
    if (!j.last_error.empty())
      j.history.push_back({j.last_attempt_at, 0, j.last_error});
  } else {
    j.company_id = r.str();
    j.event_type = r.str();
    if (!read_backoff(r, j.backoff_ms))
      return err(errc::corrupt, "jobs: bad backoff_ms list");
    auto nh = r.varint();
    if (!r.ok || nh > max_attempts_kept)
      return err(errc::corrupt, "jobs: bad history");
    j.history.reserve(nh);
    for (std::uint64_t i = 0; i < nh && r.ok; ++i) {
      job_attempt a;
      a.started_at = static_cast<timestamp_ms>(r.le(8));
      a.duration_ms = static_cast<std::uint32_t>(r.le(4));
      a.error = r.str();
      j.history.push_back(std::move(a));
    }
    // Records written since jobs carry correlation ids end with it.
    if (r.ok && r.pos != r.end)
      j.correlation_id = r.str();
  }
  if (auto problem = r.end_problem("jobs: truncated record",
                                   "jobs: trailing bytes in record"))
    return err(errc::corrupt, problem);
  return j;
}

} // namespace job_detail

using namespace job_detail;

std::string encode_job_record(const job& j) {
  return encode_job(j);
}

result<job> decode_job_record(std::string_view bytes) {
  return decode_job(as_val(bytes));
}

namespace {

constexpr auto job_state_names
    = name_table<job_state>({"pending", "leased", "failed"}, "?");
static_assert(job_state_names.covers(job_state::failed));

constexpr auto job_list_state_names = name_table<job_list_state>(
    {"pending", "ready", "delayed", "leased", "failed"}, "?");
static_assert(job_list_state_names.covers(job_list_state::failed));

} // namespace

// -- free functions -----------------------------------------------------------

const char* to_string(job_state s) noexcept {
  return job_state_names(s);
}

bool exceeds_max_attempts(const job& j, timestamp_ms now) noexcept {
  if (j.retry_until != 0)
    return now > j.retry_until;
  return j.max_tries > 0 && j.attempts > j.max_tries;
}

bool will_exceed_max_attempts(const job& j, timestamp_ms now,
                              bool counts_as_exception) noexcept {
  if (j.max_exceptions > 0
      && j.exceptions + (counts_as_exception ? 1u : 0u) >= j.max_exceptions)
    return true;
  if (j.retry_until != 0)
    return now >= j.retry_until;
  return j.max_tries > 0 && j.attempts >= j.max_tries;
}

std::uint32_t backoff_delay_s(const job& j) noexcept {
  if (j.backoff_s.empty())
    return 0;
  std::size_t i = j.attempts == 0 ? 0 : j.attempts - 1;
  return j.backoff_s[std::min(i, j.backoff_s.size() - 1)];
}

std::int64_t backoff_delay_ms(const job& j) noexcept {
  if (j.backoff_ms.empty())
    return std::int64_t{backoff_delay_s(j)} * 1000;
  std::size_t i = j.attempts == 0 ? 0 : j.attempts - 1;
  return j.backoff_ms[std::min(i, j.backoff_ms.size() - 1)];
}

bool job_filter::matches(const job& j) const noexcept {
  return (queue.empty() || j.queue == queue)
         && (listener.empty() || j.listener == listener)
         && (event_type.empty() || j.event_type == event_type)
         && (event_id.empty() || j.event_id == event_id)
         && (company_id.empty() || j.company_id == company_id);
}

const char* to_string(job_list_state s) noexcept {
  return job_list_state_names(s);
}

bool parse_job_list_state(std::string_view text, job_list_state& out) noexcept {
  return job_list_state_names.parse(text, out);
}

} // namespace switchboard::store
