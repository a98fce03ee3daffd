#pragma once

// Every route the gateway serves is added here. Each area of the API has
// its own `add_<area>_routes(router&)` in app/http/<area>_routes.cpp;
// `add_routes` calls them all (the gateway and the OpenAPI test use it).

#include <app/http/router.hpp>

namespace switchboard::app::http {

/// Adds every route of the API to `r`.
void add_routes(router& r);

/// GET /health, GET /ready.
void add_health_routes(router& r);

/// The events API: streams, recent / by type / by time, appends.
void add_event_routes(router& r);

/// Operations: queues, failed jobs, the message outbox.
void add_ops_routes(router& r);

/// Customers, staff, services, appointments and availability.
void add_aggregate_routes(router& r);

/// Branches: POST /api/branches, GET and PATCH /api/branches/{id}.
void add_branch_routes(router& r);

/// Broadcasting: POST /broadcasting/auth and the Pusher HTTP API
/// (/apps/{app_id}/...).
void add_broadcast_routes(router& r);

/// GET /metrics (admin), the Prometheus exposition.
void add_metrics_routes(router& r);

/// The Prometheus text exposition of the process (metrics_routes.cpp).
std::string render_metrics(const services& svc);

/// Reads a timestamp query parameter (RFC 3339 or epoch milliseconds);
/// a bad one is noted in `errs` and `fallback` returned.
timestamp_ms query_time(const request_context& ctx, std::string_view name,
                        timestamp_ms fallback, field_errors& errs);

/// The company a company-scoped route acts for: the token's, or for an
/// admin token `?company_id=`, which must exist. "" after answering: 422
/// when an admin token names none, the store's error (an unknown company:
/// 404).
std::string acting_company(const context_ptr& ctx);

/// Answers a request with render_metrics (text/plain; version=0.0.4).
void respond_metrics(const context_ptr& ctx);

/// The events dashboard: /admin/events/dashboard(.js) and its session.
void add_dashboard_routes(router& r);

/// GET /api/traces/{correlation_id}, the causation trace.
void add_trace_routes(router& r);

/// Webhooks: POST /webhooks/calls/{company_id}, /webhooks/calcom/{company_id}.
void add_webhook_routes(router& r);

} // namespace switchboard::app::http
