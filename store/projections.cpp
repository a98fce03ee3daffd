#include "store/projections.hpp"
#include "store/cursor_detail.hpp"
#include "store/lmdb_util.hpp"

#include "store/codec.hpp"
#include "store/record.hpp"

namespace switchboard::store {

namespace {

/// Calls `fn(key, val)` for up to `max_count` entries whose key starts with
/// `prefix`.
template <class Fn>
result<void> scan_prefix(MDB_txn* txn, MDB_dbi dbi, std::string_view prefix,
                         std::size_t max_count, Fn fn) {
  std::size_t n = 0;
  return cursor_detail::each_with_prefix(
      txn, dbi, prefix, "mdb_cursor_open(projections)",
      "mdb_cursor_get(projections)", [&](std::string_view k, const MDB_val& v) {
        if (n == max_count)
          return false;
        fn(k, v);
        return ++n < max_count;
      });
}

/// Up to `max_count` entries of `dbi` whose key starts with `prefix`, each
/// as its key and `value(val)`, read in a read transaction of its own.
template <class T, class Value>
result<std::vector<std::pair<std::string, T>>>
list_prefix(environment& env, MDB_dbi dbi, std::string_view prefix,
            std::size_t max_count, Value value) {
  auto rtxn = env.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  std::vector<std::pair<std::string, T>> out;
  auto ok = scan_prefix(rtxn->handle(), dbi, prefix, max_count,
                        [&](std::string_view k, const MDB_val& v) {
                          out.emplace_back(std::string{k}, value(v));
                        });
  if (!ok)
    return make_unexpected(ok.error());
  return out;
}

/// The counter under `key` in `counters` (0 when there is none).
result<std::int64_t> counter_at(MDB_txn* txn, MDB_dbi counters,
                                std::string_view key) {
  auto k = as_val(key);
  MDB_val v;
  auto rc = mdb_get(txn, counters, &k, &v);
  auto stored = u64_or_zero(rc, v, "mdb_get(proj_counters)",
                            "projection counter: bad value size");
  if (!stored)
    return make_unexpected(stored.error());
  return static_cast<std::int64_t>(*stored);
}

/// The value under `key` in `values`; `errc::not_found` when there is none.
result<std::string> value_at(MDB_txn* txn, MDB_dbi values,
                             std::string_view key) {
  auto k = as_val(key);
  MDB_val v;
  auto rc = mdb_get(txn, values, &k, &v);
  if (rc == MDB_NOTFOUND)
    return fail(errc::not_found, "no projection value " + std::string{key});
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(proj_values)");
  return std::string{as_view(v)};
}

} // namespace

result<std::unique_ptr<projections>> projections::open(environment& env) {
  MDB_dbi c{}, v{};
  if (auto ok
      = open_dbs(env, {{"proj_counters", 0, &c}, {"proj_values", 0, &v}});
      !ok)
    return make_unexpected(ok.error());
  return std::unique_ptr<projections>{new projections(env, c, v)};
}

result<void> projections::add_in(write_txn& txn, std::string_view key,
                                 std::int64_t delta) {
  auto current = counter_at(txn.handle(), counters_, key);
  if (!current)
    return make_unexpected(current.error());
  char b[8];
  put_be64(b, static_cast<std::uint64_t>(*current + delta));
  auto k = as_val(key);
  MDB_val nv{8, b};
  if (auto rc = mdb_put(txn.handle(), counters_, &k, &nv, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(proj_counters)");
  return {};
}

result<void> projections::put_in(write_txn& txn, std::string_view key,
                                 std::string_view value) {
  auto k = as_val(key);
  auto v = as_val(value);
  if (auto rc = mdb_put(txn.handle(), values_, &k, &v, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(proj_values)");
  return {};
}

result<bool> projections::erase_in(write_txn& txn, std::string_view key) {
  auto k = as_val(key);
  auto rc = mdb_del(txn.handle(), values_, &k, nullptr);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != 0)
    return fail_mdb(rc, "mdb_del(proj_values)");
  return true;
}

result<std::string> projections::get_in(write_txn& txn,
                                        std::string_view key) const {
  return value_at(txn.handle(), values_, key);
}

result<std::int64_t> projections::counter(std::string_view key) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  return counter_at(rtxn->handle(), counters_, key);
}

result<std::string> projections::get(std::string_view key) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  return value_at(rtxn->handle(), values_, key);
}

result<std::vector<std::pair<std::string, std::int64_t>>>
projections::counters(std::string_view prefix, std::size_t max_count) const {
  return list_prefix<std::int64_t>(
      env_, counters_, prefix, max_count, [](const MDB_val& v) {
        auto n = v.mv_size == 8 ? get_be64(v.mv_data) : 0;
        return static_cast<std::int64_t>(n);
      });
}

result<std::vector<std::pair<std::string, std::string>>>
projections::values(std::string_view prefix, std::size_t max_count) const {
  return list_prefix<std::string>(env_, values_, prefix, max_count,
                                  [](const MDB_val& v) {
                                    return std::string{as_view(v)};
                                  });
}

result<std::uint64_t> projections::clear_in(write_txn& txn,
                                            std::string_view prefix) {
  std::uint64_t removed = 0;
  for (auto dbi : {counters_, values_}) {
    std::vector<std::string> keys;
    auto ok = scan_prefix(txn.handle(), dbi, prefix, SIZE_MAX,
                          [&](std::string_view k, const MDB_val&) {
                            keys.emplace_back(k);
                          });
    if (!ok)
      return make_unexpected(ok.error());
    for (const auto& key : keys) {
      auto k = as_val(key);
      if (auto rc = mdb_del(txn.handle(), dbi, &k, nullptr); rc != 0)
        return fail_mdb(rc, "mdb_del(projections)");
      ++removed;
    }
  }
  return removed;
}

} // namespace switchboard::store
