#pragma once

// Decoding the staff calendar's commands (messages/calendar_commands.hpp)
// from JSON: where a command enters the runtime (the HTTP gateway, the
// Cal.com webhook and sync, the call workflow), once. A problem is an
// invalid_argument error naming each field ("field: problem; ..."), as
// payload_reader words it; the calendar then decides on typed fields.

#include <boost/json/value.hpp>

#include <caf/error.hpp>

#include <messages/calendar_commands.hpp>
#include <messages/expected.hpp>

namespace switchboard {

/// A booking from `body`: customer_id, service_id, staff_id and
/// start_time are required; branch_id, notes and source are optional (and
/// calcom_uid when `ref.metadata.source` is "calcom"). A bad staff_id is
/// the only problem named: it says which calendar would have decided.
expected<book_appointment, caf::error>
decode_book(const boost::json::value& body, appointment_ref ref);

/// A reschedule from `body`: start_time is required, notes optional (and
/// calcom_uid when `ref.metadata.source` is "calcom").
expected<reschedule_appointment, caf::error>
decode_reschedule(const boost::json::value& body, appointment_ref ref);

/// A reassignment from `body`: staff_id is required (and, when bad, the
/// only problem named), start_time and notes optional.
expected<reassign_appointment, caf::error>
decode_reassign(const boost::json::value& body, appointment_ref ref);

/// A completion from `body`, which names no field.
expected<complete_appointment, caf::error>
decode_complete(const boost::json::value& body, appointment_ref ref);

/// A cancellation from `body`: reason is optional.
expected<cancel_appointment, caf::error>
decode_cancel(const boost::json::value& body, appointment_ref ref);

/// Cal.com's uid for a booking from `body`: calcom_uid is required.
expected<link_calcom_booking, caf::error>
decode_link_calcom(const boost::json::value& body, appointment_ref ref);

/// Whether the attendee came, from `body`: no_show is required.
expected<set_appointment_no_show, caf::error>
decode_no_show(const boost::json::value& body, appointment_ref ref);

} // namespace switchboard
