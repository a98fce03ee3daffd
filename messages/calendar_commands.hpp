#pragma once

#include <messages/fields.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include <messages/envelope.hpp>

/// The staff calendar's commands: one plain struct each, decoded and
/// validated where a command enters the runtime (the HTTP gateway, the
/// Cal.com webhook and sync, the call workflow; see
/// actors/calendar_commands.hpp), so that the calendar decides on typed
/// fields and parses no JSON. The router sends each to the calendar of the
/// staff member it concerns.

/// Lists the calendar's command types as X(type), for the CAF type-ID block
/// (messages/type_ids.hpp) and the round-trip tests.
#define SWITCHBOARD_CALENDAR_COMMAND_TYPES(X)                                  \
  X(appointment_ref)                                                           \
  X(book_appointment)                                                          \
  X(reschedule_appointment)                                                    \
  X(reassign_appointment)                                                      \
  X(cancel_appointment)                                                        \
  X(complete_appointment)                                                      \
  X(link_calcom_booking)                                                       \
  X(set_appointment_no_show)

namespace switchboard {

#define SWITCHBOARD_COUNT_CALENDAR_COMMAND(...) +1
/// Number of calendar command types (with their common part).
inline constexpr std::size_t calendar_command_type_count
    = 0 SWITCHBOARD_CALENDAR_COMMAND_TYPES(SWITCHBOARD_COUNT_CALENDAR_COMMAND);
#undef SWITCHBOARD_COUNT_CALENDAR_COMMAND

/// What every calendar command names: the appointment and its company, who
/// asked, the version it expects (If-Match), and the id of the event it
/// makes when the sender fixes one.
struct appointment_ref {
  std::string company_id;
  /// Empty on a booking without an id: the router assigns one.
  std::string appointment_id;
  event_metadata metadata;
  bool check_version = false; ///< Optimistic concurrency (If-Match).
  std::uint64_t expected_version = 0;
  /// Cal.com's deliveries name the event they make, so that a redelivery
  /// stores nothing new; empty: a new id.
  std::string event_id;
};

/// A new appointment for a customer and a service with a staff member.
struct book_appointment {
  appointment_ref ref;
  std::string customer_id;
  std::string service_id;
  std::string staff_id;
  timestamp_ms start_time = 0;
  /// Whether `branch_id` was given (even empty); otherwise the staff
  /// member's branch.
  bool set_branch = false;
  std::string branch_id;
  std::string notes;
  std::string source = "api";
  std::string calcom_uid; ///< Cal.com's bookings only.
};

/// A scheduled appointment at another time, with the same staff member.
struct reschedule_appointment {
  appointment_ref ref;
  timestamp_ms start_time = 0;
  bool set_notes = false; ///< Whether `notes` replaces the notes.
  std::string notes;
  std::string calcom_uid; ///< Cal.com's reschedules: the new booking's uid.
};

/// A scheduled appointment moved to another staff member, and to another
/// time when `set_start_time`.
struct reassign_appointment {
  appointment_ref ref;
  std::string staff_id;
  bool set_start_time = false;
  timestamp_ms start_time = 0;
  bool set_notes = false; ///< Whether `notes` replaces the notes.
  std::string notes;
};

/// An appointment cancelled, with an optional reason.
struct cancel_appointment {
  appointment_ref ref;
  std::string reason;
};

/// An appointment that took place (the customer came and was served).
struct complete_appointment {
  appointment_ref ref;
};

/// Cal.com's uid of the booking made for an appointment (Cal.com only).
struct link_calcom_booking {
  appointment_ref ref;
  std::string calcom_uid;
};

/// Whether the attendee of an appointment came (Cal.com only).
struct set_appointment_no_show {
  appointment_ref ref;
  bool no_show = false;
};

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(appointment_ref, SB_FIELD(company_id), SB_FIELD(appointment_id),
          SB_FIELD(metadata), SB_FIELD(check_version),
          SB_FIELD(expected_version), SB_FIELD(event_id))

SB_FIELDS(book_appointment, SB_FIELD(ref), SB_FIELD(customer_id),
          SB_FIELD(service_id), SB_FIELD(staff_id), SB_FIELD(start_time),
          SB_FIELD(set_branch), SB_FIELD(branch_id), SB_FIELD(notes),
          SB_FIELD(source), SB_FIELD(calcom_uid))

SB_FIELDS(reschedule_appointment, SB_FIELD(ref), SB_FIELD(start_time),
          SB_FIELD(set_notes), SB_FIELD(notes), SB_FIELD(calcom_uid))

SB_FIELDS(reassign_appointment, SB_FIELD(ref), SB_FIELD(staff_id),
          SB_FIELD(set_start_time), SB_FIELD(start_time), SB_FIELD(set_notes),
          SB_FIELD(notes))

SB_FIELDS(cancel_appointment, SB_FIELD(ref), SB_FIELD(reason))

SB_FIELDS(complete_appointment, SB_FIELD(ref))

SB_FIELDS(link_calcom_booking, SB_FIELD(ref), SB_FIELD(calcom_uid))

SB_FIELDS(set_appointment_no_show, SB_FIELD(ref), SB_FIELD(no_show))

} // namespace switchboard
