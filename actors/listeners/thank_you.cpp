// SendThankYouNote: after an appointment took place, a note on each
// channel the customer prefers.
#include "actors/listeners/thank_you.hpp"

#include "actors/listeners/common.hpp"

#include <actors/log.hpp>
#include <messages/json.hpp>
#include <store/job_queue.hpp>

namespace switchboard {

namespace ln = listener_names;
using namespace listener_detail;

queued_listener_actor::behavior_type
send_thank_you_note(queued_listener_actor::pointer self, listener_context ctx) {
  auto lg = log::get(log::subsystem::listeners);
  return event_listener_behavior<appointment_completed>(
      [self, ctx](const job_request& req,
                  const appointment_completed& ev) -> caf::result<ok_atom> {
        const auto& a = ev.appointment;
        auto c = customer_of(ctx, req.event.company_id, a.customer_id);
        if (!c)
          return c.error();
        auto now = ctx.clock();
        std::vector<store::job> jobs;
        auto tz = zone_of(ctx, req, a);
        for (const auto& ch : channels_for(*c))
          jobs.push_back(channel_job(tz, req, *c, ch, a, "thank_you", now));
        auto rp = self->make_response_promise<ok_atom>();
        enqueue_once(self, ctx, req, std::move(jobs), rp);
        return rp;
      },
      [lg](const job_request& req, const std::string& error) {
        lg->error("thank-you note for event {} failed: {}", req.event.id,
                  error);
      });
}

namespace listeners {

queued_listener_component send_thank_you_note() {
  return listener_of<switchboard::send_thank_you_note, appointment_completed>(
      ln::send_thank_you_note, "notifications", 3, {10, 60});
}

} // namespace listeners

} // namespace switchboard
