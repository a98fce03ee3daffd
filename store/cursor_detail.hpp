#pragma once
// Cursor moves that the sources of several parts of the store make alike
// (the event store's, the job queue's, cluster_state.cpp,
// company_forget.cpp, projections.cpp, tenants.cpp). Not part of the
// store's interface.

#include "store/environment.hpp"
#include "store/lmdb_util.hpp"

#include <string_view>
#include <type_traits>
#include <utility>

namespace switchboard::store::cursor_detail {

/// A read transaction and a cursor open in it (closed first).
struct read_cursor {
  read_txn txn;
  cursor_guard guard;

  MDB_cursor* cursor() const noexcept {
    return guard.c;
  }
};

/// Begins a read transaction in `env` and opens a cursor on `dbi` in it.
/// Errors: those of `environment::begin_read`, LMDB errors
/// ("mdb_cursor_open").
inline result<read_cursor> open_read_cursor(environment& env, MDB_dbi dbi) {
  auto txn = env.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  read_cursor out{std::move(*txn), {}};
  if (auto rc = mdb_cursor_open(out.txn.handle(), dbi, &out.guard.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  return out;
}

/// Positions `c` on the last entry whose key sorts before `bound`, with
/// `key` and `val` set to it; returns the LMDB code (MDB_NOTFOUND: no
/// entry sorts before `bound`).
inline int last_before(MDB_cursor* c, std::string_view bound, MDB_val& key,
                       MDB_val& val) {
  key = as_val(bound);
  auto rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  return rc == 0 ? mdb_cursor_get(c, &key, &val, MDB_PREV)
                 : mdb_cursor_get(c, &key, &val, MDB_LAST);
}

/// Calls `fn(key, val)` for each entry of `dbi` whose key starts with
/// `prefix`, in key order from the first key at or past `from` (from the
/// first entry when `from` is empty). `fn` returns nothing, a bool, a
/// result<void> or a result<bool>: false ends the walk, an error ends it
/// with that error. `open_what` and `get_what` name a failed cursor open
/// and cursor step.
template <class F>
result<void> each_with_prefix_from(MDB_txn* txn, MDB_dbi dbi,
                                   std::string_view prefix,
                                   std::string_view from, const char* open_what,
                                   const char* get_what, F&& fn) {
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, dbi, &c.c); rc != 0)
    return fail_mdb(rc, open_what);
  auto key = as_val(from);
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val,
                           from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
    auto k = as_view(key);
    if (k.substr(0, prefix.size()) != prefix)
      break;
    using R = decltype(fn(k, val));
    if constexpr (std::is_void_v<R>) {
      fn(k, val);
    } else if constexpr (std::is_same_v<R, bool>) {
      if (!fn(k, val))
        return {};
    } else if constexpr (std::is_same_v<R, result<void>>) {
      if (auto ok = fn(k, val); !ok)
        return ok;
    } else {
      R go_on = fn(k, val);
      if (!go_on)
        return make_unexpected(go_on.error());
      if (!*go_on)
        return {};
    }
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, get_what);
  return {};
}

/// `each_with_prefix_from` over every entry of `dbi`.
template <class F>
result<void> each_entry(MDB_txn* txn, MDB_dbi dbi, const char* open_what,
                        const char* get_what, F&& fn) {
  return each_with_prefix_from(txn, dbi, {}, {}, open_what, get_what,
                               std::forward<F>(fn));
}

/// `each_with_prefix_from` from the first key with `prefix`.
template <class F>
result<void> each_with_prefix(MDB_txn* txn, MDB_dbi dbi,
                              std::string_view prefix, const char* open_what,
                              const char* get_what, F&& fn) {
  return each_with_prefix_from(txn, dbi, prefix, prefix, open_what, get_what,
                               std::forward<F>(fn));
}

} // namespace switchboard::store::cursor_detail
