#pragma once

// Decoding the staff calendar's commands (messages/calendar_commands.hpp)
// from JSON: where a command enters the runtime (the HTTP gateway, the
// Cal.com webhook and sync, the call workflow), once. A problem is an
// invalid_argument error naming each field ("field: problem; ..."), as
// payload_reader words it; the calendar then decides on typed fields.

#include <utility>

#include <boost/json/value.hpp>

#include <caf/error.hpp>

#include <messages/calendar_commands.hpp>
#include <messages/expected.hpp>

namespace switchboard {

/// Reads a `Command` for `ref` from a JSON body. Defined in
/// actors/calendar_commands.cpp and instantiated there for each of the
/// commands decode_command lists.
template <class Command>
struct calendar_decoder {
  static expected<Command, caf::error> decode(const boost::json::value& body,
                                              appointment_ref ref);
};

/// The command `Command` for `ref` from `body`; the fields each reads:
/// - book_appointment: customer_id, service_id, staff_id and start_time
///   are required; branch_id, notes and source are optional (and
///   calcom_uid when `ref.metadata.source` is "calcom"). A bad staff_id is
///   the only problem named: it says which calendar would have decided.
/// - reschedule_appointment: start_time is required, notes optional (and
///   calcom_uid when `ref.metadata.source` is "calcom").
/// - reassign_appointment: staff_id is required (and, when bad, the only
///   problem named), start_time and notes optional.
/// - complete_appointment: no field.
/// - cancel_appointment: reason is optional.
/// - link_calcom_booking: Cal.com's uid for the booking, calcom_uid, is
///   required.
/// - set_appointment_no_show: whether the attendee came, no_show, is
///   required.
template <class Command>
expected<Command, caf::error> decode_command(const boost::json::value& body,
                                             appointment_ref ref) {
  return calendar_decoder<Command>::decode(body, std::move(ref));
}

} // namespace switchboard
