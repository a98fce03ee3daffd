#pragma once

// One rendering of jobs, queue counters and outbox messages for the HTTP
// API and the CLI, so that `switchboard jobs ... --json`, `/api/jobs...`,
// `/api/outbox` and the traces use the same field names.

#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <store/job_queue.hpp>
#include <store/outbox.hpp>

namespace switchboard::app {

/// A time as RFC 3339, or null for 0 (not set).
boost::json::value time_or_null(timestamp_ms t);

/// An outbox message: id, channel, recipient, subject, body, company_id,
/// event_id, correlation_id, causation_id and created_at.
boost::json::object message_to_json(const store::outbound_message& m);

/// `message_to_json` with what the outbox keeps of the delivery: its
/// idempotency key, the provider that took it, its id there and the
/// status it last reported (GET /api/outbox, `switchboard outbox --json`).
boost::json::object outbox_entry_to_json(const store::outbound_message& m);

/// A job: id, queue, listener, company_id, event_id, event_type,
/// event_sequence, state (pending, delayed, leased or failed, as of `now`),
/// attempts, max_tries, last_error, created_at, due_at, failed_at,
/// history (started_at, duration_ms, error per failed attempt) and
/// payload.
boost::json::object job_to_json(const store::job& j, timestamp_ms now);

/// Adds the totals of `rows` to a queue's object (processed, retried,
/// failed_total) and the same per listener (`listeners`).
void add_job_counters(boost::json::object& o,
                      const std::vector<store::job_counters>& rows);

} // namespace switchboard::app
