#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"

namespace switchboard::store {

class trace_index;

/// A message a channel worker delivered (SMS, email, WhatsApp). With no
/// provider configured, delivering means writing it here; a message sent
/// through a provider that answers with its own message id (Twilio) is
/// written here too, with that id and the delivery status the provider
/// reports. The CLI and the API read it.
struct outbound_message {
  std::uint64_t id = 0; ///< Assigned by add_in, increasing.
  std::string channel;  ///< "sms", "email" or "whatsapp".
  std::string recipient;
  std::string subject;
  std::string body;
  std::string company_id;
  std::string event_id;        ///< The event that caused it.
  std::string idempotency_key; ///< Sent to providers; unique per message.
  timestamp_ms created_at = 0;
  /// The correlation id of the event (empty: none, or written before).
  std::string correlation_id;
  /// What caused it: "job:<id>", the queued job that sent it.
  std::string causation_id;
  /// The provider that took it ("twilio"); empty: written here only.
  std::string provider;
  /// The provider's id of the message (Twilio's SID), unique per
  /// provider; empty: none.
  std::string provider_id;
  /// The delivery status the provider last reported (Twilio's
  /// MessageStatus); empty: none.
  std::string status;
  timestamp_ms status_at = 0; ///< When `status` was recorded.
  /// The provider's error code of a failed delivery (Twilio's ErrorCode).
  std::string status_error;
};

/// The message outbox in LMDB.
class message_outbox {
public:
  /// Opens the outbox database in `env`. Errors: LMDB errors.
  static result<std::unique_ptr<message_outbox>> open(environment& env);

  /// Records every message with a correlation id in `traces` too, in the
  /// transaction that stores it; null: none. It must outlive the outbox.
  void trace_into(trace_index* traces) noexcept {
    traces_ = traces;
  }

  /// Stores `msg` inside `txn`; returns its id. A message with a
  /// provider id is also found by it (`find_in`). Errors: LMDB errors.
  result<std::uint64_t> add_in(write_txn& txn, outbound_message msg);

  /// The message `provider` knows as `provider_id`, read inside `txn`.
  /// Errors: `errc::not_found` when there is none, `errc::corrupt`, LMDB
  /// errors.
  result<outbound_message> find_in(write_txn& txn, std::string_view provider,
                                   std::string_view provider_id) const;

  /// Replaces the stored message `msg.id` by `msg` (its status fields)
  /// inside `txn`; the provider id stays as it was. Errors:
  /// `errc::not_found`, LMDB errors.
  result<void> update_in(write_txn& txn, const outbound_message& msg);

  /// The message `id`. Errors: `errc::not_found`, `errc::corrupt`, LMDB
  /// errors.
  result<outbound_message> get(std::uint64_t id) const;

  /// Messages after `after_id` in id order, optionally of one channel.
  result<std::vector<outbound_message>>
  list(std::uint64_t after_id, std::size_t max_count,
       std::string_view channel = {}) const;

private:
  message_outbox(environment& env, MDB_dbi dbi, MDB_dbi ids)
      : env_(env), dbi_(dbi), ids_(ids) {}
  environment& env_;
  MDB_dbi dbi_;
  /// provider NUL provider_id → the message id (8 bytes, big endian).
  MDB_dbi ids_;
  trace_index* traces_ = nullptr;
};

} // namespace switchboard::store
