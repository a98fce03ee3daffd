#pragma once

// Small helpers shared by the store's modules at the LMDB boundary. Not
// part of the store's public face.

#include <cstddef>
#include <initializer_list>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <lmdb.h>

#include "store/codec.hpp"
#include "store/error.hpp"

namespace switchboard::store {

class environment;

/// A database for `open_dbs`: its name, its flags, where its handle goes.
struct db_spec {
  std::string_view name;
  unsigned flags;
  MDB_dbi* out;
};

/// Opens each database of `specs` with `environment::open_db`; the first
/// error ends it.
result<void> open_dbs(environment& env, std::initializer_list<db_spec> specs);

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

  cursor_guard() = default;
  cursor_guard(cursor_guard&& other) noexcept
      : c(std::exchange(other.c, nullptr)) {}
  cursor_guard& operator=(cursor_guard&&) = delete;
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

/// `res`, the read of a record that an index names: a missing one
/// (`errc::not_found`) is `errc::corrupt`.
template <class T>
result<T> indexed(result<T> res) {
  if (res || res.error().code != errc::not_found)
    return res;
  auto err = res.error();
  err.code = errc::corrupt;
  return make_unexpected(std::move(err));
}

/// The number that an LMDB read returning `rc` found in `v` (8 bytes,
/// big-endian): 0 when it found nothing. `what` names a failed read;
/// `bad_size` is the error when `v` is not 8 bytes long.
inline result<std::uint64_t>
u64_or_zero(int rc, const MDB_val& v, const char* what, const char* bad_size) {
  if (rc == MDB_NOTFOUND)
    return std::uint64_t{0};
  if (rc != 0)
    return fail_mdb(rc, what);
  if (v.mv_size != 8)
    return fail(errc::corrupt, bad_size);
  return get_be64(v.mv_data);
}

/// The number (8 bytes, big-endian) stored under `key` in `dbi`: nothing
/// when there is none. `what` names a failed read; `bad_size` is the error
/// when the value is not 8 bytes long.
inline result<std::optional<std::uint64_t>> find_u64(MDB_txn* txn, MDB_dbi dbi,
                                                     MDB_val key,
                                                     const char* what,
                                                     const char* bad_size) {
  MDB_val val;
  auto rc = mdb_get(txn, dbi, &key, &val);
  if (rc == MDB_NOTFOUND)
    return std::optional<std::uint64_t>{};
  auto n = u64_or_zero(rc, val, what, bad_size);
  if (!n)
    return make_unexpected(std::move(n.error()));
  return std::optional<std::uint64_t>{*n};
}

/// Reads a consumer's checkpoint (database `checkpoints`, key `name`)
/// inside a transaction: 0 when there is none; `found` tells which.
inline result<std::uint64_t> read_checkpoint(MDB_txn* txn, MDB_dbi checkpoints,
                                             std::string_view name,
                                             bool* found = nullptr) {
  auto key = as_val(name);
  MDB_val val;
  auto rc = mdb_get(txn, checkpoints, &key, &val);
  if (found != nullptr)
    *found = rc == 0;
  return u64_or_zero(rc, val, "mdb_get(checkpoints)",
                     "checkpoint: bad value size");
}

/// Reads a consumer's checkpoint as the form above does, in a read
/// transaction of its own.
result<std::uint64_t> read_checkpoint(environment& env, MDB_dbi checkpoints,
                                      std::string_view name,
                                      bool* found = nullptr);

/// Writes a consumer's checkpoint inside a write transaction.
inline result<void> write_checkpoint(MDB_txn* txn, MDB_dbi checkpoints,
                                     std::string_view name, std::uint64_t seq) {
  auto key = as_val(name);
  char b[8];
  put_be64(b, seq);
  MDB_val val{8, b};
  if (auto rc = mdb_put(txn, checkpoints, &key, &val, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(checkpoints)");
  return {};
}

} // namespace switchboard::store
