#pragma once

#include <messages/calendar_commands.hpp>
#include <messages/commands.hpp>
#include <messages/decode_error.hpp>
#include <messages/entities.hpp>
#include <messages/envelope.hpp>
#include <messages/events.hpp>

#include <caf/meta/type_name.hpp>

/// CAF 0.17 inspectors for every message type (binary serialization across
/// nodes and `deep_to_string`). Enums need none: CAF serializes them through
/// their underlying integer and prints them with `to_string`
/// (messages/entities.hpp). Field order is the wire format between nodes.

namespace switchboard {

// -- entities -----------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, company& x) {
  return f(caf::meta::type_name("company"), x.id, x.name, x.timezone);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, branch& x) {
  return f(caf::meta::type_name("branch"), x.id, x.company_id, x.name,
           x.address, x.phone);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work_interval& x) {
  return f(caf::meta::type_name("work_interval"), x.day, x.start_minute,
           x.end_minute);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, staff& x) {
  return f(caf::meta::type_name("staff"), x.id, x.company_id, x.branch_id,
           x.name, x.email, x.phone, x.service_ids, x.working_hours, x.active);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service& x) {
  return f(caf::meta::type_name("service"), x.id, x.company_id, x.name,
           x.price_cents, x.duration_minutes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, customer& x) {
  return f(caf::meta::type_name("customer"), x.id, x.company_id, x.name,
           x.phone, x.email, x.prefers_sms, x.prefers_email,
           x.prefers_whatsapp);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, appointment& x) {
  return f(caf::meta::type_name("appointment"), x.id, x.company_id, x.branch_id,
           x.service_id, x.staff_id, x.customer_id, x.start_time, x.end_time,
           x.status, x.price_cents, x.notes, x.calcom_uid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call& x) {
  return f(caf::meta::type_name("call"), x.id, x.company_id, x.from_number,
           x.to_number, x.state, x.started_at, x.ended_at, x.duration_s,
           x.transcript);
}

// -- envelope and errors ------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_metadata& x) {
  return f(caf::meta::type_name("event_metadata"), x.user_id, x.ip_address,
           x.user_agent, x.source, x.correlation_id, x.causation_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, envelope& x) {
  return f(caf::meta::type_name("envelope"), x.id, x.type, x.aggregate_type,
           x.aggregate_id, x.version, x.company_id, x.occurred_at, x.sequence,
           x.metadata, x.data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_error& x) {
  return f(caf::meta::type_name("decode_error"), x.field, x.problem, x.message);
}

// -- event parts --------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change& x) {
  return f(caf::meta::type_name("change"), x.old_value, x.new_value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, appointment_request& x) {
  return f(caf::meta::type_name("appointment_request"), x.service_id,
           x.staff_id, x.branch_id, x.preferred_start, x.customer_name,
           x.notes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_analysis& x) {
  return f(caf::meta::type_name("call_analysis"), x.sentiment, x.summary,
           x.appointment_request, x.extra);
}

// -- events -------------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, appointment_created& x) {
  return f(caf::meta::type_name("appointment_created"), x.appointment, x.source,
           x.metadata);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, appointment_updated& x) {
  return f(caf::meta::type_name("appointment_updated"), x.appointment,
           x.changes, x.updated_by);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        appointment_cancelled& x) {
  return f(caf::meta::type_name("appointment_cancelled"), x.appointment,
           x.reason, x.cancelled_by);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, customer_created& x) {
  return f(caf::meta::type_name("customer_created"), x.customer, x.source);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, customer_updated& x) {
  return f(caf::meta::type_name("customer_updated"), x.customer, x.changes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, customer_merged& x) {
  return f(caf::meta::type_name("customer_merged"), x.primary, x.merged,
           x.merged_data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service_updated& x) {
  return f(caf::meta::type_name("service_updated"), x.service, x.changes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, staff_updated& x) {
  return f(caf::meta::type_name("staff_updated"), x.staff, x.changes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_completed& x) {
  return f(caf::meta::type_name("call_completed"), x.call, x.analysis);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_started& x) {
  return f(caf::meta::type_name("call_started"), x.call_id, x.company_id,
           x.from_number, x.to_number, x.started_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_connected& x) {
  return f(caf::meta::type_name("call_connected"), x.call_id, x.company_id,
           x.connected_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_ended& x) {
  return f(caf::meta::type_name("call_ended"), x.call_id, x.company_id,
           x.ended_at, x.duration_s, x.end_reason, x.transcript);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_analyzed& x) {
  return f(caf::meta::type_name("call_analyzed"), x.call_id, x.company_id,
           x.analysis, x.analyzed_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        appointment_requested& x) {
  return f(caf::meta::type_name("appointment_requested"), x.call_id,
           x.company_id, x.customer_id, x.request, x.requested_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, appointment_failed& x) {
  return f(caf::meta::type_name("appointment_failed"), x.call_id, x.company_id,
           x.request, x.reason, x.failed_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, follow_up_scheduled& x) {
  return f(caf::meta::type_name("follow_up_scheduled"), x.call_id, x.company_id,
           x.customer_id, x.due_at, x.reason, x.alternative_slots);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_sent& x) {
  return f(caf::meta::type_name("notification_sent"), x.appointment_id,
           x.company_id, x.customer_id, x.channel, x.recipient, x.sent_at,
           x.call_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        call_information_only& x) {
  return f(caf::meta::type_name("call_information_only"), x.call_id,
           x.company_id, x.summary, x.concluded_at);
}

// -- actor requests and replies ----------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatch_request& x) {
  return f(caf::meta::type_name("dispatch_request"), x.events, x.expect,
           x.expected_version, x.typed, x.linked_versions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, listener_outcome& x) {
  return f(caf::meta::type_name("listener_outcome"), x.listener, x.event_id,
           x.ok, x.error, x.elapsed_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatch_result& x) {
  return f(caf::meta::type_name("dispatch_result"), x.sequences, x.versions,
           x.sync_outcomes, x.jobs_enqueued);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_request& x) {
  return f(caf::meta::type_name("job_request"), x.job_id, x.queue, x.listener,
           x.attempt, x.max_tries, x.event, x.payload);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("queue_stats"), x.queue, x.ready, x.delayed,
           x.leased, x.failed, x.processed, x.retried, x.failed_since_start,
           x.in_flight, x.concurrency);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_lookup& x) {
  return f(caf::meta::type_name("cache_lookup"), x.found, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_stats& x) {
  return f(caf::meta::type_name("cache_stats"), x.hits, x.misses, x.flushes,
           x.flushed_entries, x.entries, x.bytes, x.evicted, x.expired);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound_call& x) {
  return f(caf::meta::type_name("outbound_call"), x.target, x.operation,
           x.idempotency_key, x.body, x.mark, x.mark_event);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, aggregate_command& x) {
  return f(caf::meta::type_name("aggregate_command"), x.aggregate_type,
           x.aggregate_id, x.company_id, x.name, x.payload, x.metadata,
           x.check_version, x.expected_version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  return f(caf::meta::type_name("command_result"), x.aggregate_id, x.version,
           x.sequences, x.state, x.created);
}

// -- the calendar's commands --------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, appointment_ref& x) {
  return f(caf::meta::type_name("appointment_ref"), x.company_id,
           x.appointment_id, x.metadata, x.check_version, x.expected_version,
           x.event_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, book_appointment& x) {
  return f(caf::meta::type_name("book_appointment"), x.ref, x.customer_id,
           x.service_id, x.staff_id, x.start_time, x.set_branch, x.branch_id,
           x.notes, x.source, x.calcom_uid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        reschedule_appointment& x) {
  return f(caf::meta::type_name("reschedule_appointment"), x.ref, x.start_time,
           x.set_notes, x.notes, x.calcom_uid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reassign_appointment& x) {
  return f(caf::meta::type_name("reassign_appointment"), x.ref, x.staff_id,
           x.set_start_time, x.start_time, x.set_notes, x.notes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_appointment& x) {
  return f(caf::meta::type_name("cancel_appointment"), x.ref, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_calcom_booking& x) {
  return f(caf::meta::type_name("link_calcom_booking"), x.ref, x.calcom_uid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        set_appointment_no_show& x) {
  return f(caf::meta::type_name("set_appointment_no_show"), x.ref, x.no_show);
}

} // namespace switchboard
