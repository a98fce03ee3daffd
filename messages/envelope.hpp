#pragma once

#include <cstdint>
#include <string>

namespace switchboard {

/// Milliseconds since the Unix epoch, UTC. Written as RFC 3339 in JSON.
using timestamp_ms = std::int64_t;

/// Who and what caused an event: the seed's audit fields and the causal
/// chain (correlation and causation ids). Empty strings mean "not known".
struct event_metadata {
  std::string user_id;
  std::string ip_address;
  std::string user_agent;
  std::string source;
  std::string correlation_id;
  std::string causation_id;
};

/// The stored form of every domain event. `data` is the JSON text of the
/// typed event (see messages/events.hpp and the registry); the store treats
/// it as opaque bytes.
struct envelope {
  std::string id;             ///< Unique; client-suppliable for idempotency.
  std::string type;           ///< Wire name, e.g. "appointment.created".
  std::string aggregate_type; ///< e.g. "appointment".
  std::string aggregate_id;
  std::uint64_t version = 0; ///< 1-based position in its stream.
  std::string company_id;
  timestamp_ms occurred_at = 0;
  std::uint64_t sequence = 0; ///< Global log position, set by the store.
  event_metadata metadata;
  std::string data; ///< JSON text of the event payload.
};

inline bool operator==(const event_metadata& a, const event_metadata& b) {
  return a.user_id == b.user_id && a.ip_address == b.ip_address
         && a.user_agent == b.user_agent && a.source == b.source
         && a.correlation_id == b.correlation_id
         && a.causation_id == b.causation_id;
}

inline bool operator==(const envelope& a, const envelope& b) {
  return a.id == b.id && a.type == b.type
         && a.aggregate_type == b.aggregate_type
         && a.aggregate_id == b.aggregate_id && a.version == b.version
         && a.company_id == b.company_id && a.occurred_at == b.occurred_at
         && a.sequence == b.sequence && a.metadata == b.metadata
         && a.data == b.data;
}

} // namespace switchboard
