#include "actors/listeners.hpp"

#include <optional>

#include <boost/json.hpp>

#include <actors/aggregates.hpp>
#include <actors/branches.hpp>
#include <actors/calcom.hpp>
#include <actors/calendar_commands.hpp>
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

namespace {

constexpr timestamp_ms hour_ms = 3600 * 1000;

std::string text(const char* s) {
  return std::string{s};
}

/// Effects of one job, run inside the writer's transaction.
using effects_fn = std::function<store::result<void>(store::write_txn&)>;

/// Commits `effects` together with the processed mark of (`mark`, event
/// id): when the mark exists, the effects are skipped. Answers `rp` after
/// the commit.
void commit_once(queued_listener_actor::pointer self,
                 const listener_context& ctx, std::string mark,
                 std::string event_id, effects_fn effects,
                 caf::typed_response_promise<ok_atom> rp,
                 std::vector<std::string> wake = {}) {
  auto* processed = ctx.processed;
  auto op = [processed, mark, event_id,
             effects](store::write_txn& txn) -> store::result<void> {
    auto fresh = processed->mark_in(txn, mark, event_id);
    if (!fresh)
      return make_unexpected(fresh.error());
    if (!*fresh)
      return {}; // Delivered before: its effects are stored already.
    return effects(txn);
  };
  self->request(
          ctx.writer, caf::infinite, write_atom::value,
          make_write_op(op, store::isolation::nested, store::lane::background))
      .then(
          [self, rp, wake, queues = ctx.queues](ok_atom) mutable {
            for (const auto& q : wake)
              if (auto i = queues->find(q); i != queues->end())
                self->send(i->second, wake_atom::value);
            rp.deliver(ok_atom::value);
          },
          [rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
          });
}

/// The appointment `id` of `company` as it is now (the read a queued
/// notification makes when it runs, as Laravel's SerializesModels reloads
/// the model), and whether its confirmation has been handled.
struct current_appointment {
  appointment appt;
  bool exists = false;
  bool confirmation_handled = false;
};

expected<current_appointment, caf::error>
load_current(const listener_context& ctx, const std::string& company,
             const std::string& id) {
  current_appointment out;
  auto st = load_aggregate(*ctx.events, "appointment", company, id);
  if (!st)
    return make_unexpected(st.error());
  out.exists = st->exists;
  out.appt = st->appt;
  if (!out.exists)
    return out;
  auto first = ctx.events->read_stream(company, "appointment", id, 1, 1);
  if (!first)
    return make_unexpected(to_caf_error(first.error()));
  if (!first->empty()) {
    auto done = ctx.processed->contains(listener_names::send_notification,
                                        first->front().id);
    out.confirmation_handled = done && *done;
  }
  return out;
}

caf::error bad_event(const job_request& req, const decode_error& err) {
  return make_runtime_error(runtime_errc::invalid_argument,
                            "event " + req.event.id + " (" + req.event.type
                                + "): " + err.field + ": " + err.message);
}

/// The channels a customer wants, by the seed's rules.
std::vector<std::string> channels_for(const customer& c) {
  std::vector<std::string> out;
  if (c.prefers_sms && !c.phone.empty())
    out.emplace_back("sms");
  if (!c.email.empty() && c.prefers_email)
    out.emplace_back("email");
  if (c.prefers_whatsapp && !c.phone.empty())
    out.emplace_back("whatsapp");
  return out;
}

std::string recipient_for(const customer& c, const std::string& channel) {
  return channel == "email" ? c.email : c.phone;
}

std::string day_of(timestamp_ms t) {
  return format_rfc3339(t).substr(0, 10);
}

/// The time zone of appointment `a` of the company of `req`'s event (its
/// branch's, else the company's): times in messages to customers are its
/// wall-clock times, with their offset.
time_zone zone_of(const listener_context& ctx, const job_request& req,
                  const appointment& a) {
  return zone_at(ctx.tenants, req.event.company_id, a.branch_id);
}

/// A channel job for `msg_kind` ("confirmation", "rescheduled", ...).
store::job channel_job(const time_zone& tz, const job_request& req,
                       const customer& c, const std::string& channel,
                       const appointment& a, const std::string& kind,
                       timestamp_ms now) {
  store::job j;
  j.queue = "notifications";
  j.listener = "notify." + channel;
  j.event_id = req.event.id;
  j.correlation_id = req.event.metadata.correlation_id;
  j.event_seq = req.event.sequence;
  j.company_id = req.event.company_id;
  j.event_type = req.event.type;
  boost::json::object payload{
      {"kind", kind},
      {"channel", channel},
      {"recipient", recipient_for(c, channel)},
      {"customer_name", c.name},
      {"appointment_id", a.id},
      {"start_time", format_rfc3339_in(a.start_time, tz)},
  };
  j.payload = boost::json::serialize(payload);
  j.created_at = now;
  j.due_at = now;
  auto policy = channel_retry_policy();
  j.max_tries = policy.tries;
  j.backoff_s = policy.backoff_s;
  j.timeout_ms = static_cast<std::uint32_t>(policy.timeout.count());
  return j;
}

std::string message_body(const boost::json::object& p) {
  auto str = [&](const char* k) -> std::string {
    if (auto* v = p.if_contains(k); v && v->is_string())
      return std::string{v->get_string()};
    return {};
  };
  auto kind = str("kind");
  auto name = str("customer_name");
  auto when = str("start_time");
  if (kind == "rescheduled")
    return "Hello " + name + ", your appointment was moved to " + when + ".";
  if (kind == "cancelled")
    return "Hello " + name + ", your appointment at " + when
           + " was cancelled.";
  if (kind == "follow_up") {
    auto alternatives = str("alternatives");
    return "Hello " + name
           + ", we could not book the appointment you asked for on your "
             "call. "
           + (alternatives.empty()
                  ? std::string{"We will get back to you with other times."}
                  : "Free times: " + alternatives + ".");
  }
  if (kind == "reminder")
    return "Hello " + name + ", a reminder of your appointment at " + when
           + ".";
  return "Hello " + name + ", your appointment at " + when + " is confirmed.";
}

} // namespace

// -- registration
// ---------------------------------------------------------------

retry_policy channel_retry_policy() {
  retry_policy p;
  p.tries = 3;
  p.backoff_s = {5, 30};
  p.timeout = std::chrono::seconds(30);
  return p;
}

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

expected<customer, caf::error> load_customer(const store::event_store& events,
                                             const std::string& company_id,
                                             const std::string& id) {
  auto stream = events.read_stream(company_id, "customer", id, 1, 100000);
  if (!stream)
    return make_unexpected(
        make_runtime_error(runtime_errc::storage,
                           "customer " + id + ": " + stream.error().message));
  // The read is the company's own: an event naming another company's
  // customer (or none) finds nothing, and is never retried (the id will
  // not become this company's).
  if (stream->empty())
    return make_unexpected(make_runtime_error(
        runtime_errc::rejected,
        "customer " + id + " does not exist in company " + company_id));
  customer c;
  for (const auto& ev : *stream) {
    if (ev.type == "customer.created") {
      if (auto e = event_from<customer_created>(ev))
        c = e->customer;
    } else if (ev.type == "customer.updated") {
      if (auto e = event_from<customer_updated>(ev))
        c = e->customer;
    } else if (ev.type == "customer.merged") {
      if (auto e = event_from<customer_merged>(ev); e && e->primary.id == id)
        c = e->primary;
    }
  }
  return c;
}

namespace projection_keys {

std::string slot(const std::string& company, const std::string& staff,
                 timestamp_ms start) {
  return slots_of_staff(company, staff) + format_rfc3339(start);
}

std::string slots_of_staff(const std::string& company,
                           const std::string& staff) {
  return "slots/company=" + company + "/staff=" + staff + "/";
}

std::string analytics(const std::string& what, const std::string& company) {
  return "analytics/" + what + "/company=" + company + "/";
}

std::string branch_stats(const std::string& company,
                         const std::string& branch) {
  return "branch_stats/company=" + company + "/branch=" + branch + "/";
}

} // namespace projection_keys

// -- SendAppointmentNotification ----------------------------------------------

queued_listener_actor::behavior_type
send_appointment_notification(queued_listener_actor::pointer self,
                              listener_context ctx) {
  auto lg = log::get("listeners");
  return {
      [self, ctx](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        auto ev = event_from<appointment_created>(req.event);
        if (!ev)
          return bad_event(req, ev.error());
        // The appointment as it is now: a reschedule within the delay is
        // confirmed at its new time, a cancelled one is not confirmed.
        auto cur = load_current(ctx, req.event.company_id, ev->appointment.id);
        if (!cur)
          return cur.error();
        auto now = ctx.clock();
        std::vector<store::job> jobs;
        if (cur->exists && cur->appt.status == appointment_status::scheduled) {
          auto c = load_customer(*ctx.events, req.event.company_id,
                                 cur->appt.customer_id);
          if (!c)
            return c.error();
          for (const auto& ch : channels_for(*c))
            jobs.push_back(channel_job(zone_of(ctx, req, cur->appt), req, *c,
                                       ch, cur->appt, "confirmation", now));
        }
        auto* queue = ctx.jobs;
        auto rp = self->make_response_promise<ok_atom>();
        commit_once(
            self, ctx, req.listener, req.event.id,
            [queue, jobs](store::write_txn& txn) -> store::result<void> {
              for (const auto& j : jobs)
                if (auto r = queue->enqueue_in(txn, j); !r)
                  return make_unexpected(r.error());
              return {};
            },
            rp, {"notifications"});
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        // The seed's failed(): log the appointment and the error.
        std::string appointment_id;
        if (auto ev = event_from<appointment_created>(req.event))
          appointment_id = ev->appointment.id;
        lg->error("Failed to send appointment notification: appointment_id={} "
                  "error={}",
                  appointment_id, error);
      },
  };
}

// -- channel workers and reminders
// ---------------------------------------------

namespace {

/// Sends `msgs[i..]` through `ctx.messenger` one after the other, marking
/// each sent one (`mark` + "." + channel), so that a retry sends only those
/// not sent yet; then runs `then` with no error, or with the first error.
/// A message the provider answered with its own id (Twilio's SID) is
/// written to the outbox with that id in the transaction of its mark:
/// once the job knows the send succeeded, the SID is durable and the
/// message is never sent again.
void send_calls(queued_listener_actor::pointer self, listener_context ctx,
                std::string mark, std::string event_id,
                std::shared_ptr<std::vector<store::outbound_message>> msgs,
                std::size_t i, std::function<void(caf::error)> then) {
  for (; i < msgs->size(); ++i) {
    auto done
        = ctx.processed->contains(mark + "." + (*msgs)[i].channel, event_id);
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
            auto* processed = ctx.processed;
            auto* outbox = ctx.outbox;
            std::optional<store::outbound_message> sent;
            if (auto t = twilio_message(answer)) {
              sent = (*msgs)[i];
              sent->provider = "twilio";
              sent->provider_id = t->sid;
              sent->status = t->status;
              sent->status_at = ctx.clock();
            }
            auto op = [processed, outbox, step_mark, event_id,
                       sent](store::write_txn& txn) -> store::result<void> {
              auto r = processed->mark_in(txn, step_mark, event_id);
              if (!r)
                return make_unexpected(r.error());
              if (sent)
                if (auto added = outbox->add_in(txn, *sent); !added)
                  return make_unexpected(added.error());
              return {};
            };
            self->request(ctx.writer, caf::infinite, write_atom::value,
                          make_write_op(op, store::isolation::validated,
                                        store::lane::background))
                .then(
                    [=](ok_atom) {
                      send_calls(self, ctx, mark, event_id, msgs, i + 1, then);
                    },
                    [then](caf::error& err) {
                      then(std::move(err));
                    });
          },
          [then](caf::error& err) {
            then(std::move(err));
          });
}

} // namespace

/// True when the appointment message of `p` (a confirmation or a notice
/// of a move) no longer describes the appointment: it was cancelled, or
/// moved again since a notice was queued, or a notice of a move would go
/// out before the confirmation (which then gives the new time). Otherwise
/// sets the message's start time to the appointment's as it is now.
/// Other messages are never superseded.
bool superseded(const listener_context& ctx, const job_request& req,
                boost::json::object& p) {
  auto str = [&](const char* k) -> std::string {
    if (auto* v = p.if_contains(k); v && v->is_string())
      return std::string{v->get_string()};
    return {};
  };
  auto kind = str("kind");
  auto id = str("appointment_id");
  if ((kind != "confirmation" && kind != "rescheduled") || id.empty())
    return false;
  auto cur = load_current(ctx, req.event.company_id, id);
  if (!cur)
    return false; // sent as queued; the read error is not the customer's
  if (!cur->exists || cur->appt.status != appointment_status::scheduled)
    return true;
  auto now_start
      = format_rfc3339_in(cur->appt.start_time, zone_of(ctx, req, cur->appt));
  if (kind == "rescheduled"
      && (!cur->confirmation_handled || str("start_time") != now_start))
    return true;
  p["start_time"] = now_start;
  return false;
}

queued_listener_actor::behavior_type
channel_worker(queued_listener_actor::pointer self, listener_context ctx) {
  auto lg = log::get("listeners");
  return {
      [self, ctx](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        boost::json::error_code ec;
        auto parsed = boost::json::parse(req.payload, ec);
        if (ec || !parsed.is_object())
          return make_runtime_error(runtime_errc::invalid_argument,
                                    "job " + std::to_string(req.job_id)
                                        + ": payload is not a JSON object");
        auto& p = parsed.as_object();
        auto str = [&](const char* k) -> std::string {
          if (auto* v = p.if_contains(k); v && v->is_string())
            return std::string{v->get_string()};
          return {};
        };
        std::vector<store::outbound_message> msgs;
        auto now = ctx.clock();
        if (req.listener == ln::reminder_24h
            || req.listener == ln::reminder_1h) {
          // A reminder goes out on every channel the customer prefers now.
          auto c = load_customer(*ctx.events, req.event.company_id,
                                 str("customer_id"));
          if (!c)
            return c.error();
          for (const auto& ch : channels_for(*c)) {
            store::outbound_message m;
            m.channel = ch;
            m.recipient = recipient_for(*c, ch);
            m.subject = "Appointment reminder";
            boost::json::object rp{{"kind", "reminder"},
                                   {"customer_name", c->name},
                                   {"start_time", str("start_time")}};
            m.body = message_body(rp);
            m.company_id = req.event.company_id;
            m.event_id = req.event.id;
            m.idempotency_key = req.event.id + ":" + req.listener + ":" + ch;
            m.created_at = now;
            m.correlation_id = req.event.metadata.correlation_id;
            m.causation_id = "job:" + std::to_string(req.job_id);
            msgs.push_back(std::move(m));
          }
        } else if (!superseded(ctx, req, p)) {
          store::outbound_message m;
          m.channel = str("channel");
          m.recipient = str("recipient");
          if (m.recipient.empty())
            return make_runtime_error(runtime_errc::invalid_argument,
                                      "job " + std::to_string(req.job_id)
                                          + ": payload.recipient is missing");
          m.subject = str("kind") == "rescheduled" ? "Appointment moved"
                      : str("kind") == "cancelled" ? "Appointment cancelled"
                      : str("kind") == "follow_up" ? "About your call"
                                                   : "Appointment confirmed";
          m.body = message_body(p);
          m.company_id = req.event.company_id;
          m.event_id = req.event.id;
          m.idempotency_key = req.event.id + ":" + req.listener;
          m.created_at = now;
          m.correlation_id = req.event.metadata.correlation_id;
          m.causation_id = "job:" + std::to_string(req.job_id);
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
        auto event_id = req.event.id;
        send_calls(
            self, ctx, mark, event_id, sends, 0,
            [self, ctx, mark, event_id, outbox, kept,
             rp](caf::error err) mutable {
              if (err) {
                rp.deliver(std::move(err));
                return;
              }
              commit_once(
                  self, ctx, mark, event_id,
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

// -- UpdateAnalytics
// ------------------------------------------------------------

expected<std::vector<std::pair<std::string, std::int64_t>>, decode_error>
analytics_deltas(const envelope& event) {
  std::vector<std::pair<std::string, std::int64_t>> deltas;
  const auto& company = event.company_id;
  if (event.type == "appointment.created") {
    auto ev = event_from<appointment_created>(event);
    if (!ev)
      return make_unexpected(ev.error());
    const auto& a = ev->appointment;
    auto base = projection_keys::analytics("appointments", company);
    auto lead_h = (a.start_time - event.occurred_at) / hour_ms;
    deltas = {
        {base + "count", 1},
        {base + "branch=" + a.branch_id, 1},
        {base + "service=" + a.service_id, 1},
        {base + "staff=" + a.staff_id, 1},
        {base + "source=" + (ev->source.empty() ? text("unknown") : ev->source),
         1},
        {base + "day=" + day_of(event.occurred_at), 1},
        {base + "value_cents", a.price_cents},
        {base + "lead_time_hours_sum", lead_h}};
  } else if (event.type == "call.completed") {
    auto ev = event_from<call_completed>(event);
    if (!ev)
      return make_unexpected(ev.error());
    auto base = projection_keys::analytics("calls", company);
    deltas = {{base + "count", 1},
              {base + "sentiment=" + sentiment(*ev), 1},
              {base + "booking_intent", has_appointment_request(*ev) ? 1 : 0}};
  } else if (event.type == "customer.created") {
    auto ev = event_from<customer_created>(event);
    if (!ev)
      return make_unexpected(ev.error());
    auto base = projection_keys::analytics("customers", company);
    auto names = enum_names(ev->source);
    deltas = {{base + "count", 1},
              {base + "source="
                   + std::string{names[static_cast<std::size_t>(ev->source)]},
               1}};
  }
  return deltas;
}

queued_listener_actor::behavior_type
update_analytics(queued_listener_actor::pointer self, listener_context ctx) {
  auto lg = log::get("listeners");
  return {
      [self, ctx](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        auto computed = analytics_deltas(req.event);
        if (!computed)
          return bad_event(req, computed.error());
        auto deltas = std::move(*computed);
        if (deltas.empty())
          return ok_atom::value;
        auto* proj = ctx.projections;
        auto rp = self->make_response_promise<ok_atom>();
        commit_once(
            self, ctx, req.listener, req.event.id,
            [proj, deltas](store::write_txn& txn) -> store::result<void> {
              for (const auto& [key, delta] : deltas)
                if (auto r = proj->add_in(txn, key, delta); !r)
                  return r;
              return {};
            },
            rp);
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        lg->error("analytics for event {} failed: {}", req.event.id, error);
      },
  };
}

// -- SyncWithExternalServices
// -----------------------------------------------------

namespace {

struct sync_step {
  sync_step(std::string n, outbound_call c, std::string appt = {},
            std::string link = {}, bool uid = false)
      : name(std::move(n)), call(std::move(c)), appointment_id(std::move(appt)),
        link_event_id(std::move(link)), needs_uid(uid) {}

  std::string name; ///< Processed mark: listener + "." + name.
  outbound_call call;
  /// Cal.com steps: the appointment whose booking uid the step reads
  /// (reschedule, cancel) or records from the answer (create, reschedule).
  std::string appointment_id;
  /// The id of the event that records the answer's uid: once it is
  /// stored, the call was made and is never made again.
  std::string link_event_id;
  bool needs_uid = false; ///< The call acts on the stored booking uid.
  /// The company of the event: every entity is read in it.
  std::string company;
};

using step_list = std::shared_ptr<std::vector<sync_step>>;

void run_steps(queued_listener_actor::pointer self, listener_context ctx,
               endpoint_actor endpoint, std::string listener,
               std::string event_id, step_list steps, std::size_t i,
               caf::typed_response_promise<ok_atom> rp);

/// Marks step `i` done for the event, then runs the next.
void step_done(queued_listener_actor::pointer self, listener_context ctx,
               endpoint_actor endpoint, std::string listener,
               std::string event_id, step_list steps, std::size_t i,
               caf::typed_response_promise<ok_atom> rp) {
  auto* processed = ctx.processed;
  auto mark = listener + "." + (*steps)[i].name;
  auto op = [processed, mark,
             event_id](store::write_txn& txn) -> store::result<void> {
    auto r = processed->mark_in(txn, mark, event_id);
    if (!r)
      return make_unexpected(r.error());
    return {};
  };
  self->request(ctx.writer, caf::infinite, write_atom::value,
                make_write_op(op, store::isolation::validated,
                              store::lane::background))
      .then(
          [=](ok_atom) mutable {
            run_steps(self, ctx, endpoint, listener, event_id, steps, i + 1,
                      rp);
          },
          [rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
          });
}

/// Records the booking uid Cal.com answered on the appointment (an event
/// under the step's derived id), then marks the step done.
void link_uid(queued_listener_actor::pointer self, listener_context ctx,
              endpoint_actor endpoint, std::string listener,
              std::string event_id, step_list steps, std::size_t i,
              caf::typed_response_promise<ok_atom> rp,
              const std::string& company, const std::string& uid) {
  const auto& step = (*steps)[i];
  appointment_ref ref;
  ref.appointment_id = step.appointment_id;
  ref.company_id = company;
  ref.event_id = step.link_event_id;
  ref.metadata.source = "calcom";
  ref.metadata.causation_id = event_id;
  // The uid is Cal.com's answer: checked as any field from outside.
  auto cmd = decode_link_calcom(boost::json::object{{"calcom_uid", uid}},
                                std::move(ref));
  if (!cmd) {
    rp.deliver(make_runtime_error(runtime_errc::listener_failed,
                                  "calcom booking uid not recorded: "
                                      + describe(cmd.error())));
    return;
  }
  self->request(*ctx.router, caf::infinite, command_atom::value,
                std::move(*cmd))
      .then(
          [=](const command_result&) mutable {
            step_done(self, ctx, endpoint, listener, event_id, steps, i, rp);
          },
          [rp](caf::error& err) mutable {
            // Retried: the call is not repeated once the uid is stored,
            // but Cal.com has the booking; keep trying to record it.
            rp.deliver(make_runtime_error(runtime_errc::listener_failed,
                                          "calcom booking uid not recorded: "
                                              + describe(err)));
          });
}

void run_steps(queued_listener_actor::pointer self, listener_context ctx,
               endpoint_actor endpoint, std::string listener,
               std::string event_id, step_list steps, std::size_t i,
               caf::typed_response_promise<ok_atom> rp) {
  while (i < steps->size()) {
    auto mark = listener + "." + (*steps)[i].name;
    auto done = ctx.processed->contains(mark, event_id);
    if (done && *done) {
      ++i;
      continue;
    }
    break;
  }
  if (i == steps->size()) {
    rp.deliver(ok_atom::value);
    return;
  }
  auto& step = (*steps)[i];
  const auto& company = step.company;
  if (!step.appointment_id.empty()) {
    // The answer was recorded before an ack was lost: done.
    if (!step.link_event_id.empty()
        && ctx.events->find_event(company, step.link_event_id)) {
      step_done(self, ctx, endpoint, listener, event_id, steps, i, rp);
      return;
    }
    if (step.needs_uid) {
      auto st = load_aggregate(*ctx.events, "appointment", company,
                               step.appointment_id);
      if (!st) {
        rp.deliver(st.error());
        return;
      }
      const auto& uid = st->appt.calcom_uid;
      if (uid.empty()) {
        // Not booked on Cal.com (the create went to the outbox, or came
        // from Cal.com without a uid): nothing to change there. A create
        // still pending is waited for.
        auto created = ctx.events->read_stream(company, "appointment",
                                               step.appointment_id, 1, 1);
        bool pending = false;
        if (created && !created->empty()) {
          auto c = ctx.processed->contains(listener + ".calcom",
                                           created->front().id);
          pending
              = created->front().type == "appointment.created" && (!c || !*c);
        }
        if (pending) {
          rp.deliver(make_runtime_error(
              runtime_errc::listener_failed,
              "calcom sync waits for the booking's uid (its create is "
              "pending)"));
          return;
        }
        step_done(self, ctx, endpoint, listener, event_id, steps, i, rp);
        return;
      }
      auto body = boost::json::parse(step.call.body);
      body.as_object()["uid"] = uid;
      step.call.body = boost::json::serialize(body);
    }
  }
  self->request(endpoint, caf::infinite, sync_atom::value, step.call)
      .then(
          [=](const std::string& answer) mutable {
            const auto& st = (*steps)[i];
            auto uid = st.link_event_id.empty() ? std::string{}
                                                : calcom_booking_uid(answer);
            if (!uid.empty())
              link_uid(self, ctx, endpoint, listener, event_id, steps, i, rp,
                       company, uid);
            else
              step_done(self, ctx, endpoint, listener, event_id, steps, i, rp);
          },
          [rp, step](caf::error& err) mutable {
            // A refusal stays one: the queue then fails the job at once.
            auto code = runtime_code(err) == runtime_errc::rejected
                            ? runtime_errc::rejected
                            : runtime_errc::listener_failed;
            rp.deliver(make_runtime_error(
                code, step.call.target + " sync failed: " + describe(err)));
          });
}

/// The Cal.com event type mapped to `service_id` for the company ("" when
/// none is).
std::string mapped_event_type(const listener_context& ctx,
                              const std::string& company,
                              const std::string& service_id) {
  if (ctx.tenants == nullptr)
    return {};
  auto text = ctx.tenants->setting(company, calcom_setting);
  if (!text)
    return {};
  auto s = parse_calcom_settings(*text);
  return s ? s->event_type_of(service_id) : std::string{};
}

} // namespace

queued_listener_actor::behavior_type
sync_with_external_services(queued_listener_actor::pointer self,
                            listener_context ctx, endpoint_actor endpoint) {
  auto lg = log::get("listeners");
  return {
      [self, ctx, endpoint](handle_atom,
                            const job_request& req) -> caf::result<ok_atom> {
        auto steps = std::make_shared<std::vector<sync_step>>();
        auto key = req.event.id;
        // Changes that came from Cal.com are not sent back to it.
        bool from_calcom = req.event.metadata.source == "calcom";
        auto link_id = [&key] {
          return derived_id("calcom-link\n" + key);
        };
        if (req.event.type == "appointment.created") {
          auto ev = event_from<appointment_created>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          auto body = to_json_text(ev->appointment);
          // Cal.com wants an attendee (the customer, when it can be read)
          // and the event type mapped to the service.
          auto v = boost::json::parse(body);
          auto& o = v.as_object();
          if (auto c = load_customer(*ctx.events, req.event.company_id,
                                     ev->appointment.customer_id))
            o["customer"] = boost::json::parse(to_json_text(*c));
          o["time_zone"] = zone_at(ctx.tenants, req.event.company_id,
                                   ev->appointment.branch_id)
                               .name();
          auto type_id = mapped_event_type(ctx, req.event.company_id,
                                           ev->appointment.service_id);
          if (!type_id.empty())
            o["event_type_id"] = type_id;
          if (ev->source != "calcom" && !from_calcom)
            steps->emplace_back("calcom",
                                outbound_call{"calcom", "booking.create",
                                              key + ":calcom",
                                              boost::json::serialize(v)},
                                ev->appointment.id, link_id(), false);
          steps->push_back(
              {"crm", {"crm", "appointment.upsert", key + ":crm", body}});
        } else if (req.event.type == "appointment.updated") {
          // Changes reach the CRM with the same retries as the booking; a
          // new time reaches Cal.com by the booking uid kept on the
          // appointment.
          auto ev = event_from<appointment_updated>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          auto body = to_json_text(ev->appointment);
          if (!from_calcom && ev->changes.count("start_time") > 0)
            steps->push_back(
                {"calcom",
                 {"calcom", "booking.reschedule", key + ":calcom",
                  boost::json::serialize(boost::json::object{
                      {"start", format_rfc3339(ev->appointment.start_time)}})},
                 ev->appointment.id,
                 link_id(),
                 true});
          steps->push_back(
              {"crm", {"crm", "appointment.upsert", key + ":crm", body}});
        } else if (req.event.type == "appointment.cancelled") {
          auto ev = event_from<appointment_cancelled>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          auto v = boost::json::parse(to_json_text(ev->appointment));
          v.as_object()["cancellation_reason"] = ev->reason;
          auto body = boost::json::serialize(v);
          if (!from_calcom)
            steps->push_back({"calcom",
                              {"calcom", "booking.cancel", key + ":calcom",
                               boost::json::serialize(boost::json::object{
                                   {"reason", ev->reason}})},
                              ev->appointment.id,
                              {},
                              true});
          steps->push_back(
              {"crm", {"crm", "appointment.upsert", key + ":crm", body}});
        } else if (req.event.type == "customer.updated") {
          auto ev = event_from<customer_updated>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          steps->push_back({"crm",
                            {"crm", "customer.upsert", key + ":crm",
                             to_json_text(ev->customer)}});
        } else {
          return ok_atom::value;
        }
        for (auto& step : *steps)
          step.company = req.event.company_id;
        auto rp = self->make_response_promise<ok_atom>();
        run_steps(self, ctx, endpoint, req.listener, req.event.id, steps, 0,
                  rp);
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        lg->error("external sync of event {} ({}) failed for good: {}",
                  req.event.id, req.event.type, error);
      },
  };
}

// -- AppointmentEventSubscriber
// -----------------------------------------------------

namespace {

/// Reminder jobs for an appointment, 24 h and 1 h before its start; those
/// already past are skipped.
std::vector<store::job> reminder_jobs(const time_zone& tz,
                                      const job_request& req,
                                      const appointment& a, timestamp_ms now) {
  std::vector<store::job> out;
  for (auto [name, before] : {std::pair{ln::reminder_24h, 24 * hour_ms},
                              std::pair{ln::reminder_1h, hour_ms}}) {
    auto due = a.start_time - before;
    if (due <= now)
      continue;
    store::job j;
    j.queue = "notifications";
    j.listener = name;
    j.event_id = req.event.id;
    j.correlation_id = req.event.metadata.correlation_id;
    j.event_seq = req.event.sequence;
    j.company_id = req.event.company_id;
    j.event_type = req.event.type;
    j.unique_key
        = "reminder:" + a.id + ":" + (before == hour_ms ? "1h" : "24h");
    boost::json::object payload{
        {"appointment_id", a.id},
        {"customer_id", a.customer_id},
        {"start_time", format_rfc3339_in(a.start_time, tz)}};
    j.payload = boost::json::serialize(payload);
    j.created_at = now;
    j.due_at = due;
    auto policy = channel_retry_policy();
    j.max_tries = policy.tries;
    j.backoff_s = policy.backoff_s;
    j.timeout_ms = static_cast<std::uint32_t>(policy.timeout.count());
    out.push_back(std::move(j));
  }
  return out;
}

store::result<void> cancel_reminders(store::job_queue* q, store::write_txn& txn,
                                     const std::string& appointment_id) {
  for (const char* k : {"24h", "1h"})
    if (auto r
        = q->cancel_by_key_in(txn, "reminder:" + appointment_id + ":" + k);
        !r)
      return make_unexpected(r.error());
  return {};
}

timestamp_ms parse_change_time(const std::string& v) {
  std::string_view s = v;
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
    s = s.substr(1, s.size() - 2);
  auto t = parse_rfc3339(s);
  return t ? *t : 0;
}

std::string unquote(const std::string& v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
    return v.substr(1, v.size() - 2);
  return v;
}

} // namespace

queued_listener_actor::behavior_type
appointment_event_subscriber(queued_listener_actor::pointer self,
                             listener_context ctx) {
  auto lg = log::get("listeners");
  return {
      [self, ctx](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        auto* proj = ctx.projections;
        auto* queue = ctx.jobs;
        auto now = ctx.clock();
        const auto& company = req.event.company_id;
        effects_fn effects;
        if (req.event.type == "appointment.created") {
          auto ev = event_from<appointment_created>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          auto a = ev->appointment;
          auto reminders = reminder_jobs(zone_of(ctx, req, a), req, a, now);
          effects = [=](store::write_txn& txn) -> store::result<void> {
            if (auto r = proj->put_in(
                    txn,
                    projection_keys::slot(company, a.staff_id, a.start_time),
                    a.id);
                !r)
              return r;
            auto stats = projection_keys::branch_stats(company, a.branch_id);
            if (auto r = proj->add_in(txn, stats + "appointments", 1); !r)
              return r;
            if (auto r
                = proj->add_in(txn, stats + "value_cents", a.price_cents);
                !r)
              return r;
            for (const auto& j : reminders)
              if (auto r = queue->enqueue_in(txn, j); !r)
                return make_unexpected(r.error());
            return {};
          };
        } else if (req.event.type == "appointment.updated") {
          auto ev = event_from<appointment_updated>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          auto a = ev->appointment;
          bool moved = was_rescheduled(*ev);
          bool reassigned = was_reassigned(*ev);
          if (!moved && !reassigned)
            return ok_atom::value;
          auto old_start = a.start_time;
          if (auto i = ev->changes.find("start_time"); i != ev->changes.end())
            old_start = parse_change_time(i->second.old_value);
          auto old_staff = a.staff_id;
          if (auto i = ev->changes.find("staff_id"); i != ev->changes.end())
            old_staff = unquote(i->second.old_value);
          auto reminders
              = moved ? reminder_jobs(zone_of(ctx, req, a), req, a, now)
                      : std::vector<store::job>{};
          std::vector<store::job> notices;
          if (moved) {
            auto c = load_customer(*ctx.events, req.event.company_id,
                                   a.customer_id);
            if (!c)
              return c.error();
            for (const auto& ch : channels_for(*c))
              notices.push_back(channel_job(zone_of(ctx, req, a), req, *c, ch,
                                            a, "rescheduled", now));
          }
          effects = [=](store::write_txn& txn) -> store::result<void> {
            if (auto r = proj->erase_in(
                    txn, projection_keys::slot(company, old_staff, old_start));
                !r)
              return make_unexpected(r.error());
            if (auto r = proj->put_in(
                    txn,
                    projection_keys::slot(company, a.staff_id, a.start_time),
                    a.id);
                !r)
              return r;
            if (moved) {
              if (auto r = cancel_reminders(queue, txn, a.id); !r)
                return r;
              for (const auto& j : reminders)
                if (auto r = queue->enqueue_in(txn, j); !r)
                  return make_unexpected(r.error());
              for (const auto& j : notices)
                if (auto r = queue->enqueue_in(txn, j); !r)
                  return make_unexpected(r.error());
            }
            return {};
          };
        } else if (req.event.type == "appointment.cancelled") {
          auto ev = event_from<appointment_cancelled>(req.event);
          if (!ev)
            return bad_event(req, ev.error());
          auto a = ev->appointment;
          // The customer hears of it on every channel they prefer.
          std::vector<store::job> notices;
          if (auto c
              = load_customer(*ctx.events, req.event.company_id, a.customer_id))
            for (const auto& ch : channels_for(*c))
              notices.push_back(channel_job(zone_of(ctx, req, a), req, *c, ch,
                                            a, "cancelled", now));
          effects = [=](store::write_txn& txn) -> store::result<void> {
            for (const auto& j : notices)
              if (auto r = queue->enqueue_in(txn, j); !r)
                return make_unexpected(r.error());
            if (auto r
                = proj->erase_in(txn, projection_keys::slot(company, a.staff_id,
                                                            a.start_time));
                !r)
              return make_unexpected(r.error());
            if (auto r = proj->add_in(
                    txn,
                    projection_keys::branch_stats(company, a.branch_id)
                        + "cancellations",
                    1);
                !r)
              return r;
            return cancel_reminders(queue, txn, a.id);
          };
        } else {
          return ok_atom::value;
        }
        auto rp = self->make_response_promise<ok_atom>();
        commit_once(self, ctx, req.listener, req.event.id, std::move(effects),
                    rp, {"notifications"});
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        lg->error("appointment subscriber failed on event {} ({}): {}",
                  req.event.id, req.event.type, error);
      },
  };
}

} // namespace switchboard
