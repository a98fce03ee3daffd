// The seed's listeners, registered in one place.
#include "actors/listeners/common.hpp"

#include <optional>

#include <boost/json.hpp>

#include <actors/aggregates.hpp>
#include <actors/branches.hpp>
#include <actors/calcom.hpp>
#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/log.hpp>
#include <actors/providers.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>
#include <store/tenants.hpp>

namespace switchboard {

namespace ln = listener_names;
using namespace listener_detail;

// -- registration
// ---------------------------------------------------------------

registration_result register_seed_listeners(listener_registry& reg) {
  for (const auto& info : all_event_types()) {
    if (!info.audited)
      continue;
    if (auto ok = reg.listen_sync(
            info.wire_name, {ln::audit_logger, 10, std::chrono::seconds(2)});
        !ok)
      return ok;
  }
  if (auto ok = reg.listen_sync_each<appointment_created, appointment_updated,
                                     appointment_cancelled, customer_created,
                                     customer_updated, customer_merged,
                                     staff_updated, service_updated>(
          {ln::cache_invalidator, 20, std::chrono::seconds(1)});
      !ok)
    return ok;
  queued_listener_spec notify;
  notify.name = ln::send_notification;
  notify.queue = "notifications";
  notify.delay_s = 5;
  notify.retry.tries = 3;
  notify.retry.backoff_s = {10, 60};
  if (auto ok = reg.listen_queued<appointment_created>(notify); !ok)
    return ok;
  queued_listener_spec analytics;
  analytics.name = ln::update_analytics;
  analytics.queue = "analytics";
  analytics.retry.tries = 3;
  analytics.retry.backoff_s = {1, 5};
  if (auto ok = reg.listen_queued_each<appointment_created, call_completed,
                                       customer_created>(analytics);
      !ok)
    return ok;
  queued_listener_spec sync;
  sync.name = ln::external_sync;
  sync.queue = "default";
  sync.retry.tries = 5;
  sync.retry.backoff_s = {10, 30, 60, 120, 300};
  sync.retry.timeout = std::chrono::seconds(30);
  if (auto ok
      = reg.listen_queued_each<appointment_created, appointment_updated,
                               appointment_cancelled, customer_updated>(sync);
      !ok)
    return ok;
  subscriber_spec sub;
  sub.name = ln::appointment_subscriber;
  sub.queue = "default";
  sub.retry.tries = 3;
  sub.retry.backoff_s = {1, 10};
  return reg.subscribe<appointment_created, appointment_updated,
                       appointment_cancelled>(std::move(sub));
}

} // namespace switchboard
