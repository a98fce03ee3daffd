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
/// provider configured, delivering means writing it here; the CLI and the
/// API read it.
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

  /// Stores `msg` inside `txn`; returns its id.
  result<std::uint64_t> add_in(write_txn& txn, outbound_message msg);

  /// The message `id`. Errors: `errc::not_found`, `errc::corrupt`, LMDB
  /// errors.
  result<outbound_message> get(std::uint64_t id) const;

  /// Messages after `after_id` in id order, optionally of one channel.
  result<std::vector<outbound_message>>
  list(std::uint64_t after_id, std::size_t max_count,
       std::string_view channel = {}) const;

private:
  message_outbox(environment& env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}
  environment& env_;
  MDB_dbi dbi_;
  trace_index* traces_ = nullptr;
};

} // namespace switchboard::store
