#pragma once

// The actors' families in /metrics (telemetry/metrics.hpp): the
// dispatcher, the listeners (sync and queued) and the queues. Made once,
// on first use; counting through them takes no lock.

#include <telemetry/metrics.hpp>

namespace switchboard {

struct actor_metrics {
  /// Events stored by the dispatcher, by type.
  telemetry::family<telemetry::counter>& appended;
  /// From a dispatch request to its reply (commit and sync listeners).
  telemetry::histogram& dispatch_duration;
  /// Listener runs, failures and run time, by listener and kind
  /// ("sync" or "queued").
  telemetry::family<telemetry::counter>& listener_runs;
  telemetry::family<telemetry::counter>& listener_failures;
  telemetry::family<telemetry::histogram>& listener_duration;
  /// Queued jobs: from due to lease (measured per job), run time, and
  /// attempts that failed and were scheduled again, by queue.
  telemetry::family<telemetry::histogram>& queue_wait;
  telemetry::family<telemetry::histogram>& queue_runtime;
  telemetry::family<telemetry::counter>& queue_retries;
};

/// The families, registered in the process's registry on first call.
actor_metrics& metrics();

/// The same activity per company, for the company-scoped stats (the
/// minute buckets a company token reads at GET /api/admin/stats). In a
/// registry of their own, never rendered at /metrics: a label per company
/// would grow every scrape with the tenants.
struct company_metrics {
  /// Events stored, by company and type.
  telemetry::family<telemetry::counter>& appended;
  /// Listener runs, failures and run time, by company and listener.
  telemetry::family<telemetry::counter>& listener_runs;
  telemetry::family<telemetry::counter>& listener_failures;
  telemetry::family<telemetry::histogram>& listener_duration;
  /// Queued jobs' wait, run time and retries, by company and queue.
  telemetry::family<telemetry::histogram>& queue_wait;
  telemetry::family<telemetry::histogram>& queue_runtime;
  telemetry::family<telemetry::counter>& queue_retries;
};

/// The per-company families, made on first call.
company_metrics& per_company_metrics();

} // namespace switchboard
