// The channel workers (notify.sms, notify.email, notify.whatsapp) and the
// reminders: each message goes to its provider or to the outbox, once.
#include "actors/listeners/channel_worker.hpp"

#include "actors/listeners/common.hpp"

#include <map>
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
#include <messages/json_string.hpp>
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

namespace {

/// Sends `msgs[i..]` through `ctx.messenger` one after the other, marking
/// each sent one (`mark` + "." + channel), so that a retry sends only those
/// not sent yet; then runs `then` with no error, or with the first error.
/// A message the provider answered with its own id (Twilio's SID) is
/// written to the outbox with that id in the transaction of its mark:
/// once the job knows the send succeeded, the SID is durable and the
/// message is never sent again.
void send_calls(queued_listener_actor::pointer self, listener_context ctx,
                std::string mark, std::string company, std::string event_id,
                std::shared_ptr<std::vector<store::outbound_message>> msgs,
                std::size_t i, std::function<void(caf::error)> then) {
  for (; i < msgs->size(); ++i) {
    auto done = ctx.processed->contains(
        company, mark + "." + (*msgs)[i].channel, event_id);
    if (!done || !*done)
      break;
  }
  if (i == msgs->size()) {
    then(caf::error{});
    return;
  }
  auto call = message_call((*msgs)[i]);
  auto step_mark = mark + "." + call.target;
  self->request(ctx.messenger, caf::infinite, sync_atom::value, call)
      .then(
          [=](const std::string& answer) {
            auto* outbox = ctx.outbox;
            std::optional<store::outbound_message> sent;
            if (auto t = twilio_message(answer)) {
              sent = (*msgs)[i];
              sent->provider = "twilio";
              sent->provider_id = t->sid;
              sent->status = t->status;
              sent->status_at = ctx.clock();
            }
            effects_fn record;
            if (sent)
              record = [outbox,
                        sent](store::write_txn& txn) -> store::result<void> {
                if (auto added = outbox->add_in(txn, *sent); !added)
                  return make_unexpected(added.error());
                return {};
              };
            mark_step(self, ctx, step_mark, company, event_id,
                      std::move(record), [=](caf::error err) {
                        if (err)
                          then(std::move(err));
                        else
                          send_calls(self, ctx, mark, company, event_id, msgs,
                                     i + 1, then);
                      });
          },
          [then](caf::error& err) {
            then(std::move(err));
          });
}

/// True when the appointment message of `p` (a confirmation or a notice
/// of a move) no longer describes the appointment: it was cancelled, or
/// moved again since a notice was queued, or a notice of a move would go
/// out before the confirmation (which then gives the new time). Otherwise
/// sets the message's start time to the appointment's as it is now.
/// Other messages are never superseded.
bool superseded(const listener_context& ctx, const job_request& req,
                boost::json::object& p) {
  auto kind = str_of(p, "kind");
  auto id = str_of(p, "appointment_id");
  if ((kind != "confirmation" && kind != "rescheduled") || id.empty())
    return false;
  auto cur = load_current(ctx, req.event.company_id, id, &req.event);
  if (!cur)
    return false; // sent as queued; the read error is not the customer's
  if (!cur->exists || cur->appt.status != appointment_status::scheduled)
    return true;
  auto now_start
      = format_rfc3339_in(cur->appt.start_time, zone_of(ctx, req, cur->appt));
  if (kind == "rescheduled"
      && (!cur->confirmation_handled || str_of(p, "start_time") != now_start))
    return true;
  p["start_time"] = now_start;
  return false;
}
} // namespace

queued_listener_actor::behavior_type
channel_worker(queued_listener_actor::pointer self, listener_context ctx) {
  auto lg = log::get(log::subsystem::listeners);
  return {
      [self, ctx](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        boost::json::error_code ec;
        auto parsed = boost::json::parse(req.payload, ec);
        if (ec || !parsed.is_object())
          return make_runtime_error(runtime_errc::invalid_argument,
                                    "job " + std::to_string(req.job_id)
                                        + ": payload is not a JSON object");
        auto& p = parsed.as_object();
        std::vector<store::outbound_message> msgs;
        auto now = ctx.clock();
        if (req.listener == ln::reminder_24h
            || req.listener == ln::reminder_1h) {
          // A reminder goes out on every channel the customer prefers now.
          auto c = customer_of(ctx, req.event.company_id,
                               str_of(p, "customer_id"));
          if (!c)
            return c.error();
          for (const auto& ch : channels_for(*c)) {
            store::outbound_message m;
            m.channel = ch;
            m.recipient = recipient_for(*c, ch);
            m.subject = "Appointment reminder";
            boost::json::object rp{{"kind", "reminder"},
                                   {"customer_name", c->name},
                                   {"start_time", str_of(p, "start_time")}};
            m.body = message_body(rp);
            m.company_id = req.event.company_id;
            m.event_id = req.event.id;
            m.idempotency_key
                = idempotency_key(req.event, req.listener + ":" + ch);
            m.created_at = now;
            m.correlation_id = req.event.metadata.correlation_id;
            m.causation_id = "job:" + std::to_string(req.job_id);
            msgs.push_back(std::move(m));
          }
        } else if (!superseded(ctx, req, p)) {
          auto m = customer_message(req.event, req.listener, p, now,
                                    "job:" + std::to_string(req.job_id));
          if (m.recipient.empty())
            return make_runtime_error(runtime_errc::invalid_argument,
                                      "job " + std::to_string(req.job_id)
                                          + ": payload.recipient is missing");
          msgs.push_back(std::move(m));
        }
        // Channels with a provider go out through it; the rest to the
        // outbox.
        auto sends = std::make_shared<std::vector<store::outbound_message>>();
        std::vector<store::outbound_message> kept;
        for (auto& m : msgs) {
          if (ctx.messenger && ctx.provider_channels.count(m.channel) > 0)
            sends->push_back(std::move(m));
          else
            kept.push_back(std::move(m));
        }
        auto* outbox = ctx.outbox;
        auto rp = self->make_response_promise<ok_atom>();
        auto mark = req.listener + "#" + std::to_string(req.job_id);
        auto company = req.event.company_id;
        auto event_id = req.event.id;
        send_calls(
            self, ctx, mark, company, event_id, sends, 0,
            [self, ctx, mark, company, event_id, outbox, kept,
             rp](caf::error err) mutable {
              if (err) {
                rp.deliver(std::move(err));
                return;
              }
              commit_once(
                  self, ctx, mark, company, event_id,
                  [outbox, kept](store::write_txn& txn) -> store::result<void> {
                    for (const auto& m : kept)
                      if (auto r = outbox->add_in(txn, m); !r)
                        return make_unexpected(r.error());
                    return {};
                  },
                  rp);
            });
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        lg->error("channel job {} ({}) failed: {}", req.job_id, req.listener,
                  error);
      },
  };
}

namespace listeners {

queued_listener_component channel_worker() {
  queued_listener_component c;
  c.spec.queue = "notifications";
  c.served = [](const listener_registry&, const queued_listener_spec&) {
    return std::vector<std::string>{ln::notify_sms, ln::notify_email,
                                    ln::notify_whatsapp, ln::reminder_24h,
                                    ln::reminder_1h};
  };
  c.spawn = spawn_with_context<switchboard::channel_worker>;
  return c;
}

} // namespace listeners

} // namespace switchboard
