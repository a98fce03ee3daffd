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

template <class V>
auto fields(V& v, appointment_ref& x) {
  return v.list("appointment_ref", field("company_id", x.company_id),
                field("appointment_id", x.appointment_id),
                field("metadata", x.metadata),
                field("check_version", x.check_version),
                field("expected_version", x.expected_version),
                field("event_id", x.event_id));
}

template <class V>
auto fields(V& v, book_appointment& x) {
  return v.list(
      "book_appointment", field("ref", x.ref),
      field("customer_id", x.customer_id), field("service_id", x.service_id),
      field("staff_id", x.staff_id), field("start_time", x.start_time),
      field("set_branch", x.set_branch), field("branch_id", x.branch_id),
      field("notes", x.notes), field("source", x.source),
      field("calcom_uid", x.calcom_uid));
}

template <class V>
auto fields(V& v, reschedule_appointment& x) {
  return v.list("reschedule_appointment", field("ref", x.ref),
                field("start_time", x.start_time),
                field("set_notes", x.set_notes), field("notes", x.notes),
                field("calcom_uid", x.calcom_uid));
}

template <class V>
auto fields(V& v, reassign_appointment& x) {
  return v.list("reassign_appointment", field("ref", x.ref),
                field("staff_id", x.staff_id),
                field("set_start_time", x.set_start_time),
                field("start_time", x.start_time),
                field("set_notes", x.set_notes), field("notes", x.notes));
}

template <class V>
auto fields(V& v, cancel_appointment& x) {
  return v.list("cancel_appointment", field("ref", x.ref),
                field("reason", x.reason));
}

template <class V>
auto fields(V& v, complete_appointment& x) {
  return v.list("complete_appointment", field("ref", x.ref));
}

template <class V>
auto fields(V& v, link_calcom_booking& x) {
  return v.list("link_calcom_booking", field("ref", x.ref),
                field("calcom_uid", x.calcom_uid));
}

template <class V>
auto fields(V& v, set_appointment_no_show& x) {
  return v.list("set_appointment_no_show", field("ref", x.ref),
                field("no_show", x.no_show));
}

} // namespace switchboard
