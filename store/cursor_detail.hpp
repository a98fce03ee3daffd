#pragma once
// Cursor moves that the sources of several parts of the store make alike
// (cluster_state.cpp, company_forget.cpp). Not part of the store's
// interface.

#include "store/lmdb_util.hpp"

#include <string_view>

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

} // namespace switchboard::store::cursor_detail
