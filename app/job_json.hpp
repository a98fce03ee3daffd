#pragma once

// One rendering of jobs and queue counters for the HTTP API and the CLI,
// so that `switchboard jobs ... --json` and `/api/jobs...` use the same
// field names.

#include <vector>

#include <boost/json/object.hpp>

#include <store/job_queue.hpp>

namespace switchboard::app {

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
