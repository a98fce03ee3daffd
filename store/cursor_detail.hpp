#pragma once
// Cursor moves that the sources of several parts of the store make alike
// (cluster_state.cpp, company_forget.cpp, job_queue_detail.cpp,
// projections.cpp, tenants.cpp). Not part of the store's interface.

#include "store/lmdb_util.hpp"

#include <string_view>
#include <type_traits>

namespace switchboard::store::cursor_detail {

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
/// `prefix`, in key order (every entry when `prefix` is empty), as long as
/// it returns true (when it returns a bool). `open_what` and `get_what`
/// name a failed cursor open and cursor step.
template <class F>
result<void> each_with_prefix(MDB_txn* txn, MDB_dbi dbi,
                              std::string_view prefix, const char* open_what,
                              const char* get_what, F&& fn) {
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, dbi, &c.c); rc != 0)
    return fail_mdb(rc, open_what);
  auto key = as_val(prefix);
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val,
                           prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
    auto k = as_view(key);
    if (k.substr(0, prefix.size()) != prefix)
      break;
    if constexpr (std::is_void_v<decltype(fn(k, val))>)
      fn(k, val);
    else if (!fn(k, val))
      return {};
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, get_what);
  return {};
}

} // namespace switchboard::store::cursor_detail
