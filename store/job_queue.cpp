#include "store/job_queue.hpp"
#include "store/lmdb_util.hpp"

#include "store/codec.hpp"
#include "store/traces.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <tuple>

namespace switchboard::store {

namespace {

/// Longest queue, listener, event id and unique key accepted (bytes).
constexpr std::size_t max_name_size = 255;

/// Largest payload accepted (bytes).
constexpr std::size_t max_payload_size = std::size_t{16} << 20;

/// Most backoff entries accepted.
constexpr std::size_t max_backoff_entries = 64;

/// Longest error text kept (bytes).
constexpr std::size_t max_error_size = 4096;

/// Database names.
constexpr const char* jobs_db = "jobs";
constexpr const char* due_db = "jobs_due";
constexpr const char* leased_db = "jobs_leased";
constexpr const char* failed_db = "jobs_failed";
constexpr const char* unique_db = "jobs_unique";
constexpr const char* meta_db = "jobs_meta";
constexpr const char* due_company_db = "jobs_due_company";
constexpr const char* counters_db = "jobs_counters";

/// Keys of jobs_meta.
constexpr std::string_view next_id_key = "next_id";
constexpr std::string_view queue_prefix = "queue/";
constexpr std::string_view rr_prefix = "rr/";
constexpr std::string_view format_key = "format";

/// The key of a queue's company in jobs_due_company: queue NUL company.
std::string company_key(std::string_view queue, std::string_view company) {
  std::string k;
  k.reserve(queue.size() + 1 + company.size());
  k.append(queue.data(), queue.size());
  k.push_back('\0');
  k.append(company.data(), company.size());
  return k;
}

/// Reports failure; spelled out because `job_queue::fail` hides
/// `store::fail` inside member functions.
inline unexpected<error> err(errc code, std::string message) {
  return store::fail(code, std::move(message));
}

/// Maps a time onto 8 bytes that sort like the time.
void put_time(char* out, timestamp_ms t) noexcept {
  put_be64(out, order_preserving(t));
}

timestamp_ms get_time(const void* in) noexcept {
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

// -- the job record -----------------------------------------------------------

void put_le(std::string& out, std::uint64_t x, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>(x & 0xff));
    x >>= 8;
  }
}

void put_varint(std::string& out, std::uint64_t n) {
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}

void put_str(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s.data(), s.size());
}

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
  put_varint(out, j.backoff_s.size());
  for (auto x : j.backoff_s)
    put_le(out, x, 4);
  put_str(out, j.queue);
  put_str(out, j.listener);
  put_str(out, j.event_id);
  put_str(out, j.unique_key);
  put_str(out, j.last_error);
  put_str(out, j.payload);
  put_str(out, j.company_id);
  put_str(out, j.event_type);
  put_varint(out, j.backoff_ms.size());
  for (auto x : j.backoff_ms)
    put_le(out, x, 4);
  put_varint(out, j.history.size());
  for (const auto& a : j.history) {
    put_le(out, static_cast<std::uint64_t>(a.started_at), 8);
    put_le(out, a.duration_ms, 4);
    put_str(out, a.error);
  }
  put_str(out, j.correlation_id);
  return out;
}

/// A bounds-checked reader over one record.
struct reader {
  const unsigned char* pos;
  const unsigned char* end;
  bool ok = true;

  std::uint64_t le(int bytes) noexcept {
    if (end - pos < bytes) {
      ok = false;
      return 0;
    }
    std::uint64_t x = 0;
    for (int i = bytes - 1; i >= 0; --i)
      x = (x << 8) | pos[i];
    pos += bytes;
    return x;
  }

  std::uint64_t varint() noexcept {
    std::uint64_t n = 0;
    for (int shift = 0;; shift += 7) {
      if (pos == end || shift > 56) {
        ok = false;
        return 0;
      }
      auto b = *pos++;
      n |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0)
        return n;
    }
  }

  std::string str() {
    auto n = varint();
    if (!ok || static_cast<std::uint64_t>(end - pos) < n) {
      ok = false;
      return {};
    }
    std::string s{reinterpret_cast<const char*>(pos),
                  static_cast<std::size_t>(n)};
    pos += n;
    return s;
  }
};

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
  auto n = r.varint();
  if (!r.ok || n > max_backoff_entries)
    return err(errc::corrupt, "jobs: bad backoff list");
  j.backoff_s.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i)
    j.backoff_s.push_back(static_cast<std::uint32_t>(r.le(4)));
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
    auto nb = r.varint();
    if (!r.ok || nb > max_backoff_entries)
      return err(errc::corrupt, "jobs: bad backoff_ms list");
    j.backoff_ms.reserve(nb);
    for (std::uint64_t i = 0; i < nb; ++i)
      j.backoff_ms.push_back(static_cast<std::uint32_t>(r.le(4)));
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
  if (!r.ok)
    return err(errc::corrupt, "jobs: truncated record");
  if (r.pos != r.end)
    return err(errc::corrupt, "jobs: trailing bytes in record");
  return j;
}

/// Now, for the trace's finish times (ack and deletes take no time).
timestamp_ms wall_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

} // namespace

std::string encode_job_record(const job& j) {
  return encode_job(j);
}

result<job> decode_job_record(std::string_view bytes) {
  return decode_job(as_val(bytes));
}

namespace {

result<job> load_job(MDB_txn* txn, MDB_dbi jobs, std::uint64_t id) {
  id_key k{id};
  auto key = k.val();
  MDB_val val;
  if (auto rc = mdb_get(txn, jobs, &key, &val); rc != 0) {
    if (rc == MDB_NOTFOUND)
      return err(errc::not_found, "no job " + std::to_string(id));
    return fail_mdb(rc, "mdb_get(jobs)");
  }
  auto j = decode_job(val);
  if (j && j->id != id)
    return err(errc::corrupt, "jobs: record id differs from its key");
  return j;
}

result<void> store_job(MDB_txn* txn, MDB_dbi jobs, const job& j,
                       unsigned flags) {
  auto rec = encode_job(j);
  id_key k{j.id};
  auto key = k.val();
  auto val = as_val(rec);
  if (auto rc = mdb_put(txn, jobs, &key, &val, flags); rc != 0) {
    if (rc == MDB_KEYEXIST)
      return err(errc::corrupt, "jobs: id " + std::to_string(j.id)
                                    + " is not past the last one");
    return fail_mdb(rc, "mdb_put(jobs)");
  }
  return {};
}

std::string cut_error(std::string_view error) {
  return std::string{error.substr(0, max_error_size)};
}

/// Adds the attempt of `j` that started at `last_attempt_at` and failed at
/// `now` (0: unknown) with `error` to its history.
void record_attempt(job& j, timestamp_ms now, std::string_view error) {
  auto ended = now == 0 ? j.last_attempt_at : now;
  auto took = std::max<timestamp_ms>(0, ended - j.last_attempt_at);
  j.history.push_back(
      {j.last_attempt_at,
       static_cast<std::uint32_t>(std::min<timestamp_ms>(took, UINT32_MAX)),
       cut_error(error)});
  if (j.history.size() > max_attempts_kept)
    j.history.erase(j.history.begin(),
                    j.history.begin()
                        + static_cast<std::ptrdiff_t>(j.history.size()
                                                      - max_attempts_kept));
}

/// Returns the keys of a DUPSORT database.
result<std::vector<std::string>> dup_keys(MDB_txn* txn, MDB_dbi dbi) {
  std::vector<std::string> out;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, dbi, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
  while (rc == 0) {
    out.emplace_back(as_view(key));
    rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_NODUP);
  }
  if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get");
  return out;
}

/// Returns the number of duplicates under `key`, 0 when absent.
result<std::uint64_t> dup_count(MDB_cursor* c, std::string_view key_text) {
  auto key = as_val(key_text);
  MDB_val val;
  auto rc = mdb_cursor_get(c, &key, &val, MDB_SET);
  if (rc == MDB_NOTFOUND)
    return std::uint64_t{0};
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get");
  std::size_t n = 0;
  if (auto rc2 = mdb_cursor_count(c, &n); rc2 != 0)
    return fail_mdb(rc2, "mdb_cursor_count");
  return static_cast<std::uint64_t>(n);
}

/// Returns the first duplicate's time under `key` (jobs_due, jobs_leased).
result<timestamp_ms> first_time(MDB_txn* txn, MDB_dbi dbi,
                                std::string_view key_text) {
  auto key = as_val(key_text);
  MDB_val val;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, dbi, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND)
    return err(errc::not_found, "no job in queue " + std::string{key_text});
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get");
  if (val.mv_size != 16)
    return err(errc::corrupt, "job index: bad value size");
  return get_time(val.mv_data);
}

/// Returns the queue names recorded in jobs_meta, sorted.
result<std::vector<std::string>> queue_names(MDB_txn* txn, MDB_dbi meta) {
  std::vector<std::string> out;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, meta, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto key = as_val(queue_prefix);
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  while (rc == 0) {
    auto k = as_view(key);
    if (k.substr(0, queue_prefix.size()) != queue_prefix)
      break;
    out.emplace_back(k.substr(queue_prefix.size()));
    rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(jobs_meta)");
  return out;
}

/// Checks the fields of a job to enqueue.
result<void> validate(const job& j) {
  auto name = [](const std::string& s, const char* field,
                 bool required) -> result<void> {
    if ((required && s.empty()) || s.size() > max_name_size)
      return err(errc::invalid_argument,
                 std::string{"job: "} + field + " must have "
                     + (required ? "1" : "0") + " to 255 bytes");
    return {};
  };
  if (auto r = name(j.queue, "queue", true); !r)
    return r;
  if (auto r = name(j.listener, "listener", true); !r)
    return r;
  if (auto r = name(j.event_id, "event_id", false); !r)
    return r;
  if (auto r = name(j.unique_key, "unique_key", false); !r)
    return r;
  if (auto r = name(j.company_id, "company_id", false); !r)
    return r;
  if (auto r = name(j.event_type, "event_type", false); !r)
    return r;
  if (auto r = name(j.correlation_id, "correlation_id", false); !r)
    return r;
  for (auto [s, field] : {std::pair{&j.queue, "queue"},
                          {&j.listener, "listener"},
                          {&j.company_id, "company_id"}})
    if (s->find('\0') != std::string::npos)
      return err(errc::invalid_argument,
                 std::string{"job: "} + field + " must not contain NUL");
  if (j.payload.size() > max_payload_size)
    return err(errc::invalid_argument, "job: payload larger than 16 MiB");
  if (j.backoff_s.size() > max_backoff_entries
      || j.backoff_ms.size() > max_backoff_entries)
    return err(errc::invalid_argument, "job: more than 64 backoff entries");
  return {};
}

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

} // namespace

// -- free functions -----------------------------------------------------------

const char* to_string(job_state s) noexcept {
  switch (s) {
  case job_state::pending:
    return "pending";
  case job_state::leased:
    return "leased";
  case job_state::failed:
    return "failed";
  }
  return "?";
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
  switch (s) {
  case job_list_state::pending:
    return "pending";
  case job_list_state::ready:
    return "ready";
  case job_list_state::delayed:
    return "delayed";
  case job_list_state::leased:
    return "leased";
  case job_list_state::failed:
    return "failed";
  }
  return "?";
}

bool parse_job_list_state(std::string_view text, job_list_state& out) noexcept {
  for (auto s :
       {job_list_state::pending, job_list_state::ready, job_list_state::delayed,
        job_list_state::leased, job_list_state::failed})
    if (text == to_string(s)) {
      out = s;
      return true;
    }
  return false;
}

// -- construction -------------------------------------------------------------

job_queue::job_queue(environment& env, writer& w, dbs d)
    : env_(env), writer_(w), db_(d) {
  // nop
}

result<std::unique_ptr<job_queue>> job_queue::open(environment& env, writer& w,
                                                   job_event_lookup lookup) {
  return guarded(
      "job_queue::open", [&]() -> result<std::unique_ptr<job_queue>> {
        dbs d{};
        struct spec {
          const char* name;
          unsigned flags;
          MDB_dbi* out;
        };
        spec specs[] = {
            {jobs_db, 0, &d.jobs},
            {due_db, MDB_DUPSORT | MDB_DUPFIXED, &d.due},
            {leased_db, MDB_DUPSORT | MDB_DUPFIXED, &d.leased},
            {failed_db, MDB_DUPSORT | MDB_DUPFIXED, &d.failed},
            {unique_db, 0, &d.unique},
            {meta_db, 0, &d.meta},
            {due_company_db, MDB_DUPSORT | MDB_DUPFIXED, &d.due_company},
            {counters_db, 0, &d.counters},
        };
        for (auto& s : specs) {
          auto dbi = env.open_db(s.name, s.flags);
          if (!dbi)
            return make_unexpected(dbi.error());
          *s.out = *dbi;
        }
        std::unique_ptr<job_queue> q{new job_queue(env, w, d)};
        // Is there anything of format v1?
        bool current = false;
        {
          auto txn = env.begin_read();
          if (!txn)
            return make_unexpected(txn.error());
          auto key = as_val(format_key);
          MDB_val val;
          auto rc = mdb_get(txn->handle(), d.meta, &key, &val);
          if (rc == 0)
            current = val.mv_size == 1
                      && *static_cast<const unsigned char*>(val.mv_data)
                             >= job_format_v2;
          else if (rc != MDB_NOTFOUND)
            return fail_mdb(rc, "mdb_get(jobs_meta)");
        }
        if (!current) {
          auto* raw = q.get();
          auto done = run_blocking<bool>(
              w, "job_queue::migrate",
              [raw, &lookup](write_txn& txn) -> result<bool> {
                if (auto r = raw->migrate(txn, lookup); !r)
                  return make_unexpected(r.error());
                return true;
              });
          if (!done)
            return make_unexpected(done.error());
        }
        return q;
      });
}

// -- private helpers
// ------------------------------------------------------------

MDB_dbi job_queue::index_db(job_state s) const noexcept {
  switch (s) {
  case job_state::pending:
    return db_.due;
  case job_state::leased:
    return db_.leased;
  case job_state::failed:
    break;
  }
  return db_.failed;
}

namespace {

/// The index value of `j` in the database of its state.
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

} // namespace

result<void> job_queue::index(MDB_txn* txn, const job& j) {
  index_val iv{j};
  auto key = as_val(j.queue);
  auto val = iv.val();
  if (auto rc = mdb_put(txn, index_db(j.state), &key, &val, MDB_NODUPDATA);
      rc != 0) {
    if (rc == MDB_KEYEXIST)
      return err(errc::corrupt, "job index: entry stored twice");
    return fail_mdb(rc, "mdb_put(job index)");
  }
  if (j.state == job_state::pending) {
    auto ck = company_key(j.queue, j.company_id);
    auto ckey = as_val(ck);
    if (auto rc = mdb_put(txn, db_.due_company, &ckey, &val, MDB_NODUPDATA);
        rc != 0) {
      if (rc == MDB_KEYEXIST)
        return err(errc::corrupt, "jobs_due_company: entry stored twice");
      return fail_mdb(rc, "mdb_put(jobs_due_company)");
    }
  }
  return trace(txn, j, static_cast<job_outcome>(j.state), 0);
}

void job_queue::trace_into(trace_index* traces) noexcept {
  traces_ = traces;
}

result<void> job_queue::trace(MDB_txn* txn, const job& j, job_outcome outcome,
                              timestamp_ms finished_at) {
  if (traces_ == nullptr || j.correlation_id.empty())
    return {};
  return traces_->job_in(txn, j, outcome, finished_at);
}

result<void> job_queue::unindex(MDB_txn* txn, const job& j) {
  index_val iv{j};
  auto key = as_val(j.queue);
  auto val = iv.val();
  if (auto rc = mdb_del(txn, index_db(j.state), &key, &val); rc != 0) {
    if (rc == MDB_NOTFOUND)
      return err(errc::corrupt, "job index: no entry for job "
                                    + std::to_string(j.id) + " ("
                                    + to_string(j.state) + ")");
    return fail_mdb(rc, "mdb_del(job index)");
  }
  if (j.state == job_state::pending) {
    auto ck = company_key(j.queue, j.company_id);
    auto ckey = as_val(ck);
    if (auto rc = mdb_del(txn, db_.due_company, &ckey, &val); rc != 0) {
      if (rc == MDB_NOTFOUND)
        return err(errc::corrupt, "jobs_due_company: no entry for job "
                                      + std::to_string(j.id));
      return fail_mdb(rc, "mdb_del(jobs_due_company)");
    }
  }
  return {};
}

result<void> job_queue::count(MDB_txn* txn, const job& j,
                              std::uint64_t processed, std::uint64_t failed,
                              std::uint64_t retried) {
  std::string k = j.queue;
  k.push_back('\0');
  k += j.listener;
  k.push_back('\0');
  k += j.company_id;
  auto key = as_val(k);
  MDB_val val;
  std::uint64_t n[3] = {0, 0, 0};
  auto rc = mdb_get(txn, db_.counters, &key, &val);
  if (rc == 0) {
    if (val.mv_size != 24)
      return err(errc::corrupt, "jobs_counters: bad value size");
    for (int i = 0; i < 3; ++i)
      n[i] = get_be64(static_cast<const char*>(val.mv_data) + 8 * i);
  } else if (rc != MDB_NOTFOUND) {
    return fail_mdb(rc, "mdb_get(jobs_counters)");
  }
  n[0] += processed;
  n[1] += failed;
  n[2] += retried;
  char buf[24];
  for (int i = 0; i < 3; ++i)
    put_be64(buf + 8 * i, n[i]);
  auto v = as_val(buf, 24);
  if (rc = mdb_put(txn, db_.counters, &key, &v, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(jobs_counters)");
  return {};
}

result<void> job_queue::free_unique(MDB_txn* txn, const job& j) {
  if (j.unique_key.empty())
    return {};
  auto key = as_val(j.unique_key);
  MDB_val val;
  auto rc = mdb_get(txn, db_.unique, &key, &val);
  if (rc == MDB_NOTFOUND)
    return {};
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(jobs_unique)");
  if (val.mv_size != 8)
    return err(errc::corrupt, "jobs_unique: bad value size");
  if (get_be64(val.mv_data) != j.id)
    return {}; // another job holds the key
  if (rc = mdb_del(txn, db_.unique, &key, nullptr); rc != 0)
    return fail_mdb(rc, "mdb_del(jobs_unique)");
  return {};
}

result<job> job_queue::load_in_state(MDB_txn* txn, std::uint64_t id,
                                     bool want_failed) const {
  auto j = load_job(txn, db_.jobs, id);
  if (!j)
    return j;
  if ((j->state == job_state::failed) != want_failed)
    return err(errc::not_found,
               "no " + std::string{want_failed ? "failed" : "pending or leased"}
                   + " job " + std::to_string(id));
  return j;
}

result<void> job_queue::migrate(write_txn& txn,
                                const job_event_lookup& lookup) {
  auto* t = txn.handle();
  auto c = txn.cursor(db_.jobs);
  if (!c)
    return make_unexpected(c.error());
  std::vector<job> old;
  MDB_val key, val;
  auto rc = mdb_cursor_get(*c, &key, &val, MDB_FIRST);
  while (rc == 0) {
    if (val.mv_size >= 1
        && *static_cast<const unsigned char*>(val.mv_data) == job_format_v1) {
      auto j = decode_job(val);
      if (!j)
        return make_unexpected(j.error());
      old.push_back(std::move(*j));
    }
    rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(jobs)");
  for (auto& j : old) {
    if (lookup) {
      std::string company, type;
      if (lookup(j.event_seq, company, type)
          && company.find('\0') == std::string::npos
          && company.size() <= max_name_size && type.size() <= max_name_size) {
        j.company_id = std::move(company);
        j.event_type = std::move(type);
      }
    }
    if (auto ok = store_job(t, db_.jobs, j, 0); !ok)
      return ok;
    if (j.state == job_state::pending) {
      index_val iv{j};
      auto k = company_key(j.queue, j.company_id);
      auto kv = as_val(k);
      auto v = iv.val();
      if (auto r = mdb_put(t, db_.due_company, &kv, &v, MDB_NODUPDATA);
          r != 0 && r != MDB_KEYEXIST)
        return fail_mdb(r, "mdb_put(jobs_due_company)");
    }
  }
  auto fk = as_val(format_key);
  char v2 = static_cast<char>(job_format_v2);
  auto fv = as_val(&v2, 1);
  if (auto r = mdb_put(t, db_.meta, &fk, &fv, 0); r != 0)
    return fail_mdb(r, "mdb_put(jobs_meta)");
  return {};
}

// -- the outbox
// -----------------------------------------------------------------

result<enqueue_outcome> job_queue::enqueue_in(write_txn& txn, const job& j) {
  return guarded("job_queue::enqueue_in", [&]() -> result<enqueue_outcome> {
    if (auto ok = validate(j); !ok)
      return make_unexpected(ok.error());
    auto* t = txn.handle();
    // 1. A job holding the unique key wins.
    if (!j.unique_key.empty()) {
      auto key = as_val(j.unique_key);
      MDB_val val;
      auto rc = mdb_get(t, db_.unique, &key, &val);
      if (rc == 0) {
        if (val.mv_size != 8)
          return err(errc::corrupt, "jobs_unique: bad value size");
        return enqueue_outcome{get_be64(val.mv_data), false};
      }
      if (rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_get(jobs_unique)");
    }
    // 2. The next id.
    std::uint64_t id = 1;
    auto meta_key = as_val(next_id_key);
    MDB_val meta_val;
    if (auto rc = mdb_get(t, db_.meta, &meta_key, &meta_val); rc == 0) {
      if (meta_val.mv_size != 8)
        return err(errc::corrupt, "jobs_meta: bad next_id");
      id = get_be64(meta_val.mv_data);
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_get(jobs_meta)");
    }
    // 3. Write. From here on an error loses the transaction.
    job rec = j;
    rec.id = id;
    rec.state = job_state::pending;
    rec.attempts = 0;
    rec.exceptions = 0;
    rec.first_attempt_at = 0;
    rec.last_attempt_at = 0;
    rec.lease_until = 0;
    rec.failed_at = 0;
    rec.last_error.clear();
    rec.history.clear();
    if (auto ok = store_job(t, db_.jobs, rec, MDB_APPEND); !ok)
      return make_unexpected(ok.error());
    if (auto ok = index(t, rec); !ok)
      return make_unexpected(ok.error());
    if (!rec.unique_key.empty()) {
      id_key k{id};
      auto key = as_val(rec.unique_key);
      auto val = k.val();
      if (auto rc = mdb_put(t, db_.unique, &key, &val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(jobs_unique)");
    }
    id_key next{id + 1};
    auto next_val = next.val();
    if (auto rc = mdb_put(t, db_.meta, &meta_key, &next_val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(jobs_meta)");
    std::string qkey{queue_prefix};
    qkey += rec.queue;
    auto key = as_val(qkey);
    MDB_val empty{0, nullptr};
    if (auto rc = mdb_put(t, db_.meta, &key, &empty, MDB_NOOVERWRITE);
        rc != 0 && rc != MDB_KEYEXIST)
      return fail_mdb(rc, "mdb_put(jobs_meta)");
    return enqueue_outcome{id, true};
  });
}

result<enqueue_outcome> job_queue::enqueue(const job& j) {
  return run_blocking<enqueue_outcome>(writer_, "job_queue::enqueue",
                                       [&](write_txn& txn) {
                                         return enqueue_in(txn, j);
                                       });
}

// -- the supervisor's cycle
// -------------------------------------------------------

result<std::vector<job>> job_queue::lease_in(write_txn& txn,
                                             std::string_view queue,
                                             timestamp_ms now, std::size_t max,
                                             timestamp_ms lease_until) {
  return guarded("job_queue::lease_in", [&]() -> result<std::vector<job>> {
    std::vector<job> out;
    if (max == 0 || queue.empty() || queue.size() > max_name_size)
      return out;
    auto* t = txn.handle();
    auto c = txn.cursor(db_.due_company);
    if (!c)
      return make_unexpected(c.error());
    std::string prefix{queue};
    prefix.push_back('\0');
    // Where the last lease stopped: the company served last.
    std::string rr_key{rr_prefix};
    rr_key += queue;
    std::string pos;
    bool have_pos = false;
    {
      auto k = as_val(rr_key);
      MDB_val v;
      auto rc = mdb_get(t, db_.meta, &k, &v);
      if (rc == 0) {
        pos.assign(static_cast<const char*>(v.mv_data), v.mv_size);
        have_pos = true;
      } else if (rc != MDB_NOTFOUND) {
        return fail_mdb(rc, "mdb_get(jobs_meta)");
      }
    }
    // Seeks the first company after `pos` (or the first of all); false at
    // the end of the queue's companies.
    std::string seek;
    MDB_val key, val;
    auto next_company = [&](bool from_start) -> result<bool> {
      seek = prefix;
      if (!from_start) {
        seek += pos;
        seek.push_back('\0'); // the least key greater than pos
      }
      key = as_val(seek);
      auto rc = mdb_cursor_get(*c, &key, &val, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND)
        return false;
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(jobs_due_company)");
      auto k = as_view(key);
      return k.size() >= prefix.size()
             && k.compare(0, prefix.size(), prefix) == 0;
    };
    // Round-robin: one ready job of each company in turn; stop after a
    // whole round of companies without a ready job.
    std::optional<std::string> idle_since;
    while (out.size() < max) {
      auto found = next_company(!have_pos);
      if (!found)
        return make_unexpected(found.error());
      if (!*found) {
        if (!have_pos)
          break; // no pending job at all
        found = next_company(true);
        if (!found)
          return make_unexpected(found.error());
        if (!*found)
          break;
      }
      auto company = as_view(key).substr(prefix.size());
      if (idle_since && *idle_since == company)
        break;
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_due_company: bad value size");
      auto due = get_time(val.mv_data);
      auto id = get_be64(static_cast<const char*>(val.mv_data) + 8);
      pos.assign(company.data(), company.size());
      have_pos = true;
      if (due > now) {
        if (!idle_since)
          idle_since = pos;
        continue;
      }
      idle_since.reset();
      auto j = lease_one(t, id, queue, now, lease_until);
      if (!j)
        return make_unexpected(j.error());
      out.push_back(std::move(*j));
    }
    if (!out.empty()) {
      auto k = as_val(rr_key);
      auto v = as_val(out.back().company_id);
      if (auto rc = mdb_put(t, db_.meta, &k, &v, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(jobs_meta)");
    }
    return out;
  });
}

result<job> job_queue::lease_one(MDB_txn* t, std::uint64_t id,
                                 std::string_view queue, timestamp_ms now,
                                 timestamp_ms lease_until) {
  auto j = load_job(t, db_.jobs, id);
  if (!j) {
    auto e = j.error();
    if (e.code == errc::not_found)
      e.code = errc::corrupt;
    return make_unexpected(std::move(e));
  }
  if (j->state != job_state::pending || j->queue != queue)
    return err(errc::corrupt, "jobs_due: entry of job " + std::to_string(id)
                                  + " that is not pending in this queue");
  if (auto ok = unindex(t, *j); !ok)
    return make_unexpected(ok.error());
  j->state = job_state::leased;
  ++j->attempts;
  if (j->first_attempt_at == 0)
    j->first_attempt_at = now;
  j->last_attempt_at = now;
  j->lease_until = lease_until;
  if (auto ok = store_job(t, db_.jobs, *j, 0); !ok)
    return make_unexpected(ok.error());
  if (auto ok = index(t, *j); !ok)
    return make_unexpected(ok.error());
  return j;
}

result<std::vector<job>> job_queue::lease(std::string_view queue,
                                          timestamp_ms now, std::size_t max,
                                          timestamp_ms lease_until) {
  return run_blocking<std::vector<job>>(
      writer_, "job_queue::lease", [&](write_txn& txn) {
        return lease_in(txn, queue, now, max, lease_until);
      });
}

result<void> job_queue::ack_in(write_txn& txn, std::uint64_t id) {
  return guarded("job_queue::ack_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = load_in_state(t, id, false);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = unindex(t, *j); !ok)
      return ok;
    if (auto ok = free_unique(t, *j); !ok)
      return ok;
    id_key k{id};
    auto key = k.val();
    if (auto rc = mdb_del(t, db_.jobs, &key, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del(jobs)");
    if (auto ok = trace(t, *j, job_outcome::succeeded, wall_ms()); !ok)
      return ok;
    return count(t, *j, 1, 0, 0);
  });
}

result<void> job_queue::ack(std::uint64_t id) {
  return run_blocking<void>(writer_, "job_queue::ack", [&](write_txn& txn) {
    return ack_in(txn, id);
  });
}

result<void> job_queue::retry_in(write_txn& txn, std::uint64_t id,
                                 timestamp_ms due_at, std::string_view error,
                                 bool counts_as_exception, timestamp_ms now) {
  return guarded("job_queue::retry_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = load_in_state(t, id, false);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = unindex(t, *j); !ok)
      return ok;
    bool ran = j->state == job_state::leased;
    if (ran)
      record_attempt(*j, now, error);
    j->state = job_state::pending;
    j->due_at = due_at;
    j->lease_until = 0;
    j->last_error = cut_error(error);
    if (counts_as_exception)
      ++j->exceptions;
    if (auto ok = store_job(t, db_.jobs, *j, 0); !ok)
      return ok;
    if (auto ok = index(t, *j); !ok)
      return ok;
    return ran ? count(t, *j, 0, 0, 1) : result<void>{};
  });
}

result<void> job_queue::retry(std::uint64_t id, timestamp_ms due_at,
                              std::string_view error, bool counts_as_exception,
                              timestamp_ms now) {
  return run_blocking<void>(writer_, "job_queue::retry", [&](write_txn& txn) {
    return retry_in(txn, id, due_at, error, counts_as_exception, now);
  });
}

result<void> job_queue::fail_in(write_txn& txn, std::uint64_t id,
                                std::string_view error, timestamp_ms now) {
  return guarded("job_queue::fail_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = load_in_state(t, id, false);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = unindex(t, *j); !ok)
      return ok;
    if (auto ok = free_unique(t, *j); !ok)
      return ok;
    if (j->state == job_state::leased)
      record_attempt(*j, now, error);
    j->state = job_state::failed;
    j->failed_at = now;
    j->lease_until = 0;
    j->last_error = cut_error(error);
    if (auto ok = store_job(t, db_.jobs, *j, 0); !ok)
      return ok;
    if (auto ok = index(t, *j); !ok)
      return ok;
    return count(t, *j, 0, 1, 0);
  });
}

result<void> job_queue::fail(std::uint64_t id, std::string_view error,
                             timestamp_ms now) {
  return run_blocking<void>(writer_, "job_queue::fail", [&](write_txn& txn) {
    return fail_in(txn, id, error, now);
  });
}

result<bool> job_queue::cancel_by_key_in(write_txn& txn, std::string_view key) {
  return guarded("job_queue::cancel_by_key_in", [&]() -> result<bool> {
    if (key.empty() || key.size() > max_name_size)
      return false;
    auto* t = txn.handle();
    auto k = as_val(key);
    MDB_val val;
    auto rc = mdb_get(t, db_.unique, &k, &val);
    if (rc == MDB_NOTFOUND)
      return false;
    if (rc != 0)
      return fail_mdb(rc, "mdb_get(jobs_unique)");
    if (val.mv_size != 8)
      return err(errc::corrupt, "jobs_unique: bad value size");
    auto id = get_be64(val.mv_data);
    auto j = load_job(t, db_.jobs, id);
    if (!j) {
      auto e = j.error();
      if (e.code == errc::not_found)
        e.code = errc::corrupt;
      return make_unexpected(std::move(e));
    }
    if (j->state != job_state::pending)
      return false;
    if (auto ok = unindex(t, *j); !ok)
      return make_unexpected(ok.error());
    if (rc = mdb_del(t, db_.unique, &k, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del(jobs_unique)");
    id_key ik{id};
    auto ikey = ik.val();
    if (rc = mdb_del(t, db_.jobs, &ikey, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del(jobs)");
    if (auto ok = trace(t, *j, job_outcome::cancelled, wall_ms()); !ok)
      return make_unexpected(ok.error());
    return true;
  });
}

result<std::vector<job>> job_queue::take_company_in(write_txn& txn,
                                                    std::string_view company) {
  return guarded(
      "job_queue::take_company_in", [&]() -> result<std::vector<job>> {
        auto* t = txn.handle();
        std::vector<job> out;
        {
          cursor_guard c;
          if (auto rc = mdb_cursor_open(t, db_.jobs, &c.c); rc != 0)
            return fail_mdb(rc, "mdb_cursor_open");
          MDB_val key;
          MDB_val val;
          auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
          while (rc == 0) {
            auto j = decode_job(val);
            if (!j)
              return make_unexpected(j.error());
            if (j->company_id == company) {
              if (j->state == job_state::leased)
                return err(errc::version_conflict,
                           "job " + std::to_string(j->id) + " of company "
                               + std::string{company} + " is running");
              if (j->state == job_state::pending)
                out.push_back(std::move(*j));
            }
            rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
          }
          if (rc != MDB_NOTFOUND)
            return fail_mdb(rc, "mdb_cursor_get(jobs)");
        }
        for (const auto& j : out) {
          if (auto ok = unindex(t, j); !ok)
            return make_unexpected(ok.error());
          if (auto ok = free_unique(t, j); !ok)
            return make_unexpected(ok.error());
          id_key ik{j.id};
          auto ikey = ik.val();
          if (auto rc = mdb_del(t, db_.jobs, &ikey, nullptr); rc != 0)
            return fail_mdb(rc, "mdb_del(jobs)");
        }
        return out;
      });
}

result<bool> job_queue::cancel_by_key(std::string_view key) {
  return run_blocking<bool>(writer_, "job_queue::cancel_by_key",
                            [&](write_txn& txn) {
                              return cancel_by_key_in(txn, key);
                            });
}

result<std::size_t> job_queue::release_in(write_txn& txn, timestamp_ms deadline,
                                          timestamp_ms now,
                                          std::string_view why) {
  return guarded("job_queue::release", [&]() -> result<std::size_t> {
    auto c = txn.cursor(db_.leased);
    if (!c)
      return make_unexpected(c.error());
    // 1. The expired leases of every queue.
    std::vector<std::uint64_t> ids;
    MDB_val key, val;
    auto rc = mdb_cursor_get(*c, &key, &val, MDB_FIRST);
    while (rc == 0) {
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_leased: bad value size");
      if (get_time(val.mv_data) > deadline) {
        rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT_NODUP);
        continue;
      }
      ids.push_back(get_be64(static_cast<const char*>(val.mv_data) + 8));
      rc = mdb_cursor_get(*c, &key, &val, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs_leased)");
    // 2. Back to pending, due now.
    auto* t = txn.handle();
    for (auto id : ids) {
      auto j = load_job(t, db_.jobs, id);
      if (!j) {
        auto e = j.error();
        if (e.code == errc::not_found)
          e.code = errc::corrupt;
        return make_unexpected(std::move(e));
      }
      if (j->state != job_state::leased)
        return err(errc::corrupt, "jobs_leased: entry of job "
                                      + std::to_string(id)
                                      + " that is not leased");
      if (auto ok = unindex(t, *j); !ok)
        return make_unexpected(ok.error());
      record_attempt(*j, now, why);
      j->state = job_state::pending;
      j->due_at = now;
      j->lease_until = 0;
      j->last_error = std::string{why};
      if (auto ok = store_job(t, db_.jobs, *j, 0); !ok)
        return make_unexpected(ok.error());
      if (auto ok = index(t, *j); !ok)
        return make_unexpected(ok.error());
    }
    return ids.size();
  });
}

result<std::size_t> job_queue::release_expired_in(write_txn& txn,
                                                  timestamp_ms now) {
  return release_in(txn, now, now, "lease expired");
}

result<std::size_t> job_queue::release_expired(timestamp_ms now) {
  return run_blocking<std::size_t>(writer_, "job_queue::release_expired",
                                   [&](write_txn& txn) {
                                     return release_expired_in(txn, now);
                                   });
}

result<std::size_t> job_queue::release_all_leases_in(write_txn& txn,
                                                     timestamp_ms now) {
  return release_in(txn, std::numeric_limits<timestamp_ms>::max(), now,
                    "lease released at start: the process holding it ended");
}

result<std::size_t> job_queue::release_all_leases(timestamp_ms now) {
  return run_blocking<std::size_t>(writer_, "job_queue::release_all_leases",
                                   [&](write_txn& txn) {
                                     return release_all_leases_in(txn, now);
                                   });
}

// -- failed jobs
// ------------------------------------------------------------------

result<std::vector<job>> job_queue::list_failed(std::string_view queue,
                                                std::uint64_t after_id,
                                                std::size_t max) const {
  return guarded("job_queue::list_failed", [&]() -> result<std::vector<job>> {
    std::vector<job> out;
    if (max == 0 || after_id == std::numeric_limits<std::uint64_t>::max()
        || queue.size() > max_name_size)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    std::vector<std::string> names;
    if (queue.empty()) {
      auto keys = dup_keys(txn->handle(), db_.failed);
      if (!keys)
        return make_unexpected(keys.error());
      names = std::move(*keys);
    } else {
      names.emplace_back(queue);
    }
    // Up to `max` ids from each queue; the smallest `max` of them all.
    std::vector<std::uint64_t> ids;
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.failed, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    for (auto& name : names) {
      id_key from{after_id + 1};
      auto key = as_val(name);
      auto val = from.val();
      auto rc = mdb_cursor_get(c.c, &key, &val, MDB_GET_BOTH_RANGE);
      for (std::size_t n = 0; rc == 0 && n < max; ++n) {
        if (val.mv_size != 8)
          return err(errc::corrupt, "jobs_failed: bad value size");
        ids.push_back(get_be64(val.mv_data));
        rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_DUP);
      }
      if (rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_cursor_get(jobs_failed)");
    }
    std::sort(ids.begin(), ids.end());
    if (ids.size() > max)
      ids.resize(max);
    out.reserve(ids.size());
    for (auto id : ids) {
      auto j = load_job(txn->handle(), db_.jobs, id);
      if (!j)
        return make_unexpected(j.error());
      out.push_back(std::move(*j));
    }
    return out;
  });
}

result<void> job_queue::retry_failed_in(write_txn& txn, std::uint64_t id,
                                        timestamp_ms now) {
  return guarded("job_queue::retry_failed_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = load_in_state(t, id, true);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = unindex(t, *j); !ok)
      return ok;
    j->state = job_state::pending;
    j->due_at = now;
    j->attempts = 0;
    j->exceptions = 0;
    j->first_attempt_at = 0;
    j->last_attempt_at = 0;
    j->failed_at = 0;
    if (auto ok = store_job(t, db_.jobs, *j, 0); !ok)
      return ok;
    if (auto ok = index(t, *j); !ok)
      return ok;
    if (!j->unique_key.empty()) {
      id_key k{id};
      auto key = as_val(j->unique_key);
      auto val = k.val();
      auto rc = mdb_put(t, db_.unique, &key, &val, MDB_NOOVERWRITE);
      if (rc != 0 && rc != MDB_KEYEXIST)
        return fail_mdb(rc, "mdb_put(jobs_unique)");
    }
    return {};
  });
}

result<void> job_queue::retry_failed(std::uint64_t id, timestamp_ms now) {
  return run_blocking<void>(writer_, "job_queue::retry_failed",
                            [&](write_txn& txn) {
                              return retry_failed_in(txn, id, now);
                            });
}

result<void> job_queue::delete_failed_in(write_txn& txn, std::uint64_t id) {
  return guarded("job_queue::delete_failed_in", [&]() -> result<void> {
    auto* t = txn.handle();
    auto j = load_in_state(t, id, true);
    if (!j)
      return make_unexpected(j.error());
    if (auto ok = unindex(t, *j); !ok)
      return ok;
    id_key k{id};
    auto key = k.val();
    if (auto rc = mdb_del(t, db_.jobs, &key, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del(jobs)");
    return trace(t, *j, job_outcome::forgotten, wall_ms());
  });
}

result<void> job_queue::delete_failed(std::uint64_t id) {
  return run_blocking<void>(writer_, "job_queue::delete_failed",
                            [&](write_txn& txn) {
                              return delete_failed_in(txn, id);
                            });
}

// -- reads
// ------------------------------------------------------------------------

result<job> job_queue::get(std::uint64_t id) const {
  return guarded("job_queue::get", [&]() -> result<job> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return load_job(txn->handle(), db_.jobs, id);
  });
}

result<job> job_queue::get_in(write_txn& txn, std::uint64_t id) const {
  return guarded("job_queue::get_in", [&]() -> result<job> {
    return load_job(txn.handle(), db_.jobs, id);
  });
}

result<std::vector<job>> job_queue::list_pending(std::string_view queue,
                                                 std::uint64_t after_id,
                                                 std::size_t max) const {
  return guarded("job_queue::list_pending", [&]() -> result<std::vector<job>> {
    std::vector<job> out;
    if (max == 0 || after_id == std::numeric_limits<std::uint64_t>::max())
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.jobs, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    id_key from{after_id + 1};
    auto key = from.val();
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && out.size() < max) {
      auto j = decode_job(val);
      if (!j)
        return make_unexpected(j.error());
      if (j->state != job_state::failed && (queue.empty() || j->queue == queue))
        out.push_back(std::move(*j));
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs)");
    return out;
  });
}

result<queue_counts> job_queue::counts(std::string_view queue,
                                       timestamp_ms now) const {
  return guarded("job_queue::counts", [&]() -> result<queue_counts> {
    queue_counts out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto* t = txn->handle();
    std::vector<std::string> names;
    if (queue.empty()) {
      auto all = queue_names(t, db_.meta);
      if (!all)
        return make_unexpected(all.error());
      names = std::move(*all);
    } else {
      names.emplace_back(queue);
    }
    cursor_guard due, leased, failed;
    for (auto [dbi, c] :
         {std::pair{db_.due, &due}, std::pair{db_.leased, &leased},
          std::pair{db_.failed, &failed}})
      if (auto rc = mdb_cursor_open(t, dbi, &c->c); rc != 0)
        return fail_mdb(rc, "mdb_cursor_open");
    for (auto& name : names) {
      if (name.empty() || name.size() > max_name_size)
        continue;
      auto n = dup_count(leased.c, name);
      if (!n)
        return make_unexpected(n.error());
      out.leased += *n;
      n = dup_count(failed.c, name);
      if (!n)
        return make_unexpected(n.error());
      out.failed += *n;
      n = dup_count(due.c, name);
      if (!n)
        return make_unexpected(n.error());
      if (*n == 0)
        continue;
      // Ready: the due entries <= now. dup_count left the cursor on the
      // queue's first entry.
      char limit[8];
      put_time(limit, now);
      auto is_ready = [&limit](const char* entry) {
        return std::memcmp(entry, limit, 8) <= 0;
      };
      MDB_val key, val;
      auto rc = mdb_cursor_get(due.c, &key, &val, MDB_GET_CURRENT);
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(jobs_due)");
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_due: bad value size");
      std::uint64_t ready = 0;
      if (*n == 1) {
        // A single entry is stored inline: no page of duplicates.
        ready = is_ready(static_cast<const char*>(val.mv_data)) ? 1 : 0;
      } else {
        // A page of entries at a time; binary search in the last one.
        rc = mdb_cursor_get(due.c, &key, &val, MDB_GET_MULTIPLE);
        while (rc == 0) {
          if (val.mv_size == 0 || val.mv_size % 16 != 0)
            return err(errc::corrupt, "jobs_due: bad page of entries");
          auto* first = static_cast<const char*>(val.mv_data);
          auto count = val.mv_size / 16;
          if (is_ready(first + 16 * (count - 1))) {
            ready += count;
            rc = mdb_cursor_get(due.c, &key, &val, MDB_NEXT_MULTIPLE);
            continue;
          }
          std::size_t lo = 0;
          std::size_t hi = count; // the first entry not ready
          while (lo < hi) {
            auto mid = lo + (hi - lo) / 2;
            if (is_ready(first + 16 * mid))
              lo = mid + 1;
            else
              hi = mid;
          }
          ready += lo;
          break;
        }
      }
      if (rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_cursor_get(jobs_due)");
      out.ready += ready;
      out.delayed += *n - ready;
    }
    return out;
  });
}

result<std::vector<std::string>> job_queue::queues() const {
  return guarded("job_queue::queues",
                 [&]() -> result<std::vector<std::string>> {
                   auto txn = env_.begin_read();
                   if (!txn)
                     return make_unexpected(txn.error());
                   return queue_names(txn->handle(), db_.meta);
                 });
}

result<timestamp_ms> job_queue::next_due(std::string_view queue) const {
  return guarded("job_queue::next_due", [&]() -> result<timestamp_ms> {
    if (queue.empty() || queue.size() > max_name_size)
      return err(errc::not_found, "no pending job");
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return first_time(txn->handle(), db_.due, queue);
  });
}

result<std::vector<std::string>>
job_queue::live_event_ids_in(write_txn& txn, std::string_view listener) const {
  return guarded(
      "job_queue::live_event_ids_in",
      [&]() -> result<std::vector<std::string>> {
        std::vector<std::string> out;
        cursor_guard c;
        if (auto rc = mdb_cursor_open(txn.handle(), db_.jobs, &c.c); rc != 0)
          return fail_mdb(rc, "mdb_cursor_open");
        MDB_val key, val;
        auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
        for (; rc == 0; rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
          auto j = decode_job(val);
          if (!j)
            return make_unexpected(j.error());
          if (j->listener == listener)
            out.push_back(std::move(j->event_id));
        }
        if (rc != MDB_NOTFOUND)
          return fail_mdb(rc, "mdb_cursor_get(jobs)");
        return out;
      });
}

result<std::vector<pending_head>> job_queue::pending_heads() const {
  return guarded(
      "job_queue::pending_heads", [&]() -> result<std::vector<pending_head>> {
        std::vector<pending_head> out;
        auto txn = env_.begin_read();
        if (!txn)
          return make_unexpected(txn.error());
        cursor_guard c;
        if (auto rc = mdb_cursor_open(txn->handle(), db_.due_company, &c.c);
            rc != 0)
          return fail_mdb(rc, "mdb_cursor_open");
        // The first value of each key is its earliest due time.
        MDB_val key, val;
        auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
        while (rc == 0) {
          if (val.mv_size != 16)
            return err(errc::corrupt, "jobs_due_company: bad value size");
          auto k = as_view(key);
          auto nul = k.find('\0');
          if (nul == std::string_view::npos)
            return err(errc::corrupt, "jobs_due_company: key without company");
          out.push_back({std::string{k.substr(0, nul)},
                         std::string{k.substr(nul + 1)},
                         get_time(val.mv_data)});
          rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_NODUP);
        }
        if (rc != MDB_NOTFOUND)
          return fail_mdb(rc, "mdb_cursor_get(jobs_due_company)");
        return out;
      });
}

result<timestamp_ms>
job_queue::next_lease_expiry(std::string_view queue) const {
  return guarded("job_queue::next_lease_expiry", [&]() -> result<timestamp_ms> {
    if (queue.size() > max_name_size)
      return err(errc::not_found, "no leased job");
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    if (!queue.empty())
      return first_time(txn->handle(), db_.leased, queue);
    auto names = dup_keys(txn->handle(), db_.leased);
    if (!names)
      return make_unexpected(names.error());
    std::optional<timestamp_ms> best;
    for (auto& name : *names) {
      auto t = first_time(txn->handle(), db_.leased, name);
      if (!t)
        return t;
      if (!best || *t < *best)
        best = *t;
    }
    if (!best)
      return err(errc::not_found, "no leased job");
    return *best;
  });
}

// -- filters, bulk changes, counters
// -------------------------------------------------------

namespace {

/// The ids of the failed jobs of `queue` (empty: every queue) with id >
/// `after_id`, sorted, at most `max`.
result<std::vector<std::uint64_t>> failed_ids(MDB_txn* t, MDB_dbi failed,
                                              std::string_view queue,
                                              std::uint64_t after_id,
                                              std::size_t max) {
  std::vector<std::uint64_t> ids;
  std::vector<std::string> names;
  if (queue.empty()) {
    auto keys = dup_keys(t, failed);
    if (!keys)
      return make_unexpected(keys.error());
    names = std::move(*keys);
  } else {
    names.emplace_back(queue);
  }
  if (after_id == std::numeric_limits<std::uint64_t>::max())
    return ids;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(t, failed, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  for (auto& name : names) {
    id_key from{after_id + 1};
    auto key = as_val(name);
    auto val = from.val();
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_GET_BOTH_RANGE);
    for (std::size_t n = 0; rc == 0 && n < max; ++n) {
      if (val.mv_size != 8)
        return err(errc::corrupt, "jobs_failed: bad value size");
      ids.push_back(get_be64(val.mv_data));
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_DUP);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs_failed)");
  }
  std::sort(ids.begin(), ids.end());
  if (ids.size() > max)
    ids.resize(max);
  return ids;
}

} // namespace

namespace {

/// Calls `act(id)` for each failed job that `f` matches, in id order, at
/// most `max` of them; returns how many.
template <class Act>
result<std::size_t> each_failed_where(MDB_txn* t, MDB_dbi failed, MDB_dbi jobs,
                                      const job_filter& f, std::size_t max,
                                      Act act) {
  std::size_t done = 0;
  std::uint64_t after = 0;
  while (done < max) {
    auto ids = failed_ids(t, failed, f.queue, after, 1024);
    if (!ids)
      return make_unexpected(ids.error());
    if (ids->empty())
      break;
    for (auto id : *ids) {
      after = id;
      if (done >= max)
        break;
      auto j = load_job(t, jobs, id);
      if (!j)
        return make_unexpected(j.error());
      if (!f.matches(*j))
        continue;
      if (auto r = act(id); !r)
        return make_unexpected(r.error());
      ++done;
    }
  }
  return done;
}

/// Runs `op(txn, batch)` in write transactions of its own until one does
/// fewer than `batch`; returns the sum.
template <class Op>
result<std::size_t> in_batches(writer& w, const char* what, std::size_t batch,
                               Op op) {
  std::size_t total = 0;
  batch = std::max<std::size_t>(batch, 1);
  for (;;) {
    auto n = run_blocking<std::size_t>(w, what, [&](write_txn& txn) {
      return op(txn, batch);
    });
    if (!n)
      return n;
    total += *n;
    if (*n < batch)
      return total;
  }
}

} // namespace

result<std::size_t> job_queue::retry_failed_where_in(write_txn& txn,
                                                     const job_filter& f,
                                                     timestamp_ms now,
                                                     std::size_t max) {
  return guarded("job_queue::retry_failed_where_in", [&] {
    return each_failed_where(txn.handle(), db_.failed, db_.jobs, f, max,
                             [&](std::uint64_t id) {
                               return retry_failed_in(txn, id, now);
                             });
  });
}

result<std::size_t> job_queue::retry_failed_where(const job_filter& f,
                                                  timestamp_ms now,
                                                  std::size_t batch) {
  return in_batches(writer_, "job_queue::retry_failed_where", batch,
                    [&](write_txn& txn, std::size_t n) {
                      return retry_failed_where_in(txn, f, now, n);
                    });
}

result<std::size_t> job_queue::delete_failed_where_in(write_txn& txn,
                                                      const job_filter& f,
                                                      std::size_t max) {
  return guarded("job_queue::delete_failed_where_in", [&] {
    return each_failed_where(txn.handle(), db_.failed, db_.jobs, f, max,
                             [&](std::uint64_t id) {
                               return delete_failed_in(txn, id);
                             });
  });
}

result<std::size_t> job_queue::delete_failed_where(const job_filter& f,
                                                   std::size_t batch) {
  return in_batches(writer_, "job_queue::delete_failed_where", batch,
                    [&](write_txn& txn, std::size_t n) {
                      return delete_failed_where_in(txn, f, n);
                    });
}

result<job_page> job_queue::list(const job_filter& f, job_list_state state,
                                 timestamp_ms now, std::uint64_t after_id,
                                 std::size_t max, std::size_t scan) const {
  return guarded("job_queue::list", [&]() -> result<job_page> {
    job_page out;
    if (max == 0 || after_id == std::numeric_limits<std::uint64_t>::max())
      return out;
    scan = std::max<std::size_t>(scan, 1);
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto* t = txn->handle();
    auto wanted = [&](const job& j) {
      switch (state) {
      case job_list_state::pending:
        return j.state == job_state::pending;
      case job_list_state::ready:
        return j.state == job_state::pending && j.due_at <= now;
      case job_list_state::delayed:
        return j.state == job_state::pending && j.due_at > now;
      case job_list_state::leased:
        return j.state == job_state::leased;
      case job_list_state::failed:
        return j.state == job_state::failed;
      }
      return false;
    };
    std::size_t scanned = 0;
    std::uint64_t last = after_id;
    if (state == job_list_state::failed) {
      auto ids = failed_ids(t, db_.failed, f.queue, after_id, scan);
      if (!ids)
        return make_unexpected(ids.error());
      for (auto id : *ids) {
        if (out.jobs.size() >= max)
          break;
        ++scanned;
        last = id;
        auto j = load_job(t, db_.jobs, id);
        if (!j)
          return make_unexpected(j.error());
        if (f.matches(*j))
          out.jobs.push_back(std::move(*j));
      }
      bool more = out.jobs.size() >= max || ids->size() >= scan;
      if (more) {
        // Is there a failed job past `last`?
        auto rest = failed_ids(t, db_.failed, f.queue, last, 1);
        if (!rest)
          return make_unexpected(rest.error());
        if (!rest->empty())
          out.next_after = last;
      }
      return out;
    }
    cursor_guard c;
    if (auto rc = mdb_cursor_open(t, db_.jobs, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    id_key from{after_id + 1};
    auto key = from.val();
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && out.jobs.size() < max && scanned < scan) {
      auto j = decode_job(val);
      if (!j)
        return make_unexpected(j.error());
      ++scanned;
      last = j->id;
      if (wanted(*j) && f.matches(*j))
        out.jobs.push_back(std::move(*j));
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
    }
    if (rc == 0)
      out.next_after = last; // records past `last` remain
    else if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs)");
    return out;
  });
}

result<queue_counts> job_queue::company_counts(std::string_view queue,
                                               std::string_view company_id,
                                               timestamp_ms now) const {
  return guarded("job_queue::company_counts", [&]() -> result<queue_counts> {
    queue_counts out;
    if (queue.empty() || queue.size() > max_name_size)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto* t = txn->handle();
    // Pending: the company's due entries, ready up to now.
    cursor_guard c;
    if (auto rc = mdb_cursor_open(t, db_.due_company, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    auto ck = company_key(queue, company_id);
    auto key = as_val(ck);
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_KEY);
    while (rc == 0) {
      if (val.mv_size != 16)
        return err(errc::corrupt, "jobs_due_company: bad value size");
      if (get_time(val.mv_data) <= now)
        ++out.ready;
      else
        ++out.delayed;
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT_DUP);
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(jobs_due_company)");
    // Leased and failed: their records.
    for (auto [dbi, n, width] : {std::tuple{db_.leased, &out.leased, 16},
                                 std::tuple{db_.failed, &out.failed, 8}}) {
      cursor_guard ic;
      if (auto r = mdb_cursor_open(t, dbi, &ic.c); r != 0)
        return fail_mdb(r, "mdb_cursor_open");
      auto k = as_val(queue);
      MDB_val v;
      auto r = mdb_cursor_get(ic.c, &k, &v, MDB_SET_KEY);
      while (r == 0) {
        if (v.mv_size != static_cast<std::size_t>(width))
          return err(errc::corrupt, "job index: bad value size");
        auto id = get_be64(static_cast<const char*>(v.mv_data) + width - 8);
        auto j = load_job(t, db_.jobs, id);
        if (!j)
          return make_unexpected(j.error());
        if (j->company_id == company_id)
          ++*n;
        r = mdb_cursor_get(ic.c, &k, &v, MDB_NEXT_DUP);
      }
      if (r != MDB_NOTFOUND)
        return fail_mdb(r, "mdb_cursor_get(job index)");
    }
    return out;
  });
}

result<std::vector<job_counters>>
job_queue::counters(std::string_view queue, std::string_view company_id) const {
  return guarded(
      "job_queue::counters", [&]() -> result<std::vector<job_counters>> {
        std::vector<job_counters> out;
        auto txn = env_.begin_read();
        if (!txn)
          return make_unexpected(txn.error());
        cursor_guard c;
        if (auto rc = mdb_cursor_open(txn->handle(), db_.counters, &c.c);
            rc != 0)
          return fail_mdb(rc, "mdb_cursor_open");
        // A queue's rows are together: from its prefix to the next queue.
        std::string prefix;
        if (!queue.empty()) {
          prefix = std::string{queue};
          prefix.push_back('\0');
        }
        MDB_val key = as_val(prefix);
        MDB_val val;
        auto rc = mdb_cursor_get(c.c, &key, &val,
                                 prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
        while (rc == 0) {
          auto k = as_view(key);
          if (k.substr(0, prefix.size()) != prefix) {
            rc = MDB_NOTFOUND; // past the queue's rows
            break;
          }
          auto a = k.find('\0');
          auto b = a == std::string_view::npos ? a : k.find('\0', a + 1);
          if (b == std::string_view::npos || val.mv_size != 24)
            return err(errc::corrupt, "jobs_counters: bad entry");
          job_counters row;
          row.queue = std::string{k.substr(0, a)};
          row.listener = std::string{k.substr(a + 1, b - a - 1)};
          row.company_id = std::string{k.substr(b + 1)};
          auto* p = static_cast<const char*>(val.mv_data);
          row.processed = get_be64(p);
          row.failed = get_be64(p + 8);
          row.retried = get_be64(p + 16);
          if ((queue.empty() || row.queue == queue)
              && (company_id.empty() || row.company_id == company_id))
            out.push_back(std::move(row));
          rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
        }
        if (rc != MDB_NOTFOUND)
          return fail_mdb(rc, "mdb_cursor_get(jobs_counters)");
        return out;
      });
}

} // namespace switchboard::store
