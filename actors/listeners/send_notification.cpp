// SendAppointmentNotification: a channel job per channel the customer
// prefers, for each new appointment.
#include "actors/listeners/send_notification.hpp"

#include "actors/listeners/catch_up.hpp"
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

namespace {

/// What confirming the appointment of `req`'s event takes, as it is now
/// (a reschedule within the delay is confirmed at its new time): its
/// customer and time zone; none when it is not to be confirmed (it was
/// cancelled). Errors: the appointment or its customer cannot be read.
struct confirming {
  appointment appt;
  customer c;
  time_zone tz;
};

expected<std::optional<confirming>, caf::error>
confirmation_of(const listener_context& ctx, const job_request& req,
                const appointment_created& ev) {
  auto cur = load_current(ctx, req.event.company_id, ev.appointment.id,
                          &req.event, &ev.appointment, false);
  if (!cur)
    return make_unexpected(cur.error());
  if (!cur->exists || cur->appt.status != appointment_status::scheduled)
    return std::optional<confirming>{};
  auto c = customer_of(ctx, req.event.company_id, cur->appt.customer_id);
  if (!c)
    return make_unexpected(c.error());
  auto tz = zone_of(ctx, req, cur->appt);
  return std::optional<confirming>{
      confirming{std::move(cur->appt), std::move(*c), std::move(tz)}};
}

} // namespace

queued_listener_actor::behavior_type
send_appointment_notification(queued_listener_actor::pointer self,
                              listener_context ctx) {
  auto lg = log::get(log::subsystem::listeners);
  return event_listener_behavior<appointment_created>(
      [self, ctx](const job_request& req,
                  const appointment_created& ev) -> caf::result<ok_atom> {
        auto conf = confirmation_of(ctx, req, ev);
        if (!conf)
          return conf.error();
        std::vector<store::job> jobs;
        if (*conf) {
          auto now = ctx.clock();
          for (const auto& ch : channels_for((*conf)->c))
            jobs.push_back(channel_job((*conf)->tz, req, (*conf)->c, ch,
                                       (*conf)->appt, "confirmation", now));
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

catch_up_deps notification_catch_up(const listener_context& ctx,
                                    const queued_listener_spec& spec,
                                    const listener_registry& reg) {
  auto d = catch_up_deps_of(
      ctx, spec, reg,
      [ctx,
       spec](const envelope& ev) -> expected<catch_up_effect, decode_error> {
        auto created = decoded_events<appointment_created>::instance().get(ev);
        if (!created)
          return make_unexpected(created.error());
        auto req = reader_request(spec, ev);
        catch_up_effect e;
        auto conf = confirmation_of(ctx, req, **created);
        if (!conf) {
          e.as_job = true; // fails there, with its tries and failed()
          return e;
        }
        if (!*conf)
          return e;
        // A channel with a provider gets its job (the call, with its
        // retries); the message of one without goes to the outbox here,
        // as its channel job would have written it.
        const auto& [appt, c, tz] = **conf;
        std::vector<store::job> calls;
        std::vector<store::outbound_message> kept;
        auto now = ctx.clock();
        for (const auto& ch : channels_for(c)) {
          if (ctx.messenger && ctx.provider_channels.count(ch) > 0)
            calls.push_back(
                channel_job(tz, req, c, ch, appt, "confirmation", now));
          else
            kept.push_back(customer_message(
                ev, "notify." + ch,
                channel_payload(tz, c, ch, appt, "confirmation"), now, ev.id));
        }
        if (calls.empty() && kept.empty())
          return e;
        auto* queue = ctx.jobs;
        auto* outbox = ctx.outbox;
        e.writes.push_back(
            [queue, outbox, calls = std::move(calls), kept = std::move(kept)](
                store::write_txn& txn) -> store::result<void> {
              for (const auto& m : kept)
                if (auto r = outbox->add_in(txn, m); !r)
                  return make_unexpected(r.error());
              return enqueue_all_in(*queue, txn, calls);
            });
        return e;
      });
  d.wake = {"notifications"};
  // History and a moved company's events are not confirmed again.
  d.skips_brought_in = true;
  return d;
}

namespace listeners {

queued_listener_component send_notification() {
  auto c = listener_of<switchboard::send_appointment_notification,
                       appointment_created>(ln::send_notification,
                                            "notifications", 3, {10, 60});
  c.spec.delay_s = 5;
  c.spec.catch_up = true;
  c.spawn_catch_up = spawn_reader<notification_catch_up>;
  return c;
}

} // namespace listeners

} // namespace switchboard
