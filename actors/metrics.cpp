#include "actors/metrics.hpp"

namespace switchboard {

actor_metrics& metrics() {
  auto& r = telemetry::metrics();
  // Registered in the order /metrics lists them.
  static auto& appended = r.counter("switchboard_events_appended_total",
                                    "Events stored, by type", {"type"});
  static auto& dispatch_duration
      = r.histogram("switchboard_dispatch_duration_seconds",
                    "From a dispatch request to its reply: the commit and the "
                    "sync listeners")
            .with();
  static actor_metrics m{
      {appended,
       r.counter("switchboard_listener_runs_total",
                 "Listener runs, by listener and kind (sync, queued, or "
                 "catch_up: the events a reader applied)",
                 {"listener", "kind"}),
       r.counter("switchboard_listener_failures_total",
                 "Listener runs that failed or timed out, by listener and kind",
                 {"listener", "kind"}),
       r.histogram("switchboard_listener_duration_seconds",
                   "Listener run time, by listener and kind",
                   {"listener", "kind"}),
       r.histogram("switchboard_queue_wait_seconds",
                   "Measured wait of each job from its due time to its lease, "
                   "by queue",
                   {"queue"}),
       r.histogram("switchboard_queue_job_runtime_seconds",
                   "Run time of each job attempt, by queue", {"queue"}),
       r.counter("switchboard_queue_retries_total",
                 "Job attempts that failed and were scheduled again, by queue",
                 {"queue"})},
      dispatch_duration,
  };
  return m;
}

company_metrics& per_company_metrics() {
  static telemetry::registry r;
  static company_metrics m{
      r.counter("company_events_appended_total", "Events stored",
                {"company", "type"}),
      r.counter("company_listener_runs_total", "Listener runs",
                {"company", "listener"}),
      r.counter("company_listener_failures_total", "Listener runs that failed",
                {"company", "listener"}),
      r.histogram("company_listener_duration_seconds", "Listener run time",
                  {"company", "listener"}),
      r.histogram("company_queue_wait_seconds", "Wait from due to lease",
                  {"company", "queue"}),
      r.histogram("company_queue_job_runtime_seconds", "Job attempt run time",
                  {"company", "queue"}),
      r.counter("company_queue_retries_total", "Attempts scheduled again",
                {"company", "queue"}),
  };
  return m;
}

} // namespace switchboard
