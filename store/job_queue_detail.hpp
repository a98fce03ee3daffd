#pragma once
// What the job queue's source files share (job_queue.cpp: the queue's
// writes; job_queue_read.cpp: its reads; job_queue_failed.cpp: failed
// jobs; job_record.cpp: the record codec): database names, keys, the
// record codec and the LMDB helpers. Not part of the store's interface:
// include store/job_queue.hpp.

#include "store/job_queue.hpp"
#include "store/lmdb_util.hpp"

#include "store/codec.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::store::job_detail {

/// Longest queue, listener, event id and unique key accepted (bytes).
inline constexpr std::size_t max_name_size = 255;

/// Largest payload accepted (bytes).
inline constexpr std::size_t max_payload_size = std::size_t{16} << 20;

/// Most backoff entries accepted.
inline constexpr std::size_t max_backoff_entries = 64;

/// Longest error text kept (bytes).
inline constexpr std::size_t max_error_size = 4096;

/// Database names.
inline constexpr const char* jobs_db = "jobs";
inline constexpr const char* due_db = "jobs_due";
inline constexpr const char* leased_db = "jobs_leased";
inline constexpr const char* failed_db = "jobs_failed";
inline constexpr const char* unique_db = "jobs_unique";
inline constexpr const char* meta_db = "jobs_meta";
inline constexpr const char* due_company_db = "jobs_due_company";
inline constexpr const char* counters_db = "jobs_counters";

/// Keys of jobs_meta.
inline constexpr std::string_view next_id_key = "next_id";
inline constexpr std::string_view queue_prefix = "queue/";
inline constexpr std::string_view rr_prefix = "rr/";
inline constexpr std::string_view format_key = "format";

/// The key of a queue's company in jobs_due_company: queue NUL company.
inline std::string company_key(std::string_view queue,
                               std::string_view company) {
  std::string k;
  k.reserve(queue.size() + 1 + company.size());
  k.append(queue.data(), queue.size());
  k.push_back('\0');
  k.append(company.data(), company.size());
  return k;
}

/// The key of a row of jobs_counters: queue NUL listener NUL company.
inline std::string counters_key(std::string_view queue,
                                std::string_view listener,
                                std::string_view company) {
  std::string k;
  k.reserve(queue.size() + listener.size() + company.size() + 2);
  k.append(queue.data(), queue.size());
  k.push_back('\0');
  k.append(listener.data(), listener.size());
  k.push_back('\0');
  k.append(company.data(), company.size());
  return k;
}

/// The company of a jobs_counters key (what follows its second NUL);
/// nothing for a malformed key.
inline std::optional<std::string_view>
counters_company(std::string_view key) noexcept {
  auto a = key.find('\0');
  auto b = a == std::string_view::npos ? a : key.find('\0', a + 1);
  if (b == std::string_view::npos)
    return std::nullopt;
  return key.substr(b + 1);
}

/// Reports failure; spelled out because `job_queue::fail` hides
/// `store::fail` inside member functions.
inline unexpected<error> err(errc code, std::string message) {
  return store::fail(code, std::move(message));
}

/// Maps a time onto 8 bytes that sort like the time.
inline void put_time(char* out, timestamp_ms t) noexcept {
  put_be64(out, order_preserving(t));
}

inline timestamp_ms get_time(const void* in) noexcept {
  return static_cast<timestamp_ms>(get_be64(in) ^ (std::uint64_t{1} << 63));
}

/// The key of the jobs database.
struct id_key {
  char buf[8];
  explicit id_key(std::uint64_t id) noexcept {
    put_be64(buf, id);
  }
  MDB_val val() const {
    return as_val(buf, 8);
  }
};

/// The index value of `j` in the database of its state: (due_at, id)
/// pending, (lease_until, id) leased, id failed.
struct index_val {
  char buf[16];
  std::size_t size = 16;

  explicit index_val(const job& j) noexcept {
    switch (j.state) {
    case job_state::pending:
      put_time(buf, j.due_at);
      put_be64(buf + 8, j.id);
      break;
    case job_state::leased:
      put_time(buf, j.lease_until);
      put_be64(buf + 8, j.id);
      break;
    case job_state::failed:
      put_be64(buf, j.id);
      size = 8;
      break;
    }
  }
  MDB_val val() const {
    return as_val(buf, size);
  }
};

/// Encodes a job record (layout: job_record.cpp).
std::string encode_job(const job& j);

/// Decodes a job record; corrupt when it is not one.
result<job> decode_job(const MDB_val& v);

/// Now, for the trace's finish times (ack and deletes take no time).
inline timestamp_ms wall_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

/// The job `id` of the jobs database; not_found when absent.
result<job> load_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id);

/// The job `id` that an index names: its absence is corruption.
result<job> load_indexed_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id);

/// Deletes the record of the job `id` from the jobs database.
result<void> delete_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id);

/// Writes `j` to the jobs database with `flags` (MDB_APPEND for new ids).
result<void> store_job(MDB_txn* txn, MDB_dbi jobs, const job& j,
                       unsigned flags);

/// `error`, cut to the longest error text kept.
std::string cut_error(std::string_view error);

/// Adds the attempt of `j` that started at `last_attempt_at` and failed at
/// `now` (0: unknown) with `error` to its history.
void record_attempt(job& j, timestamp_ms now, std::string_view error);

/// Deletes the index entries of `j`: its entry in `state_db` (the index
/// of its state: jobs_due, jobs_leased or jobs_failed) and, for a pending
/// job, in `due_company`. Errors: `errc::corrupt` (an entry is missing),
/// LMDB errors.
result<void> unindex_job(MDB_txn* txn, MDB_dbi state_db, MDB_dbi due_company,
                         const job& j);

/// Deletes `j`'s unique key from `unique` if `j` holds it.
result<void> free_unique_key(MDB_txn* txn, MDB_dbi unique, const job& j);

/// Returns the keys of a DUPSORT database.
result<std::vector<std::string>> dup_keys(MDB_txn* txn, MDB_dbi dbi);

/// Returns the number of duplicates under `key`, 0 when absent.
result<std::uint64_t> dup_count(MDB_cursor* c, std::string_view key_text);

/// Returns the first duplicate's time under `key` (jobs_due, jobs_leased).
result<timestamp_ms> first_time(MDB_txn* txn, MDB_dbi dbi,
                                std::string_view key_text);

/// Returns the queue names recorded in jobs_meta, sorted.
result<std::vector<std::string>> queue_names(MDB_txn* txn, MDB_dbi meta);

/// Checks the fields of a job to enqueue.
result<void> validate(const job& j);

/// The ids of the failed jobs of `queue` (empty: every queue) with id >
/// `after_id`, sorted, at most `max`.
result<std::vector<std::uint64_t>> failed_ids(MDB_txn* t, MDB_dbi failed,
                                              std::string_view queue,
                                              std::uint64_t after_id,
                                              std::size_t max);

/// Runs `f(txn)` as one writer operation and waits for it.
template <class T, class F>
result<T> run_blocking(writer& w, const char* what, F&& f) {
  if (w.on_writer_thread())
    return err(errc::internal, std::string{what}
                                   + ": blocking call on the writer thread;"
                                     " use the _in form");
  return guarded(what, [&]() -> result<T> {
    std::optional<result<T>> out;
    auto res = w.execute([&](write_txn& txn) -> result<void> {
      out.emplace(f(txn)); // the op may run again when its batch is redone
      if (!*out)
        return make_unexpected(out->error());
      return {};
    });
    if (!res)
      return make_unexpected(res.error());
    if (!out)
      return err(errc::internal, std::string{what} + ": op did not run");
    return std::move(*out);
  });
}

} // namespace switchboard::store::job_detail
