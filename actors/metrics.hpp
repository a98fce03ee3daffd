#pragma once

// The actors' families in /metrics (telemetry/metrics.hpp): the
// dispatcher, the listeners (sync and queued) and the queues. Made once,
// on first use; counting through them takes no lock.

#include <telemetry/metrics.hpp>

namespace switchboard {

/// The activity the actors count, in /metrics and per company: events
/// stored, listener runs, failures and run time, and queued jobs (from due
/// to lease, measured per job; run time; attempts that failed and were
/// scheduled again).
struct activity_metrics {
  /// Events stored by the dispatcher: by type, or by company and type.
  telemetry::family<telemetry::counter>& appended;
  /// By listener and kind ("sync", "queued", or "catch_up": events a
  /// reader applied), or by company and listener.
  telemetry::family<telemetry::counter>& listener_runs;
  telemetry::family<telemetry::counter>& listener_failures;
  telemetry::family<telemetry::histogram>& listener_duration;
  /// By queue, or by company and queue.
  telemetry::family<telemetry::histogram>& queue_wait;
  telemetry::family<telemetry::histogram>& queue_runtime;
  telemetry::family<telemetry::counter>& queue_retries;
};

struct actor_metrics : activity_metrics {
  /// From a dispatch request to its reply (commit and sync listeners).
  telemetry::histogram& dispatch_duration;
};

/// The families, registered in the process's registry on first call.
actor_metrics& metrics();

/// The same activity per company, for the company-scoped stats (the
/// minute buckets a company token reads at GET /api/admin/stats). In a
/// registry of their own, never rendered at /metrics: a label per company
/// would grow every scrape with the tenants.
using company_metrics = activity_metrics;

/// The per-company families, made on first call.
company_metrics& per_company_metrics();

} // namespace switchboard
