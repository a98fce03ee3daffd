#include "store/stats.hpp"

#include <cstring>
#include <optional>
#include <string_view>

#include "store/codec.hpp"
#include "store/lmdb_util.hpp"
#include "store/record.hpp"
#include "store/stats_detail.hpp"

namespace switchboard::store {

using namespace stats_detail;

namespace {

constexpr std::uint8_t stats_format_v1 = 1;

std::string key_of(const minute_bucket& b) {
  std::string k = b.company.empty() ? std::string{} : company_prefix(b.company);
  auto at = k.size();
  k.resize(at + 9);
  put_be64(k.data() + at, b.minute);
  k[at + 8] = static_cast<char>(b.kind);
  k.append(b.name, 0, std::min(b.name.size(), max_series_name));
  return k;
}

/// Where the minute starts in key `k` (after a company's prefix), or
/// nothing for a malformed key.
std::optional<std::size_t> minute_at(std::string_view k) {
  if (k.empty() || k.front() != company_mark)
    return std::size_t{0};
  auto zero = k.find('\0');
  if (zero == std::string_view::npos)
    return std::nullopt;
  return zero + 1;
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
  std::string_view key{static_cast<const char*>(k.mv_data), k.mv_size};
  auto at = minute_at(key);
  if (!at || key.size() < *at + 9)
    return fail(errc::corrupt, "stats key: too short");
  minute_bucket b;
  if (*at > 0)
    b.company.assign(key.substr(1, *at - 2));
  const auto* kp = key.data() + *at;
  b.minute = get_be64(kp);
  b.kind = static_cast<stats_kind>(kp[8]);
  b.name.assign(kp + 9, key.size() - *at - 9);
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
  auto d = env.open_db(stats_db);
  if (!d)
    return make_unexpected(d.error());
  return std::unique_ptr<stats_store>{new stats_store(env, *d)};
}

result<void> stats_store::add_in(write_txn& txn,
                                 const std::vector<minute_bucket>& buckets) {
  for (const auto& b : buckets) {
    auto k = key_of(b);
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
  // The companies' series: each company's old minutes come first among
  // its keys; past them, the walk jumps to the next company.
  std::string seek(1, company_mark);
  k = MDB_val{seek.size(), seek.data()};
  rc = mdb_cursor_get(*cur, &k, &v, MDB_SET_RANGE);
  while (rc == 0) {
    std::string_view key{static_cast<const char*>(k.mv_data), k.mv_size};
    auto at = minute_at(key);
    if (!at || *at == 0 || key.size() < *at + 8)
      break;
    if (get_be64(key.data() + *at) < minute) {
      if (auto d = mdb_cursor_del(*cur, 0); d != 0)
        return fail_mdb(d, "mdb_cursor_del(stats_minutes)");
      ++n;
      rc = mdb_cursor_get(*cur, &k, &v, MDB_NEXT);
      continue;
    }
    // The next company: its prefix with the 0 byte raised to 1.
    seek.assign(key.substr(0, *at));
    seek.back() = '\1';
    k = MDB_val{seek.size(), seek.data()};
    rc = mdb_cursor_get(*cur, &k, &v, MDB_SET_RANGE);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(stats_minutes)");
  return n;
}

result<std::vector<minute_bucket>>
stats_store::range(std::uint64_t from, std::uint64_t to, std::size_t max_count,
                   std::string_view company) const {
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  cursor_guard cur;
  if (auto rc = mdb_cursor_open(txn->handle(), dbi_, &cur.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open(stats_minutes)");
  std::vector<minute_bucket> out;
  auto prefix = company.empty() ? std::string{} : company_prefix(company);
  std::string kb = prefix;
  kb.resize(prefix.size() + 8);
  put_be64(kb.data() + prefix.size(), from);
  MDB_val k{kb.size(), kb.data()}, v;
  auto rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && out.size() < max_count) {
    std::string_view key{static_cast<const char*>(k.mv_data), k.mv_size};
    if (key.size() < prefix.size() + 9 || key.substr(0, prefix.size()) != prefix
        || get_be64(key.data() + prefix.size()) >= to)
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
