#include "store/error.hpp"

#include "messages/enum_table.hpp"

#include <lmdb.h>

#include <cerrno>

namespace switchboard::store {

namespace {

constexpr auto errc_names = name_table<errc>(
    {"none", "version_conflict", "not_found", "map_full", "io_error", "corrupt",
     "invalid_argument", "closed", "duplicate_event", "txn_full",
     "readers_full", "out_of_memory", "internal", "taken", "no_space"},
    "unknown");
static_assert(errc_names.covers(errc::no_space));

/// The store code of each LMDB or errno code; any other is an I/O error.
constexpr code_mapping<int, errc> mdb_codes[] = {
    {MDB_NOTFOUND, errc::not_found},
    {MDB_MAP_FULL, errc::map_full},
    {MDB_TXN_FULL, errc::txn_full},
    {MDB_CURSOR_FULL, errc::txn_full},
    {MDB_PAGE_FULL, errc::txn_full},
    {MDB_READERS_FULL, errc::readers_full},
    {MDB_CORRUPTED, errc::corrupt},
    {MDB_PAGE_NOTFOUND, errc::corrupt},
    {MDB_INVALID, errc::corrupt},
    {MDB_VERSION_MISMATCH, errc::corrupt},
    {MDB_INCOMPATIBLE, errc::corrupt},
    {MDB_BAD_VALSIZE, errc::invalid_argument},
    {MDB_KEYEXIST, errc::invalid_argument},
    {EINVAL, errc::invalid_argument},
    {ENOMEM, errc::out_of_memory},
    {ENOSPC, errc::no_space},
    {EDQUOT, errc::no_space},
};

} // namespace

const char* to_string(errc code) noexcept {
  return errc_names(code);
}

std::string to_string(const error& e) {
  std::string out = to_string(e.code);
  if (!e.message.empty()) {
    out += ": ";
    out += e.message;
  }
  return out;
}

error from_mdb(int rc, const char* what) {
  auto code = map_code(rc, mdb_codes, errc::io_error);
  std::string msg = what;
  msg += ": ";
  msg += mdb_strerror(rc);
  return error{code, std::move(msg), 0};
}

bool poisons_txn(errc code) noexcept {
  switch (code) {
  case errc::map_full:
  case errc::no_space:
  case errc::io_error:
  case errc::corrupt:
  case errc::txn_full:
  case errc::out_of_memory:
  case errc::internal:
    return true;
  default:
    return false;
  }
}

} // namespace switchboard::store
