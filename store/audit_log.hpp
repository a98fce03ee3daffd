#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/event_store.hpp"
#include "store/writer.hpp"

namespace switchboard::store {

/// One entry of the audit log (the seed's AuditLog row).
struct audit_record {
  std::uint64_t sequence = 0; ///< The event's global sequence.
  std::string event_id;
  std::string event_type;
  std::string model_type; ///< The aggregate type.
  std::string model_id;   ///< The aggregate id.
  std::string user_id;
  std::string company_id;
  std::string data; ///< The event's JSON payload.
  std::string ip_address;
  std::string user_agent;
  timestamp_ms occurred_at = 0;
};

/// The audit log: records of audited events keyed by sequence, readable by
/// company and by model, with a checkpoint kept in the same transaction as
/// the records. The reads by company and by model walk the event store's
/// own indexes (by_company, streams), so a record costs one appended entry
/// and no index pages of its own.
/// The checkpoint is the contiguous prefix of the event log that is fully
/// audited, so that records written out of order (concurrent dispatches)
/// never let catch-up skip an event.
class audit_log {
public:
  /// Decides whether an event type is audited (the registry's flag).
  using audited_fn = std::function<bool(std::string_view type)>;

  /// Opens the audit databases in `env`, beside `events` (which must
  /// outlive the log). Errors: LMDB errors.
  static result<std::unique_ptr<audit_log>>
  open(environment& env, const event_store& events, audited_fn audited);

  /// Records `ev` (already committed, its sequence set) inside `txn` when
  /// its type is audited; records are keyed by sequence, so recording
  /// twice is harmless. Advances the checkpoint. Errors: LMDB errors.
  result<void> record_in(write_txn& txn, const envelope& ev);

  /// Records every audited event of the log past the checkpoint, in
  /// transactions of `batch` events through `w`. Returns how many records
  /// were written. Call at start, before events are dispatched. Errors:
  /// LMDB errors, `errc::corrupt`.
  result<std::uint64_t> catch_up(writer& w, std::size_t batch = 1000);

  /// Records of one company, in sequence order, after `after_seq`.
  result<std::vector<audit_record>> by_company(std::string_view company_id,
                                               std::uint64_t after_seq,
                                               std::size_t max_count) const;

  /// Records of one model (aggregate) of `company_id`, in sequence order.
  result<std::vector<audit_record>> by_model(std::string_view company_id,
                                             std::string_view model_type,
                                             std::string_view model_id,
                                             std::uint64_t after_seq,
                                             std::size_t max_count) const;

  /// Every event up to this sequence is audited (or not auditable).
  result<std::uint64_t> checkpoint() const;

  /// True when `ev` (committed, its sequence set) needs no `record_in`: its
  /// record is stored (audited types) or the checkpoint has passed it. One
  /// read transaction. Errors: LMDB errors.
  result<bool> recorded(const envelope& ev) const;

private:
  audit_log(environment& env, const event_store& store, audited_fn audited,
            MDB_dbi records, MDB_dbi checkpoints, MDB_dbi events);
  result<void> advance_in(MDB_txn* txn);
  /// True when event `seq` has its record.
  result<bool> has_record(MDB_txn* txn, std::uint64_t seq) const;
  /// Collects the records of the sequences `visit` walks.
  template <class Visit>
  result<std::vector<audit_record>> collect(std::size_t max_count,
                                            Visit visit) const;

  environment& env_;
  const event_store& store_;
  audited_fn audited_;
  MDB_dbi records_, checkpoints_, events_;
};

} // namespace switchboard::store
