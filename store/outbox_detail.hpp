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

namespace switchboard::store::outbox_detail {

/// Database names.
inline constexpr const char* outbox_db = "outbox";
inline constexpr const char* ids_db = "outbox_ids";

inline constexpr std::uint8_t outbox_format_v1 = 1;
/// v1 followed by the correlation and causation ids.
inline constexpr std::uint8_t outbox_format_v2 = 2;
/// v2 followed by provider, provider id, status, status time and error.
inline constexpr std::uint8_t outbox_format_v3 = 3;

/// Decodes the message stored under `key` (its id, 8 bytes big-endian).
/// Errors: `errc::corrupt`.
inline result<outbound_message> decode(const MDB_val& key, const MDB_val& v) {
  record_reader r{v.mv_data, v.mv_size};
  auto format = r.format();
  if (format != outbox_format_v1 && format != outbox_format_v2
      && format != outbox_format_v3)
    return fail(errc::corrupt, "outbox record: unknown format");
  if (key.mv_size != 8)
    return fail(errc::corrupt, "outbox: bad key size");
  outbound_message m;
  m.id = get_be64(key.mv_data);
  m.channel = r.str();
  m.recipient = r.str();
  m.subject = r.str();
  m.body = r.str();
  m.company_id = r.str();
  m.event_id = r.str();
  m.idempotency_key = r.str();
  m.created_at = r.i64();
  if (format >= outbox_format_v2) {
    m.correlation_id = r.str();
    m.causation_id = r.str();
  }
  if (format >= outbox_format_v3) {
    m.provider = r.str();
    m.provider_id = r.str();
    m.status = r.str();
    m.status_at = r.i64();
    m.status_error = r.str();
  }
  if (!r.ok())
    return fail(errc::corrupt, "outbox record: truncated");
  return m;
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
