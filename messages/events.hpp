#pragma once

#include <messages/fields.hpp>

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

/// An appointment took place: the customer came and was served.
struct appointment_completed {
  switchboard::appointment appointment;
  std::string completed_by; ///< User id; empty: the system.
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

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(change, field("old", x.old_value, opt),
          field("new", x.new_value, opt))

SB_FIELDS(appointment_request, SB_FIELD(service_id, opt),
          SB_FIELD(staff_id, opt), SB_FIELD(branch_id, opt),
          SB_TIME(preferred_start, opt), SB_FIELD(customer_name, opt),
          SB_FIELD(notes, opt))

SB_FIELDS(call_analysis, SB_FIELD(sentiment, omit), SB_FIELD(summary, opt),
          SB_FIELD(appointment_request, omit), SB_FIELD(extra, opt))

SB_FIELDS(appointment_created, SB_FIELD(appointment), SB_FIELD(source, opt),
          SB_FIELD(metadata, opt))

SB_FIELDS(appointment_updated, SB_FIELD(appointment), SB_FIELD(changes, opt),
          SB_FIELD(updated_by, opt))

SB_FIELDS(appointment_cancelled, SB_FIELD(appointment), SB_FIELD(reason, opt),
          SB_FIELD(cancelled_by, opt))

SB_FIELDS(appointment_completed, SB_FIELD(appointment),
          SB_FIELD(completed_by, opt))

SB_FIELDS(customer_created, SB_FIELD(customer), SB_FIELD(source))

SB_FIELDS(customer_updated, SB_FIELD(customer), SB_FIELD(changes, opt))

SB_FIELDS(customer_merged, SB_FIELD(primary), SB_FIELD(merged),
          SB_FIELD(merged_data, opt))

SB_FIELDS(staff_updated, SB_FIELD(staff), SB_FIELD(changes, opt))

SB_FIELDS(service_updated, SB_FIELD(service), SB_FIELD(changes, opt))

SB_FIELDS(call_completed, SB_FIELD(call), SB_FIELD(analysis))

SB_FIELDS(call_started, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_FIELD(from_number, opt), SB_FIELD(to_number, opt),
          SB_TIME(started_at))

SB_FIELDS(call_connected, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_TIME(connected_at))

SB_FIELDS(call_ended, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_TIME(ended_at), SB_FIELD(duration_s, opt),
          SB_FIELD(end_reason, opt), SB_FIELD(transcript, opt))

template <class V>
void checks(V& v, const call_ended& x) {
  v.check(x.duration_s >= 0, "duration_s", "must not be negative");
}

SB_FIELDS(call_analyzed, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_FIELD(analysis), SB_TIME(analyzed_at))

SB_FIELDS(appointment_requested, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_FIELD(customer_id, opt), SB_FIELD(request), SB_TIME(requested_at))

SB_FIELDS(appointment_failed, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_FIELD(request), SB_FIELD(reason, opt), SB_TIME(failed_at))

SB_FIELDS(follow_up_scheduled, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_FIELD(customer_id, opt), SB_TIME(due_at), SB_FIELD(reason, opt),
          field("alternative_slots", as_times(x.alternative_slots), opt))

SB_FIELDS(notification_sent, SB_FIELD(appointment_id), SB_FIELD(company_id),
          SB_FIELD(customer_id), SB_FIELD(channel), SB_FIELD(recipient),
          SB_TIME(sent_at), SB_FIELD(call_id, opt))

SB_FIELDS(call_information_only, SB_FIELD(call_id), SB_FIELD(company_id),
          SB_FIELD(summary, opt), SB_TIME(concluded_at))

} // namespace switchboard
