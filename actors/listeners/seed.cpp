// The node's listeners in one place (seed.hpp).
#include "actors/listeners/seed.hpp"

#include <chrono>

#include <actors/cache.hpp>
#include <actors/listeners/appointment_subscriber.hpp>
#include <actors/listeners/call_follow_up.hpp>
#include <actors/listeners/channel_worker.hpp>
#include <actors/listeners/external_sync.hpp>
#include <actors/listeners/send_notification.hpp>
#include <actors/listeners/thank_you.hpp>
#include <actors/listeners/update_analytics.hpp>

namespace switchboard {

namespace ln = listener_names;

registration_result register_sync_listeners(listener_registry& reg) {
  // The audit log records the types the registry marks audited; the
  // cache invalidator hears the types that flush a tag (invalidated_tags
  // in actors/cache.cpp), so a new row in either table is the one change.
  for (const auto& info : all_event_types()) {
    if (info.audited)
      if (auto ok = reg.listen_sync(
              info.wire_name, {ln::audit_logger, 10, std::chrono::seconds(2)});
          !ok)
        return ok;
    if (!invalidated_tags(info.wire_name).empty())
      if (auto ok = reg.listen_sync(info.wire_name, {ln::cache_invalidator, 20,
                                                     std::chrono::seconds(1)});
          !ok)
        return ok;
  }
  return {};
}

const std::vector<queued_listener_component>& queued_listeners() {
  static const std::vector<queued_listener_component> all = {
      listeners::send_notification(),      listeners::channel_worker(),
      listeners::update_analytics(),       listeners::external_sync(),
      listeners::appointment_subscriber(), listeners::call_follow_up(),
      listeners::send_thank_you_note(),
  };
  return all;
}

registration_result register_seed_listeners(listener_registry& reg) {
  if (auto ok = register_sync_listeners(reg); !ok)
    return ok;
  for (const auto& c : queued_listeners())
    if (auto ok = c.register_in(reg); !ok)
      return ok;
  return {};
}

} // namespace switchboard
