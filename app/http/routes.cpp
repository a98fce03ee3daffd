#include "app/http/routes.hpp"

#include <app/http/cluster.hpp>

namespace switchboard::app::http {

void add_routes(router& r) {
  add_health_routes(r);
  add_event_routes(r);
  add_ops_routes(r);
  add_aggregate_routes(r);
  add_branch_routes(r);
  add_webhook_routes(r);
  add_broadcast_routes(r);
  add_metrics_routes(r);
  add_trace_routes(r);
  add_dashboard_routes(r);
  add_cluster_routes(r);
}

} // namespace switchboard::app::http
