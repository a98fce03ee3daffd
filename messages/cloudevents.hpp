#pragma once

#include <messages/decode_error.hpp>
#include <messages/envelope.hpp>
#include <messages/expected.hpp>

#include <boost/json/value.hpp>

#include <string_view>
#include <vector>

/// Envelopes as CloudEvents 1.0 in the structured JSON format
/// (application/cloudevents+json).
///
/// Attributes: specversion "1.0", id, source ("<prefix>/<aggregate_type>/
/// <aggregate_id>"), type (the wire name), subject (the aggregate id), time
/// (RFC 3339), datacontenttype "application/json" and data (the event as a
/// JSON object). The other envelope fields are extensions: aggregatetype,
/// aggregateid, version, companyid, sequence, userid, ipaddress, useragent,
/// eventsource, correlationid, causationid. Numeric extensions (version,
/// sequence) are written as decimal strings, since CloudEvents integers are
/// 32-bit; empty strings and a zero sequence are left out.

namespace switchboard {

/// The default prefix of the `source` attribute.
inline constexpr std::string_view default_cloudevents_source = "/switchboard";

/// Encodes `env` as a structured-mode CloudEvent.
boost::json::value to_cloudevent(const envelope& env,
                                 std::string_view source_prefix
                                 = default_cloudevents_source);

/// Decodes a structured-mode CloudEvent into an envelope. Requires
/// specversion "1.0", id, source, type and time; data, when present, is
/// kept as JSON text (data_base64 is refused; datacontenttype, if present,
/// must be a JSON type). The aggregate id
/// comes from the aggregateid extension, else the subject; the aggregate
/// type from the aggregatetype extension, else the registry entry of the
/// type. Errors name the attribute, e.g. field "specversion".
expected<envelope, decode_error>
from_cloudevent(const boost::json::value& json);

/// Encodes envelopes as a batch (application/cloudevents-batch+json).
boost::json::value to_cloudevents_batch(const std::vector<envelope>& envs,
                                        std::string_view source_prefix
                                        = default_cloudevents_source);

/// Decodes a batch; errors name the element, e.g. "[2].time".
expected<std::vector<envelope>, decode_error>
from_cloudevents_batch(const boost::json::value& json);

} // namespace switchboard
