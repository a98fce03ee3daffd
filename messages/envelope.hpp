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

template <class V>
auto fields(V& v, event_metadata& x) {
  using namespace field_options;
  return v.list("event_metadata", field("user_id", x.user_id, opt),
                field("ip_address", x.ip_address, opt),
                field("user_agent", x.user_agent, opt),
                field("source", x.source, opt),
                field("correlation_id", x.correlation_id, opt),
                field("causation_id", x.causation_id, opt));
}

template <class V>
auto fields(V& v, envelope& x) {
  using namespace field_options;
  return v.list(
      "envelope", field("id", x.id), field("type", x.type),
      field("aggregate_type", x.aggregate_type),
      field("aggregate_id", x.aggregate_id), field("version", x.version),
      field("company_id", x.company_id, opt),
      field("occurred_at", as_time(x.occurred_at)),
      field("sequence", x.sequence, opt), field("metadata", x.metadata, opt),
      field("data", json_text_ref{x.data}));
}

} // namespace switchboard
