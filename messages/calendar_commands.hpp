#pragma once

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

inline bool operator==(const appointment_ref& a, const appointment_ref& b) {
  return a.company_id == b.company_id && a.appointment_id == b.appointment_id
         && a.metadata == b.metadata && a.check_version == b.check_version
         && a.expected_version == b.expected_version
         && a.event_id == b.event_id;
}

inline bool operator==(const book_appointment& a, const book_appointment& b) {
  return a.ref == b.ref && a.customer_id == b.customer_id
         && a.service_id == b.service_id && a.staff_id == b.staff_id
         && a.start_time == b.start_time && a.set_branch == b.set_branch
         && a.branch_id == b.branch_id && a.notes == b.notes
         && a.source == b.source && a.calcom_uid == b.calcom_uid;
}

inline bool operator==(const reschedule_appointment& a,
                       const reschedule_appointment& b) {
  return a.ref == b.ref && a.start_time == b.start_time
         && a.set_notes == b.set_notes && a.notes == b.notes
         && a.calcom_uid == b.calcom_uid;
}

inline bool operator==(const reassign_appointment& a,
                       const reassign_appointment& b) {
  return a.ref == b.ref && a.staff_id == b.staff_id
         && a.set_start_time == b.set_start_time && a.start_time == b.start_time
         && a.set_notes == b.set_notes && a.notes == b.notes;
}

inline bool operator==(const cancel_appointment& a,
                       const cancel_appointment& b) {
  return a.ref == b.ref && a.reason == b.reason;
}

inline bool operator==(const link_calcom_booking& a,
                       const link_calcom_booking& b) {
  return a.ref == b.ref && a.calcom_uid == b.calcom_uid;
}

inline bool operator==(const set_appointment_no_show& a,
                       const set_appointment_no_show& b) {
  return a.ref == b.ref && a.no_show == b.no_show;
}

} // namespace switchboard
