#pragma once
// The message outbox's databases (messages by id, and outbox_ids from a
// provider's message id to ours), its record formats and how a message
// is decoded (outbox.cpp). The forget of a company decodes every message
// to find the company's, and deletes their outbox_ids entries too
// (company_forget_jobs.cpp). Not part of the store's interface: include
// store/outbox.hpp.

#include "store/codec.hpp"
#include "store/outbox.hpp"
#include "store/record.hpp"

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>

namespace switchboard::store::outbox_detail {

/// Database names.
inline constexpr const char* outbox_db = "outbox";
inline constexpr const char* ids_db = "outbox_ids";

inline constexpr std::uint8_t outbox_format_v1 = 1;
/// v1 followed by the correlation and causation ids.
inline constexpr std::uint8_t outbox_format_v2 = 2;
/// v2 followed by provider, provider id, status, status time and error.
inline constexpr std::uint8_t outbox_format_v3 = 3;

/// Calls `f` with the fields of `m` that `format` stores (a `std::tie`
/// each: those of v1, then those v2 and v3 add), in their stored order.
/// The id is the key, not a field.
template <class Message, class F>
void each_field_group(Message& m, std::uint8_t format, F&& f) {
  f(std::tie(m.channel, m.recipient, m.subject, m.body, m.company_id,
             m.event_id, m.idempotency_key, m.created_at));
  if (format >= outbox_format_v2)
    f(std::tie(m.correlation_id, m.causation_id));
  if (format >= outbox_format_v3)
    f(std::tie(m.provider, m.provider_id, m.status, m.status_at,
               m.status_error));
}

/// Decodes the message stored under `key` (its id, 8 bytes big-endian).
/// Errors: `errc::corrupt`.
inline result<outbound_message> decode(const MDB_val& key, const MDB_val& v) {
  return record_reader::decode<outbound_message>(
      v.mv_data, v.mv_size, outbox_format_v1, outbox_format_v3, "outbox record",
      [&](record_reader& r, outbound_message& m) -> result<void> {
        if (key.mv_size != 8)
          return fail(errc::corrupt, "outbox: bad key size");
        m.id = get_be64(key.mv_data);
        each_field_group(m, r.format_read(), [&](const auto& fields) {
          r.get(fields);
        });
        return {};
      });
}

/// The key of database outbox_ids: provider NUL provider id.
inline std::string id_key(std::string_view provider,
                          std::string_view provider_id) {
  std::string k{provider};
  k += '\0';
  k.append(provider_id);
  return k;
}

} // namespace switchboard::store::outbox_detail
