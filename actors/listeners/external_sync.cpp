// SyncWithExternalServices: the CRM, the calendar and Cal.com, a step
// at a time, each step marked once done.
#include "actors/listeners/external_sync.hpp"

#include <messages/aggregate_types.hpp>

#include "actors/listeners/catch_up.hpp"
#include "actors/listeners/common.hpp"

#include <algorithm>
#include <optional>

#include <boost/json.hpp>

#include <actors/aggregates.hpp>
#include <actors/branches.hpp>
#include <actors/calcom.hpp>
#include <actors/calendar_commands.hpp>
#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/event_visit.hpp>
#include <actors/local_only.hpp>
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

/// Marks step `i` done for the event (unless the outbox endpoint marked
/// it with the message it queued), then runs the next.
void step_done(queued_listener_actor::pointer self, listener_context ctx,
               endpoint_actor endpoint, std::string listener,
               std::string event_id, step_list steps, std::size_t i,
               caf::typed_response_promise<ok_atom> rp) {
  auto* processed = ctx.processed;
  auto mark = listener + "." + (*steps)[i].name;
  const auto& company = (*steps)[i].company;
  if (auto marked = processed->contains(company, mark, event_id);
      marked && *marked) {
    run_steps(self, ctx, endpoint, listener, event_id, steps, i + 1, rp);
    return;
  }
  mark_step(
      self, ctx, mark, company, event_id, nullptr, [=](caf::error err) mutable {
        if (err)
          rp.deliver(std::move(err));
        else
          run_steps(self, ctx, endpoint, listener, event_id, steps, i + 1, rp);
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
  auto cmd = decode_command<link_calcom_booking>(
      boost::json::object{{"calcom_uid", uid}}, std::move(ref));
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

/// Whether `s` goes straight to the outbox: its target has no provider,
/// and it does not act on the stored booking uid.
bool to_outbox(const listener_context& ctx, const sync_step& s) {
  return ctx.provider_targets && !s.needs_uid
         && ctx.provider_targets->count(s.call.target) == 0;
}

/// How many steps from `i` on go straight to the outbox (`to_outbox`).
std::size_t outbox_run(const listener_context& ctx,
                       const std::vector<sync_step>& steps, std::size_t i) {
  std::size_t n = 0;
  while (i + n < steps.size() && to_outbox(ctx, steps[i + n]))
    ++n;
  return n;
}

/// Writes the `n` outbox-bound steps from `i` on (see `outbox_run`) in
/// one transaction, each message with its step's mark (a step marked
/// already writes nothing, one whose answer was recorded is only marked),
/// then runs the rest: one commit for them all, where asking the endpoint
/// costs one for each.
void queue_steps(queued_listener_actor::pointer self, listener_context ctx,
                 endpoint_actor endpoint, std::string listener,
                 std::string event_id, step_list steps, std::size_t i,
                 std::size_t n, caf::typed_response_promise<ok_atom> rp) {
  std::vector<outbound_call> calls;
  std::vector<std::pair<std::string, std::string>> marks_only; // company, mark
  for (std::size_t k = i; k < i + n; ++k) {
    const auto& step = (*steps)[k];
    auto mark = listener + "." + step.name;
    if (!step.link_event_id.empty()
        && ctx.events->find_event(step.company, step.link_event_id)) {
      // The answer was recorded before an ack was lost: done.
      marks_only.emplace_back(step.company, std::move(mark));
      continue;
    }
    auto call = step.call;
    call.mark = std::move(mark);
    call.mark_event = event_id;
    call.company_id = step.company;
    calls.push_back(std::move(call));
  }
  auto* outbox = ctx.outbox;
  auto* processed = ctx.processed;
  auto op = [outbox, processed, calls = std::move(calls),
             marks_only = std::move(marks_only), event_id,
             now = ctx.clock()](store::write_txn& txn) -> store::result<void> {
    for (const auto& [company, mark] : marks_only)
      if (auto r = processed->mark_in(txn, company, mark, event_id); !r)
        return make_unexpected(r.error());
    for (const auto& call : calls)
      if (auto r = queue_call_in(txn, *outbox, *processed, call, now); !r)
        return r;
    return {};
  };
  write_background(
      self, ctx.writer, std::move(op), store::isolation::nested,
      [=](caf::error err) mutable {
        if (err)
          rp.deliver(
              make_runtime_error(runtime_errc::listener_failed,
                                 "external sync not queued: " + describe(err)));
        else
          run_steps(self, ctx, endpoint, listener, event_id, steps, i + n, rp);
      });
}

void run_steps(queued_listener_actor::pointer self, listener_context ctx,
               endpoint_actor endpoint, std::string listener,
               std::string event_id, step_list steps, std::size_t i,
               caf::typed_response_promise<ok_atom> rp) {
  while (i < steps->size()) {
    auto mark = listener + "." + (*steps)[i].name;
    auto done = ctx.processed->contains((*steps)[i].company, mark, event_id);
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
  if (auto n = outbox_run(ctx, *steps, i); n > 0) {
    queue_steps(self, ctx, endpoint, listener, event_id, steps, i, n, rp);
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
      auto st = load_aggregate(*ctx.events, aggregates::appointment, company,
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
        auto created = ctx.events->read_stream(company, aggregates::appointment,
                                               step.appointment_id, 1, 1);
        bool pending = false;
        if (created && !created->empty()) {
          auto c = ctx.processed->contains(company, listener + ".calcom",
                                           created->front().id);
          pending = is_a<appointment_created>(created->front()) && (!c || !*c);
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
  // An endpoint that only queues the call marks the step with it.
  step.call.mark = listener + "." + step.name;
  step.call.mark_event = event_id;
  step.call.company_id = company;
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

/// The steps that sync `event` with the external services, into `steps`:
/// the decode error when it does not decode, else whether it is an event
/// this listener syncs.
expected<bool, decode_error> plan_steps(const listener_context& ctx,
                                        const envelope& event,
                                        std::vector<sync_step>& steps) {
  // Changes that came from Cal.com are not sent back to it.
  bool from_calcom = event.metadata.source == "calcom";
  auto link_id = [&event] {
    return derived_id("calcom-link\n" + event.id);
  };
  return visit_event_checked(
      event,
      overloaded{
          [&](const appointment_created& ev) {
            auto body = to_json_text(ev.appointment);
            if (ev.source != "calcom" && !from_calcom) {
              // Cal.com wants an attendee (the customer, when it can be
              // read) and the event type mapped to the service.
              auto create = body;
              if (auto c = customer_of(ctx, event.company_id,
                                       ev.appointment.customer_id))
                append_member(create, "customer", to_json_text(*c));
              append_string_member(create, "time_zone",
                                   zone_at(ctx.tenants, event.company_id,
                                           ev.appointment.branch_id)
                                       .name());
              auto type_id = mapped_event_type(ctx, event.company_id,
                                               ev.appointment.service_id);
              if (!type_id.empty())
                append_string_member(create, "event_type_id", type_id);
              steps.emplace_back("calcom",
                                 outbound_call{"calcom", "booking.create",
                                               idempotency_key(event, "calcom"),
                                               std::move(create)},
                                 ev.appointment.id, link_id(), false);
            }
            steps.push_back({"crm",
                             {"crm", "appointment.upsert",
                              idempotency_key(event, "crm"), body}});
          },
          [&](const appointment_updated& ev) {
            // Changes reach the CRM with the same retries as the booking; a
            // new time reaches Cal.com by the booking uid kept on the
            // appointment.
            auto body = to_json_text(ev.appointment);
            if (!from_calcom && ev.changes.count("start_time") > 0)
              steps.push_back(
                  {"calcom",
                   {"calcom", "booking.reschedule",
                    idempotency_key(event, "calcom"),
                    boost::json::serialize(boost::json::object{
                        {"start", format_rfc3339(ev.appointment.start_time)}})},
                   ev.appointment.id,
                   link_id(),
                   true});
            steps.push_back({"crm",
                             {"crm", "appointment.upsert",
                              idempotency_key(event, "crm"), body}});
          },
          [&](const appointment_cancelled& ev) {
            auto body = to_json_text(ev.appointment);
            append_string_member(body, "cancellation_reason", ev.reason);
            if (!from_calcom)
              steps.push_back({"calcom",
                               {"calcom", "booking.cancel",
                                idempotency_key(event, "calcom"),
                                boost::json::serialize(boost::json::object{
                                    {"reason", ev.reason}})},
                               ev.appointment.id,
                               {},
                               true});
            steps.push_back({"crm",
                             {"crm", "appointment.upsert",
                              idempotency_key(event, "crm"), body}});
          },
          [&](const customer_updated& ev) {
            steps.push_back(
                {"crm",
                 {"crm", "customer.upsert", idempotency_key(event, "crm"),
                  to_json_text(ev.customer)}});
          },
      });
}

} // namespace

expected<catch_up_effect, decode_error>
external_sync_effect(const listener_context& ctx, const std::string& listener,
                     const envelope& event) {
  std::vector<sync_step> steps;
  auto planned = plan_steps(ctx, event, steps);
  if (!planned)
    return make_unexpected(planned.error());
  catch_up_effect e;
  if (!*planned || steps.empty())
    return e;
  // Every step the outbox takes is written by the reader, in log order
  // (so a target's messages keep the order of their events); the rest
  // need the job path, which skips the steps marked here.
  e.as_job = !std::all_of(steps.begin(), steps.end(), [&](const auto& step) {
    return to_outbox(ctx, step);
  });
  for (auto& step : steps) {
    if (!to_outbox(ctx, step))
      continue;
    auto call = std::move(step.call);
    call.mark_event = event.id;
    call.company_id = event.company_id;
    // A Cal.com create keeps its mark: a later change asks it whether
    // the create is still pending.
    if (e.as_job || !step.link_event_id.empty())
      call.mark = listener + "." + step.name;
    e.calls.push_back(std::move(call));
  }
  return e;
}

catch_up_deps external_sync_catch_up(const listener_context& ctx,
                                     const queued_listener_spec& spec,
                                     const listener_registry& reg) {
  auto d = catch_up_deps_of(ctx, spec, reg,
                            [ctx, listener = spec.name](const envelope& ev) {
                              return external_sync_effect(ctx, listener, ev);
                            });
  // Synced where it came from, or history.
  d.skips_brought_in = true;
  return d;
}

queued_listener_actor::behavior_type
sync_with_external_services(queued_listener_actor::pointer self,
                            listener_context ctx, endpoint_actor endpoint) {
  auto lg = log::get(log::subsystem::listeners);
  return {
      [self, ctx, endpoint](handle_atom,
                            const job_request& req) -> caf::result<ok_atom> {
        auto steps = std::make_shared<std::vector<sync_step>>();
        auto planned = plan_steps(ctx, req.event, *steps);
        if (!planned)
          return bad_event(req, planned.error());
        if (!*planned)
          return ok_atom::value;
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

namespace listeners {

queued_listener_component external_sync() {
  queued_listener_component c;
  c.spec.name = ln::external_sync;
  c.spec.queue = "default";
  c.spec.retry.tries = 5;
  c.spec.retry.backoff_s = {10, 30, 60, 120, 300};
  c.spec.retry.timeout = std::chrono::seconds(30);
  c.add = listens_to<appointment_created, appointment_updated,
                     appointment_cancelled, customer_updated>;
  c.spawn = [](caf::actor_system& sys, const listener_context& ctx,
               const endpoint_actor& external) {
    return spawn_local(sys, sync_with_external_services, ctx, external);
  };
  c.spec.catch_up = true;
  c.spawn_catch_up = spawn_reader<external_sync_catch_up>;
  return c;
}

} // namespace listeners

} // namespace switchboard
