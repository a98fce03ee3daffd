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

/// Broadcasting: POST /broadcasting/auth and the Pusher HTTP API
/// (/apps/{app_id}/...).
void add_broadcast_routes(router& r);

/// Webhooks: POST /webhooks/calls/{company_id}, /webhooks/calcom/{company_id}.
void add_webhook_routes(router& r);

} // namespace switchboard::app::http
