#pragma once

#include "store/environment.hpp"
#include "store/error.hpp"

#include <lmdb.h>

#include <string_view>

namespace switchboard::store {

/// The processed set: which listener has handled which event, so that a
/// listener sees each event once even when its job runs twice (a lease
/// that expired, a crash between the effect and the ack). A listener
/// writes its own effects and `mark_in` in the same write transaction, and
/// skips an event that `contains` says it has handled.
///
/// One named database, `processed`: key = listener length (1 byte),
/// listener, event id → (empty). Listener and event id have 1 to 255
/// bytes each. Copyable handle; thread-safe.
class processed_set {
public:
  /// Opens (creating it if missing) the `processed` database in `env`,
  /// which must outlive the set. Errors: those of `environment::open_db`.
  static result<processed_set> open(environment& env);

  /// True when `listener` has marked `event_id`, as seen by `txn`.
  /// Errors: `errc::invalid_argument` (empty or longer than 255 bytes),
  /// LMDB errors.
  result<bool> contains(const read_txn& txn, std::string_view listener,
                        std::string_view event_id) const;

  /// Like the above, in a read transaction of its own.
  result<bool> contains(std::string_view listener,
                        std::string_view event_id) const;

  /// Like `contains`, inside the write transaction `txn` (seeing its
  /// uncommitted marks).
  result<bool> contains_in(write_txn& txn, std::string_view listener,
                           std::string_view event_id) const;

  /// Marks `event_id` as handled by `listener`, inside `txn`.
  /// @returns true when newly marked, false when it was marked already
  /// (the caller should then drop the effects it wrote in `txn`, or not
  /// write them).
  /// Errors: `errc::invalid_argument` (nothing written), LMDB errors
  /// (`poisons_txn`: return them from the op).
  result<bool> mark_in(write_txn& txn, std::string_view listener,
                       std::string_view event_id);

private:
  processed_set(environment& env, MDB_dbi dbi) : env_(&env), dbi_(dbi) {
    // nop
  }

  environment* env_;
  MDB_dbi dbi_;
};

} // namespace switchboard::store
