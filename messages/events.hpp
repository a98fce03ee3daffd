#pragma once

#include <messages/entities.hpp>

#include <map>
#include <string>
#include <vector>

/// Domain events: one plain struct per event type of DESIGN.md, named in the
/// past tense. Wire names, aggregate types and broadcasting live in the
/// registry (messages/registry.hpp); codecs in messages/json.hpp.

namespace switchboard {

// -- shared parts -------------------------------------------------------------

/// The old and new value of one changed field, both in their JSON text form
/// (timestamps as RFC 3339). JSON: {"old": ..., "new": ...}.
struct change {
  std::string old_value;
  std::string new_value;
};

/// Changed fields by name, e.g. "start_time" or "staff_id".
using change_set = std::map<std::string, change>;

/// Free-form string attributes (the seed's `metadata` and `array` fields).
using string_map = std::map<std::string, std::string>;

/// Where a customer record came from.
enum class customer_source : std::uint8_t {
  phone,
  web,
  import,
  manual,
};

constexpr std::array<std::string_view, 4> enum_names(customer_source) {
  return {"phone", "web", "import", "manual"};
}

/// A channel a notification goes out on.
enum class notification_channel : std::uint8_t {
  sms,
  email,
  whatsapp,
};

constexpr std::array<std::string_view, 3> enum_names(notification_channel) {
  return {"sms", "email", "whatsapp"};
}

/// A booking wish extracted from a call. Empty (every field empty or zero)
/// means "no appointment request", like the seed's `empty(...)`.
struct appointment_request {
  std::string service_id;
  std::string staff_id; ///< Empty: any staff.
  std::string branch_id;
  timestamp_ms preferred_start = 0; ///< 0: no preference.
  std::string customer_name;
  std::string notes;

  bool empty() const noexcept {
    return service_id.empty() && staff_id.empty() && branch_id.empty()
           && preferred_start == 0 && customer_name.empty() && notes.empty();
  }
};

/// What the AI made of a call.
struct call_analysis {
  std::string sentiment; ///< Empty: not determined (reads as "neutral").
  std::string summary;
  switchboard::appointment_request appointment_request; ///< Empty: none.
  string_map extra; ///< Other analysis attributes.
};

// -- appointment events -------------------------------------------------------

/// An appointment was booked.
struct appointment_created {
  switchboard::appointment appointment;
  std::string source; ///< e.g. "api", "phone", "web", "import"; may be empty.
  string_map metadata;
};

/// An appointment changed (rescheduled, reassigned, notes, status, ...).
struct appointment_updated {
  switchboard::appointment appointment; ///< The state after the change.
  change_set changes;
  std::string updated_by; ///< User id; empty: the system.
};

/// An appointment was cancelled.
struct appointment_cancelled {
  switchboard::appointment appointment;
  std::string reason;
  std::string cancelled_by; ///< User id; empty: the system.
};

// -- customer and staff events ------------------------------------------------

/// A customer record was created.
struct customer_created {
  switchboard::customer customer;
  customer_source source = customer_source::manual;
};

/// A customer record changed.
struct customer_updated {
  switchboard::customer customer; ///< The state after the change.
  change_set changes;
};

/// Two customer records were merged into `primary`.
struct customer_merged {
  customer primary;
  customer merged;        ///< The record that was folded in.
  string_map merged_data; ///< Fields taken over from `merged`.
};

/// A staff record (e.g. working hours) changed.
struct staff_updated {
  switchboard::staff staff; ///< The state after the change.
  change_set changes;
};

/// A service (name, price, duration) was created or changed.
struct service_updated {
  switchboard::service service; ///< The state after the change.
  change_set changes;
};

// -- call events --------------------------------------------------------------

/// A call is over and has been analysed (the seed's CallCompleted).
struct call_completed {
  switchboard::call call;
  call_analysis analysis;
};

/// An incoming call arrived (workflow state "started").
struct call_started {
  std::string call_id;
  std::string company_id;
  std::string from_number;
  std::string to_number;
  timestamp_ms started_at = 0;
};

/// The agent picked up (workflow state "in_progress").
struct call_connected {
  std::string call_id;
  std::string company_id;
  timestamp_ms connected_at = 0;
};

/// The call hung up (workflow state "ended").
struct call_ended {
  std::string call_id;
  std::string company_id;
  timestamp_ms ended_at = 0;
  std::int32_t duration_s = 0;
  std::string end_reason; ///< e.g. "customer_hangup", "agent_hangup".
  std::string transcript;
};

/// The AI processed the call (workflow state "analyzed").
struct call_analyzed {
  std::string call_id;
  std::string company_id;
  call_analysis analysis;
  timestamp_ms analyzed_at = 0;
};

/// The call carried a booking intent (workflow "appointment_requested").
struct appointment_requested {
  std::string call_id;
  std::string company_id;
  std::string customer_id; ///< Empty when the caller is not known yet.
  appointment_request request;
  timestamp_ms requested_at = 0;
};

/// The requested appointment could not be booked (no availability, ...).
struct appointment_failed {
  std::string call_id;
  std::string company_id;
  appointment_request request;
  std::string reason; ///< e.g. "no_availability".
  timestamp_ms failed_at = 0;
};

/// A follow-up with the caller is due, offering alternative options.
struct follow_up_scheduled {
  std::string call_id;
  std::string company_id;
  std::string customer_id;
  timestamp_ms due_at = 0;
  std::string reason;
  std::vector<timestamp_ms> alternative_slots; ///< Offered start times.
};

/// A confirmation went out to the customer on one channel.
struct notification_sent {
  std::string appointment_id;
  std::string company_id;
  std::string customer_id;
  notification_channel channel = notification_channel::sms;
  std::string recipient; ///< Phone number or e-mail address.
  timestamp_ms sent_at = 0;
  std::string call_id; ///< The call that led to the booking; may be empty.
};

/// The call had no booking intent (workflow state "information_only").
struct call_information_only {
  std::string call_id;
  std::string company_id;
  std::string summary;
  timestamp_ms concluded_at = 0;
};

// -- pure predicates ----------------------------------------------------------

/// Returns whether the start or end time changed (the seed's
/// wasRescheduled).
inline bool was_rescheduled(const appointment_updated& e) {
  return e.changes.count("start_time") > 0 || e.changes.count("end_time") > 0;
}

/// Returns whether the appointment moved to other staff (wasReassigned).
inline bool was_reassigned(const appointment_updated& e) {
  return e.changes.count("staff_id") > 0;
}

/// Returns whether the analysis holds a non-empty appointment request.
inline bool has_appointment_request(const call_analysis& a) {
  return !a.appointment_request.empty();
}

/// Returns whether the call's analysis holds an appointment request (the
/// seed's hasAppointmentRequest).
inline bool has_appointment_request(const call_completed& e) {
  return has_appointment_request(e.analysis);
}

/// Returns the sentiment, "neutral" when absent.
inline std::string sentiment(const call_analysis& a) {
  return a.sentiment.empty() ? std::string{"neutral"} : a.sentiment;
}

/// Returns the call's sentiment, "neutral" when absent (getSentiment).
inline std::string sentiment(const call_completed& e) {
  return sentiment(e.analysis);
}

// -- equality -----------------------------------------------------------------

inline bool operator==(const change& a, const change& b) {
  return a.old_value == b.old_value && a.new_value == b.new_value;
}

inline bool operator==(const appointment_request& a,
                       const appointment_request& b) {
  return a.service_id == b.service_id && a.staff_id == b.staff_id
         && a.branch_id == b.branch_id && a.preferred_start == b.preferred_start
         && a.customer_name == b.customer_name && a.notes == b.notes;
}

inline bool operator==(const call_analysis& a, const call_analysis& b) {
  return a.sentiment == b.sentiment && a.summary == b.summary
         && a.appointment_request == b.appointment_request
         && a.extra == b.extra;
}

inline bool operator==(const appointment_created& a,
                       const appointment_created& b) {
  return a.appointment == b.appointment && a.source == b.source
         && a.metadata == b.metadata;
}

inline bool operator==(const appointment_updated& a,
                       const appointment_updated& b) {
  return a.appointment == b.appointment && a.changes == b.changes
         && a.updated_by == b.updated_by;
}

inline bool operator==(const appointment_cancelled& a,
                       const appointment_cancelled& b) {
  return a.appointment == b.appointment && a.reason == b.reason
         && a.cancelled_by == b.cancelled_by;
}

inline bool operator==(const customer_created& a, const customer_created& b) {
  return a.customer == b.customer && a.source == b.source;
}

inline bool operator==(const customer_updated& a, const customer_updated& b) {
  return a.customer == b.customer && a.changes == b.changes;
}

inline bool operator==(const customer_merged& a, const customer_merged& b) {
  return a.primary == b.primary && a.merged == b.merged
         && a.merged_data == b.merged_data;
}

inline bool operator==(const service_updated& a, const service_updated& b) {
  return a.service == b.service && a.changes == b.changes;
}

inline bool operator==(const staff_updated& a, const staff_updated& b) {
  return a.staff == b.staff && a.changes == b.changes;
}

inline bool operator==(const call_completed& a, const call_completed& b) {
  return a.call == b.call && a.analysis == b.analysis;
}

inline bool operator==(const call_started& a, const call_started& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.from_number == b.from_number && a.to_number == b.to_number
         && a.started_at == b.started_at;
}

inline bool operator==(const call_connected& a, const call_connected& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.connected_at == b.connected_at;
}

inline bool operator==(const call_ended& a, const call_ended& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.ended_at == b.ended_at && a.duration_s == b.duration_s
         && a.end_reason == b.end_reason && a.transcript == b.transcript;
}

inline bool operator==(const call_analyzed& a, const call_analyzed& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.analysis == b.analysis && a.analyzed_at == b.analyzed_at;
}

inline bool operator==(const appointment_requested& a,
                       const appointment_requested& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.customer_id == b.customer_id && a.request == b.request
         && a.requested_at == b.requested_at;
}

inline bool operator==(const appointment_failed& a,
                       const appointment_failed& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.request == b.request && a.reason == b.reason
         && a.failed_at == b.failed_at;
}

inline bool operator==(const follow_up_scheduled& a,
                       const follow_up_scheduled& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.customer_id == b.customer_id && a.due_at == b.due_at
         && a.reason == b.reason && a.alternative_slots == b.alternative_slots;
}

inline bool operator==(const notification_sent& a, const notification_sent& b) {
  return a.appointment_id == b.appointment_id && a.company_id == b.company_id
         && a.customer_id == b.customer_id && a.channel == b.channel
         && a.recipient == b.recipient && a.sent_at == b.sent_at
         && a.call_id == b.call_id;
}

inline bool operator==(const call_information_only& a,
                       const call_information_only& b) {
  return a.call_id == b.call_id && a.company_id == b.company_id
         && a.summary == b.summary && a.concluded_at == b.concluded_at;
}

} // namespace switchboard
