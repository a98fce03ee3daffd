#pragma once

#include <messages/decode_error.hpp>
#include <messages/entities.hpp>
#include <messages/envelope.hpp>
#include <messages/events.hpp>
#include <messages/expected.hpp>
#include <messages/ids.hpp>
#include <messages/registry.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

/// Boost.JSON codecs for every message type of the registry.
///
/// Shapes: objects whose keys are the struct's member names (a `change` is
/// {"old", "new"}); timestamps are RFC 3339 strings ("ended_at" of a call
/// and "preferred_start" of a request are null when 0); enums are their
/// wire names ("no_show"); an analysis omits "sentiment" and
/// "appointment_request" when they are empty; an envelope's "data" is the
/// embedded event object (decoding stores it back as compact JSON text).
/// Decoding ignores unknown keys, treats a missing or null optional field as
/// its default, and reports the first problem with its dotted path. Nothing
/// here throws.

namespace switchboard {

/// Parses JSON text. Malformed input yields field "" and problem
/// "malformed".
expected<boost::json::value, decode_error> parse_json(std::string_view text);

/// Encodes any event or value type of the registry as JSON, and as its
/// compact JSON text (`serialize_json(to_json(x))`, written directly).
#define SWITCHBOARD_DECLARE_TO_JSON(type)                                      \
  boost::json::value to_json(const type& x);                                   \
  std::string to_json_text(const type& x);
#define SWITCHBOARD_DECLARE_EVENT_TO_JSON(type, ...)                           \
  SWITCHBOARD_DECLARE_TO_JSON(type)
SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_DECLARE_EVENT_TO_JSON)
SWITCHBOARD_VALUE_TYPES(SWITCHBOARD_DECLARE_TO_JSON)
#undef SWITCHBOARD_DECLARE_EVENT_TO_JSON
#undef SWITCHBOARD_DECLARE_TO_JSON

/// Decodes a `T` (any event or value type of the registry) from JSON.
template <class T>
expected<T, decode_error> from_json(const boost::json::value& json);

/// `parse_json` then `from_json<T>`, the document parsed into a buffer of
/// its own that goes when the decode ends.
template <class T>
expected<T, decode_error> from_json_text(std::string_view text);

/// Returns the compact JSON text of `json`.
std::string serialize_json(const boost::json::value& json);

/// Adds member `key`, whose value is the JSON text `value`, to the end of
/// `object`, the text of a JSON object (as `to_json_text` writes it).
void append_member(std::string& object, std::string_view key,
                   std::string_view value);

/// As `append_member`, with the string `value` as the member's value.
void append_string_member(std::string& object, std::string_view key,
                          std::string_view value);

/// Wraps an event in an envelope: type and aggregate type come from the
/// registry, data is the event's JSON text and sequence is left 0 for the
/// store to set.
template <class E>
envelope make_envelope(const E& event, std::string aggregate_id,
                       std::uint64_t version, std::string company_id,
                       timestamp_ms occurred_at, event_metadata metadata,
                       std::string id = new_event_id()) {
  static_assert(is_event_v<E>, "E is not in SWITCHBOARD_EVENT_TYPES");
  envelope result;
  result.id = std::move(id);
  result.type = std::string{event_traits<E>::wire_name};
  result.aggregate_type = std::string{event_traits<E>::aggregate_type};
  result.aggregate_id = std::move(aggregate_id);
  result.version = version;
  result.company_id = std::move(company_id);
  result.occurred_at = occurred_at;
  result.metadata = std::move(metadata);
  result.data = to_json_text(event);
  return result;
}

namespace detail {

/// Checks that `env` has type `wire_name`.
expected<void, decode_error> check_type(const envelope& env,
                                        std::string_view wire_name);

/// Prefixes the field of `err` with "data.".
decode_error in_payload(decode_error err);

} // namespace detail

/// Reads the typed event out of an envelope. Fails with field "type"
/// (problem "invalid") when the envelope holds another event type, and with
/// paths under "data." when the payload does not decode.
template <class E>
expected<E, decode_error> event_from(const envelope& env) {
  static_assert(is_event_v<E>, "E is not in SWITCHBOARD_EVENT_TYPES");
  if (auto ok = detail::check_type(env, event_traits<E>::wire_name); !ok)
    return make_unexpected(std::move(ok.error()));
  auto result = from_json_text<E>(env.data);
  if (!result)
    return make_unexpected(detail::in_payload(result.error()));
  return result;
}

/// Checks an envelope from outside (a client, a peer): the type is
/// registered, the aggregate type matches the registry and the data
/// decodes as that event.
expected<void, decode_error> validate(const envelope& env);

} // namespace switchboard
