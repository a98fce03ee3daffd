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
/// One named database, `processed_marks`: key = event id length (1 byte),
/// event id, company length (1 byte), company, listener → (empty). The
/// company is part of the mark: equal event ids of two companies are two
/// events, so one company's marks never make another's listeners skip an
/// event. Event id and listener have 1 to 255 bytes each, the company at
/// most 255, the three at most 509 together (an LMDB key). A store of the first
/// layout (`processed`: listener, event id) is moved over at open (`open`).
/// Copyable handle; thread-safe.
class processed_set {
public:
  /// Opens (creating it if missing) the `processed_marks` database in
  /// `env`, which must outlive the set. Marks of the first layout are
  /// moved over in one write transaction and their database dropped: each
  /// becomes a mark of every company that has an event of that id (what
  /// it meant before). Errors: those of `environment::open_db`, LMDB
  /// errors, `errc::corrupt` (a first-layout key that is not one).
  static result<processed_set> open(environment& env);

  /// True when `listener` has marked `company`'s event `event_id`, as seen
  /// by `txn`. Errors: `errc::invalid_argument` (a name empty or longer
  /// than 255 bytes), LMDB errors.
  result<bool> contains(const read_txn& txn, std::string_view company,
                        std::string_view listener,
                        std::string_view event_id) const;

  /// Like the above, in a read transaction of its own.
  result<bool> contains(std::string_view company, std::string_view listener,
                        std::string_view event_id) const;

  /// Like `contains`, inside the write transaction `txn` (seeing its
  /// uncommitted marks).
  result<bool> contains_in(write_txn& txn, std::string_view company,
                           std::string_view listener,
                           std::string_view event_id) const;

  /// Marks `company`'s event `event_id` as handled by `listener`, inside
  /// `txn`.
  /// @returns true when newly marked, false when it was marked already
  /// (the caller should then drop the effects it wrote in `txn`, or not
  /// write them).
  /// Errors: `errc::invalid_argument` (nothing written), LMDB errors
  /// (`poisons_txn`: return them from the op).
  result<bool> mark_in(write_txn& txn, std::string_view company,
                       std::string_view listener, std::string_view event_id);

private:
  processed_set(environment& env, MDB_dbi dbi) : env_(&env), dbi_(dbi) {
    // nop
  }

  environment* env_;
  MDB_dbi dbi_;
};

} // namespace switchboard::store
