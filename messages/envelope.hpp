#pragma once

#include <messages/fields.hpp>

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

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(event_metadata, SB_FIELD(user_id, opt), SB_FIELD(ip_address, opt),
          SB_FIELD(user_agent, opt), SB_FIELD(source, opt),
          SB_FIELD(correlation_id, opt), SB_FIELD(causation_id, opt))

SB_FIELDS(envelope, SB_FIELD(id), SB_FIELD(type), SB_FIELD(aggregate_type),
          SB_FIELD(aggregate_id), SB_FIELD(version), SB_FIELD(company_id, opt),
          SB_TIME(occurred_at), SB_FIELD(sequence, opt),
          SB_FIELD(metadata, opt), field("data", json_text_ref{x.data}))

} // namespace switchboard
