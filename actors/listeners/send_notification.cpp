// SendAppointmentNotification: a channel job per channel the customer
// prefers, for each new appointment.
#include "actors/listeners/send_notification.hpp"

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

// -- SendAppointmentNotification ----------------------------------------------

queued_listener_actor::behavior_type
send_appointment_notification(queued_listener_actor::pointer self,
                              listener_context ctx) {
  auto lg = log::get(log::subsystem::listeners);
  return event_listener_behavior<appointment_created>(
      [self, ctx](const job_request& req,
                  const appointment_created& ev) -> caf::result<ok_atom> {
        // The appointment as it is now: a reschedule within the delay is
        // confirmed at its new time, a cancelled one is not confirmed.
        auto cur = load_current(ctx, req.event.company_id, ev.appointment.id,
                                &req.event, &ev.appointment);
        if (!cur)
          return cur.error();
        auto now = ctx.clock();
        std::vector<store::job> jobs;
        if (cur->exists && cur->appt.status == appointment_status::scheduled) {
          auto c
              = customer_of(ctx, req.event.company_id, cur->appt.customer_id);
          if (!c)
            return c.error();
          auto tz = zone_of(ctx, req, cur->appt);
          for (const auto& ch : channels_for(*c))
            jobs.push_back(
                channel_job(tz, req, *c, ch, cur->appt, "confirmation", now));
        }
        auto rp = self->make_response_promise<ok_atom>();
        enqueue_once(self, ctx, req, std::move(jobs), rp);
        return rp;
      },
      [lg](const job_request& req, const std::string& error) {
        // The seed's failed(): log the appointment and the error.
        std::string appointment_id;
        if (auto ev = event_from<appointment_created>(req.event))
          appointment_id = ev->appointment.id;
        lg->error("Failed to send appointment notification: appointment_id={} "
                  "error={}",
                  appointment_id, error);
      });
}

namespace listeners {

queued_listener_component send_notification() {
  auto c = listener_of<switchboard::send_appointment_notification,
                       appointment_created>(ln::send_notification,
                                            "notifications", 3, {10, 60});
  c.spec.delay_s = 5;
  return c;
}

} // namespace listeners

} // namespace switchboard
