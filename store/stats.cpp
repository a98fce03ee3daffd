#include "store/stats.hpp"

#include <cstring>

#include "store/codec.hpp"
#include "store/lmdb_util.hpp"
#include "store/record.hpp"

namespace switchboard::store {

namespace {

constexpr std::uint8_t stats_format_v1 = 1;
constexpr std::size_t max_series_name = 200;

std::string key_of(std::uint64_t minute, stats_kind kind,
                   const std::string& name) {
  std::string k(9, '\0');
  put_be64(k.data(), minute);
  k[8] = static_cast<char>(kind);
  k.append(name, 0, std::min(name.size(), max_series_name));
  return k;
}

std::uint64_t bits_of(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

double double_of(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}

std::string encode(const minute_bucket& b) {
  record_writer w{stats_format_v1};
  w.u64(b.count).u64(b.failures).u64(bits_of(b.sum)).u64(b.buckets.size());
  for (auto n : b.buckets)
    w.u64(n);
  return w.bytes();
}

result<minute_bucket> decode(const MDB_val& k, const MDB_val& v) {
  if (k.mv_size < 9)
    return fail(errc::corrupt, "stats key: too short");
  minute_bucket b;
  const auto* kp = static_cast<const char*>(k.mv_data);
  b.minute = get_be64(kp);
  b.kind = static_cast<stats_kind>(kp[8]);
  b.name.assign(kp + 9, k.mv_size - 9);
  record_reader r{v.mv_data, v.mv_size};
  if (r.format() != stats_format_v1)
    return fail(errc::corrupt, "stats record: unknown format");
  b.count = r.u64();
  b.failures = r.u64();
  b.sum = double_of(r.u64());
  auto n = r.u64();
  if (n > 64)
    return fail(errc::corrupt, "stats record: too many buckets");
  b.buckets.resize(n);
  for (auto& c : b.buckets)
    c = r.u64();
  if (!r.ok())
    return fail(errc::corrupt, "stats record: truncated");
  return b;
}

} // namespace

void add_into(minute_bucket& into, const minute_bucket& b) {
  into.count += b.count;
  into.failures += b.failures;
  into.sum += b.sum;
  if (into.buckets.size() < b.buckets.size())
    into.buckets.resize(b.buckets.size());
  for (std::size_t i = 0; i < b.buckets.size(); ++i)
    into.buckets[i] += b.buckets[i];
}

result<std::unique_ptr<stats_store>> stats_store::open(environment& env) {
  auto d = env.open_db("stats_minutes");
  if (!d)
    return make_unexpected(d.error());
  return std::unique_ptr<stats_store>{new stats_store(env, *d)};
}

result<void> stats_store::add_in(write_txn& txn,
                                 const std::vector<minute_bucket>& buckets) {
  for (const auto& b : buckets) {
    auto k = key_of(b.minute, b.kind, b.name);
    MDB_val key{k.size(), k.data()};
    MDB_val old;
    minute_bucket merged = b;
    auto rc = mdb_get(txn.handle(), dbi_, &key, &old);
    if (rc == 0) {
      if (auto prev = decode(key, old))
        add_into(merged, *prev);
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_get(stats_minutes)");
    }
    auto bytes = encode(merged);
    auto val = as_val(bytes);
    if (rc = mdb_put(txn.handle(), dbi_, &key, &val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(stats_minutes)");
  }
  return {};
}

result<std::size_t> stats_store::prune_in(write_txn& txn,
                                          std::uint64_t minute) {
  auto cur = txn.cursor(dbi_);
  if (!cur)
    return make_unexpected(cur.error());
  std::size_t n = 0;
  MDB_val k, v;
  auto rc = mdb_cursor_get(*cur, &k, &v, MDB_FIRST);
  while (rc == 0 && k.mv_size >= 8 && get_be64(k.mv_data) < minute) {
    if (auto d = mdb_cursor_del(*cur, 0); d != 0)
      return fail_mdb(d, "mdb_cursor_del(stats_minutes)");
    ++n;
    // After a delete the cursor stands on the next record; MDB_NEXT
    // returns it.
    rc = mdb_cursor_get(*cur, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(stats_minutes)");
  return n;
}

result<std::vector<minute_bucket>>
stats_store::range(std::uint64_t from, std::uint64_t to,
                   std::size_t max_count) const {
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(txn->handle(), dbi_, &cur.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open(stats_minutes)");
  std::vector<minute_bucket> out;
  char kb[8];
  put_be64(kb, from);
  MDB_val k{8, kb}, v;
  auto rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && out.size() < max_count) {
    if (k.mv_size < 9 || get_be64(k.mv_data) >= to)
      break;
    auto b = decode(k, v);
    if (!b)
      return make_unexpected(b.error());
    out.push_back(std::move(*b));
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(stats_minutes)");
  return out;
}

} // namespace switchboard::store
