#pragma once

#include "messages/expected.hpp"

#include <cstdint>
#include <string>

namespace switchboard::store {

/// Error codes of the store. Every function in store/ reports failure as a
/// value of `error` carrying one of these; none throws.
enum class errc {
  none = 0,
  /// The stream's version is not the one the caller expected.
  /// `error::actual_version` holds the stream's current version.
  version_conflict,
  /// The requested record does not exist.
  not_found,
  /// The LMDB map is full and could not grow (see `options::max_map_size`).
  map_full,
  /// LMDB or the file system reported an I/O failure.
  io_error,
  /// A stored record or index is inconsistent or cannot be decoded.
  corrupt,
  /// The caller passed input the store refuses (empty ids, mixed streams,
  /// oversized fields, ...). `error::message` names the field.
  invalid_argument,
  /// The store or its writer is shut down.
  closed,
  /// Some, but not all, events of an append are already stored, or a
  /// stored event id belongs to another stream.
  duplicate_event,
  /// Too many dirty pages in one write transaction (MDB_TXN_FULL).
  txn_full,
  /// Too many concurrent readers (MDB_READERS_FULL).
  readers_full,
  /// Memory allocation failed.
  out_of_memory,
  /// An exception escaped a callback or an unexpected condition occurred.
  internal,
  /// The stream (or event id) belongs to another company: to the caller
  /// its id is taken. The message names no company.
  taken,
  /// The file system has no room for the data file to grow (ENOSPC,
  /// EDQUOT). Nothing of the failed transaction is stored; writes succeed
  /// again once space is freed.
  no_space,
};

/// Returns the name of `code`, e.g. "version_conflict".
const char* to_string(errc code) noexcept;

/// A store failure: its code, a human readable message (for LMDB failures
/// it contains `mdb_strerror` text) and, for `errc::version_conflict`, the
/// stream's actual version.
struct error {
  errc code = errc::none;
  std::string message;
  std::uint64_t actual_version = 0;
};

/// Returns `"<code>: <message>"`.
std::string to_string(const error& e);

/// A `T` or a store `error`.
template <class T>
using result = expected<T, error>;

/// Builds an unexpected store error, ready to return from a function that
/// returns `result<T>`.
inline unexpected<error> fail(errc code, std::string message,
                              std::uint64_t actual_version = 0) {
  return unexpected<error>{error{code, std::move(message), actual_version}};
}

/// Converts an LMDB return code into a store error. `what` names the
/// operation, e.g. "mdb_put(events)"; the message is
/// `"<what>: <mdb_strerror(rc)>"`.
error from_mdb(int rc, const char* what);

/// Shorthand for `make_unexpected(from_mdb(rc, what))`.
inline unexpected<error> fail_mdb(int rc, const char* what) {
  return unexpected<error>{from_mdb(rc, what)};
}

/// True for errors after which the enclosing LMDB write transaction can no
/// longer be used (map full, I/O, corrupt, ...). An operation that fails
/// with such an error fails the whole batch it was part of, which the
/// writer then retries.
bool poisons_txn(errc code) noexcept;

} // namespace switchboard::store
