#pragma once

// Small helpers shared by the store's modules at the LMDB boundary. Not
// part of the store's public face.

#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include <lmdb.h>

#include "store/error.hpp"

namespace switchboard::store {

/// An LMDB value viewing `size` bytes at `data`.
inline MDB_val as_val(const void* data, std::size_t size) {
  return MDB_val{size, const_cast<void*>(data)};
}

/// An LMDB value viewing `s`.
inline MDB_val as_val(std::string_view s) {
  return as_val(s.data(), s.size());
}

/// The bytes of an LMDB value.
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// Closes a cursor at scope exit (cursors of read transactions are not
/// closed by LMDB).
struct cursor_guard {
  MDB_cursor* c = nullptr;
  ~cursor_guard() {
    if (c != nullptr)
      mdb_cursor_close(c);
  }
};

/// Runs `f`, turning an exception that escapes it into a store error, so
/// that none leaves store/.
template <class F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return store::fail(errc::out_of_memory, what);
  } catch (const std::exception& e) {
    return store::fail(errc::internal, std::string{what} + ": " + e.what());
  }
}

} // namespace switchboard::store
