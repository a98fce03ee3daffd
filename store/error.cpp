#include "store/error.hpp"

#include <lmdb.h>

#include <cerrno>

namespace switchboard::store {

const char* to_string(errc code) noexcept {
  switch (code) {
  case errc::none:
    return "none";
  case errc::version_conflict:
    return "version_conflict";
  case errc::not_found:
    return "not_found";
  case errc::map_full:
    return "map_full";
  case errc::io_error:
    return "io_error";
  case errc::corrupt:
    return "corrupt";
  case errc::invalid_argument:
    return "invalid_argument";
  case errc::closed:
    return "closed";
  case errc::duplicate_event:
    return "duplicate_event";
  case errc::txn_full:
    return "txn_full";
  case errc::readers_full:
    return "readers_full";
  case errc::out_of_memory:
    return "out_of_memory";
  case errc::internal:
    return "internal";
  case errc::taken:
    return "taken";
  case errc::no_space:
    return "no_space";
  }
  return "unknown";
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
  errc code;
  switch (rc) {
  case MDB_NOTFOUND:
    code = errc::not_found;
    break;
  case MDB_MAP_FULL:
    code = errc::map_full;
    break;
  case MDB_TXN_FULL:
  case MDB_CURSOR_FULL:
  case MDB_PAGE_FULL:
    code = errc::txn_full;
    break;
  case MDB_READERS_FULL:
    code = errc::readers_full;
    break;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
  case MDB_INCOMPATIBLE:
    code = errc::corrupt;
    break;
  case MDB_BAD_VALSIZE:
  case MDB_KEYEXIST:
  case EINVAL:
    code = errc::invalid_argument;
    break;
  case ENOMEM:
    code = errc::out_of_memory;
    break;
  case ENOSPC:
  case EDQUOT:
    code = errc::no_space;
    break;
  default:
    code = errc::io_error;
    break;
  }
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
