// AppointmentEventSubscriber: staff slots, branch stats and reminders,
// kept as appointments are booked, moved and cancelled.
#include "actors/listeners/appointment_subscriber.hpp"

#include "actors/listeners/catch_up.hpp"
#include "actors/listeners/common.hpp"

#include <optional>

#include <boost/json.hpp>

#include <actors/aggregates.hpp>
#include <actors/branches.hpp>
#include <actors/calcom.hpp>
#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/event_visit.hpp>
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
    auto j = notification_job(req, name, now, due);
    j.unique_key
        = "reminder:" + a.id + ":" + (before == hour_ms ? "1h" : "24h");
    boost::json::object payload{
        {"appointment_id", a.id},
        {"customer_id", a.customer_id},
        {"start_time", format_rfc3339_in(a.start_time, tz)}};
    j.payload = boost::json::serialize(payload);
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

/// Marks the slot of `a` (its staff member at its start) taken by it.
store::result<void> take_slot(store::projections* proj, store::write_txn& txn,
                              const std::string& company,
                              const appointment& a) {
  return proj->put_in(
      txn, projection_keys::slot(company, a.staff_id, a.start_time), a.id);
}

/// Frees the slot of `staff` at `start`.
store::result<void> free_slot(store::projections* proj, store::write_txn& txn,
                              const std::string& company,
                              const std::string& staff, timestamp_ms start) {
  if (auto r
      = proj->erase_in(txn, projection_keys::slot(company, staff, start));
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

/// The effects of the job of `req` (none when its event changes nothing
/// here), or why the job fails.
expected<effects_fn, caf::error> subscriber_effects(const listener_context& ctx,
                                                    const job_request& req) {
  auto* proj = ctx.projections;
  auto* queue = ctx.jobs;
  auto now = ctx.clock();
  const auto& company = req.event.company_id;
  effects_fn effects;
  caf::error failure;
  auto visited = visit_event_checked(
      req.event,
      overloaded{
          [&](const appointment_created& ev) {
            auto a = ev.appointment;
            auto reminders = reminder_jobs(zone_of(ctx, req, a), req, a, now);
            effects = [=](store::write_txn& txn) -> store::result<void> {
              if (auto r = take_slot(proj, txn, company, a); !r)
                return r;
              auto stats = projection_keys::branch_stats(company, a.branch_id);
              if (auto r = proj->add_in(txn, stats + "appointments", 1); !r)
                return r;
              if (auto r
                  = proj->add_in(txn, stats + "value_cents", a.price_cents);
                  !r)
                return r;
              return enqueue_all_in(*queue, txn, reminders);
            };
          },
          [&](const appointment_updated& ev) {
            auto a = ev.appointment;
            bool moved = was_rescheduled(ev);
            bool reassigned = was_reassigned(ev);
            if (!moved && !reassigned)
              return;
            auto old_start = a.start_time;
            if (auto i = ev.changes.find("start_time"); i != ev.changes.end())
              old_start = parse_change_time(i->second.old_value);
            auto old_staff = a.staff_id;
            if (auto i = ev.changes.find("staff_id"); i != ev.changes.end())
              old_staff = unquote(i->second.old_value);
            // A move: new reminders, then a notice on each channel.
            std::vector<store::job> jobs;
            if (moved) {
              auto tz = zone_of(ctx, req, a);
              jobs = reminder_jobs(tz, req, a, now);
              auto c = customer_of(ctx, req.event.company_id, a.customer_id);
              if (!c) {
                failure = c.error();
                return;
              }
              for (const auto& ch : channels_for(*c))
                jobs.push_back(
                    channel_job(tz, req, *c, ch, a, "rescheduled", now));
            }
            effects = [=](store::write_txn& txn) -> store::result<void> {
              if (auto r = free_slot(proj, txn, company, old_staff, old_start);
                  !r)
                return r;
              if (auto r = take_slot(proj, txn, company, a); !r)
                return r;
              if (!moved)
                return {};
              if (auto r = cancel_reminders(queue, txn, a.id); !r)
                return r;
              return enqueue_all_in(*queue, txn, jobs);
            };
          },
          [&](const appointment_cancelled& ev) {
            auto a = ev.appointment;
            // The customer hears of it on every channel they prefer.
            std::vector<store::job> notices;
            if (auto c
                = customer_of(ctx, req.event.company_id, a.customer_id)) {
              auto tz = zone_of(ctx, req, a);
              for (const auto& ch : channels_for(*c))
                notices.push_back(
                    channel_job(tz, req, *c, ch, a, "cancelled", now));
            }
            effects = [=](store::write_txn& txn) -> store::result<void> {
              if (auto r = enqueue_all_in(*queue, txn, notices); !r)
                return r;
              if (auto r
                  = free_slot(proj, txn, company, a.staff_id, a.start_time);
                  !r)
                return r;
              if (auto r = proj->add_in(
                      txn,
                      projection_keys::branch_stats(company, a.branch_id)
                          + "cancellations",
                      1);
                  !r)
                return r;
              return cancel_reminders(queue, txn, a.id);
            };
          },
      });
  if (!visited)
    return make_unexpected(bad_event(req, visited.error()));
  if (failure)
    return make_unexpected(std::move(failure));
  return effects;
}

} // namespace

catch_up_deps subscriber_catch_up(const listener_context& ctx,
                                  const queued_listener_spec& spec,
                                  const listener_registry& reg) {
  auto d = catch_up_deps_of(
      ctx, spec, reg,
      [ctx,
       spec](const envelope& ev) -> expected<catch_up_effect, decode_error> {
        auto req = reader_request(spec, ev);
        catch_up_effect e;
        auto effects = subscriber_effects(ctx, req);
        if (!effects)
          e.as_job = true; // fails there, with its tries and failed()
        else if (*effects)
          e.writes.push_back(std::move(*effects));
        return e;
      });
  d.wake = {"notifications"};
  // No reminders or notices for history, nor for a moved company's
  // events (its jobs moved with it).
  d.skips_brought_in = true;
  return d;
}

queued_listener_actor::behavior_type
appointment_event_subscriber(queued_listener_actor::pointer self,
                             listener_context ctx) {
  auto lg = log::get(log::subsystem::listeners);
  return listener_behavior(
      [self, ctx](const job_request& req) -> caf::result<ok_atom> {
        auto effects = subscriber_effects(ctx, req);
        if (!effects)
          return effects.error();
        if (!*effects)
          return ok_atom::value;
        auto rp = self->make_response_promise<ok_atom>();
        commit_once(self, ctx, req.listener, req.event.company_id, req.event.id,
                    std::move(*effects), rp, {"notifications"});
        return rp;
      },
      [lg](const job_request& req, const std::string& error) {
        lg->error("appointment subscriber failed on event {} ({}): {}",
                  req.event.id, req.event.type, error);
      });
}

namespace listeners {

queued_listener_component appointment_subscriber() {
  auto c = listener_of<switchboard::appointment_event_subscriber,
                       appointment_created, appointment_updated,
                       appointment_cancelled>(ln::appointment_subscriber,
                                              "default", 3, {1, 10});
  // Also the jobs a store made before, one job listener per event type.
  c.served = [](const listener_registry&, const queued_listener_spec& spec) {
    std::vector<std::string> out{spec.name};
    for (auto type : {event_traits<appointment_created>::wire_name,
                      event_traits<appointment_updated>::wire_name,
                      event_traits<appointment_cancelled>::wire_name})
      out.push_back(spec.name + "@" + std::string{type});
    return out;
  };
  c.spec.catch_up = true;
  c.spawn_catch_up = spawn_reader<subscriber_catch_up>;
  return c;
}

} // namespace listeners

} // namespace switchboard
