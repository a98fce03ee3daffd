// UpdateAnalytics: the counters of appointments, calls and customers,
// per company and day.
#include "actors/listeners/update_analytics.hpp"

#include "actors/listeners/catch_up.hpp"
#include "actors/listeners/common.hpp"

#include <algorithm>
#include <iterator>
#include <map>
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

// -- UpdateAnalytics
// ------------------------------------------------------------

expected<std::vector<std::pair<std::string, std::int64_t>>, decode_error>
analytics_deltas(const envelope& event) {
  std::vector<std::pair<std::string, std::int64_t>> deltas;
  const auto& company = event.company_id;
  auto visited = visit_event_checked(
      event,
      overloaded{
          [&](const appointment_created& ev) {
            const auto& a = ev.appointment;
            auto base = projection_keys::analytics("appointments", company);
            auto lead_h = (a.start_time - event.occurred_at) / hour_ms;
            deltas = {{base + "count", 1},
                      {base + "branch=" + a.branch_id, 1},
                      {base + "service=" + a.service_id, 1},
                      {base + "staff=" + a.staff_id, 1},
                      {base + "source="
                           + (ev.source.empty() ? text("unknown") : ev.source),
                       1},
                      {base + "day=" + day_of(event.occurred_at), 1},
                      {base + "value_cents", a.price_cents},
                      {base + "lead_time_hours_sum", lead_h}};
          },
          [&](const appointment_completed& ev) {
            auto base = projection_keys::analytics("appointments", company);
            deltas = {
                {base + "completed", 1},
                {base + "completed_value_cents", ev.appointment.price_cents}};
          },
          [&](const call_completed& ev) {
            auto base = projection_keys::analytics("calls", company);
            deltas = {
                {base + "count", 1},
                {base + "sentiment=" + sentiment(ev), 1},
                {base + "booking_intent", has_appointment_request(ev) ? 1 : 0}};
          },
          [&](const customer_created& ev) {
            auto base = projection_keys::analytics("customers", company);
            auto names = enum_names(ev.source);
            deltas = {
                {base + "count", 1},
                {base + "source="
                     + std::string{names[static_cast<std::size_t>(ev.source)]},
                 1}};
          },
      });
  if (!visited)
    return make_unexpected(visited.error());
  return deltas;
}

namespace {

/// Jobs whose deltas go into one write: many jobs' counters folded into
/// one add per key, each job's processed mark beside them.
constexpr std::size_t max_folded_jobs = 512;

/// Writes of folded jobs in flight: one is being synced while the next
/// fills up.
constexpr std::uint32_t max_fold_writes = 2;

using self_ptr = queued_listener_actor::stateful_pointer<analytics_state>;

void write_folded(self_ptr self) {
  auto& st = self->state;
  if (st.waiting.empty() || st.writes_in_flight >= max_fold_writes)
    return;
  auto batch = std::make_shared<std::vector<folded_job>>();
  auto n = std::min(st.waiting.size(), max_folded_jobs);
  batch->assign(std::make_move_iterator(st.waiting.begin()),
                std::make_move_iterator(st.waiting.begin() + n));
  st.waiting.erase(st.waiting.begin(), st.waiting.begin() + n);
  ++st.writes_in_flight;
  auto* proj = st.ctx.projections;
  auto* processed = st.ctx.processed;
  auto op
      = [proj, processed, batch](store::write_txn& txn) -> store::result<void> {
    // A job marked before (delivered again after a lost ack) adds nothing.
    std::map<std::string, std::int64_t> sums;
    for (const auto& j : *batch) {
      auto fresh = processed->mark_in(txn, j.company, j.listener, j.event_id);
      if (!fresh)
        return make_unexpected(fresh.error());
      if (*fresh)
        for (const auto& [key, delta] : j.deltas)
          sums[key] += delta;
    }
    for (const auto& [key, delta] : sums)
      if (auto r = proj->add_in(txn, key, delta); !r)
        return r;
    return {};
  };
  auto done = [self, batch](caf::error err) {
    for (auto& j : *batch) {
      if (err)
        j.rp.deliver(err);
      else
        j.rp.deliver(ok_atom::value);
    }
    --self->state.writes_in_flight;
    write_folded(self);
  };
  // Nested: nothing of the batch stays when a step fails.
  write_background(self, st.ctx.writer, std::move(op), store::isolation::nested,
                   std::move(done));
}

} // namespace

queued_listener_actor::behavior_type update_analytics(self_ptr self,
                                                      listener_context ctx) {
  self->state.ctx = std::move(ctx);
  auto lg = log::get(log::subsystem::listeners);
  return {
      [self](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        auto computed = analytics_deltas(req.event);
        if (!computed)
          return bad_event(req, computed.error());
        if (computed->empty())
          return ok_atom::value;
        // An event after the first checkpoint is the log reader's: it
        // counted it (a job of it that runs again, retried by hand, adds
        // nothing). The jobs made before the reader's first start count
        // their events here, once each by their processed marks.
        auto& st = self->state;
        if (!st.first_checkpoint) {
          auto first = read_first_checkpoint(*st.ctx.projections, req.listener);
          if (!first)
            return make_runtime_error(runtime_errc::storage,
                                      store::to_string(first.error()));
          st.first_checkpoint = first->value_or(UINT64_MAX);
        }
        if (req.event.sequence > *st.first_checkpoint)
          return ok_atom::value;
        auto rp = self->make_response_promise<ok_atom>();
        self->state.waiting.push_back({req.listener, req.event.company_id,
                                       req.event.id, std::move(*computed), rp});
        write_folded(self);
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        lg->error("analytics for event {} failed: {}", req.event.id, error);
      },
  };
}

catch_up_deps analytics_catch_up(const listener_context& ctx,
                                 const queued_listener_spec& spec,
                                 const listener_registry& reg) {
  return catch_up_deps_of(
      ctx, spec, reg,
      [](const envelope& ev) -> expected<catch_up_effect, decode_error> {
        auto deltas = analytics_deltas(ev);
        if (!deltas)
          return make_unexpected(deltas.error());
        catch_up_effect e;
        e.counters = std::move(*deltas);
        return e;
      });
}

namespace listeners {

queued_listener_component update_analytics() {
  auto c = listener_of<switchboard::update_analytics, appointment_created,
                       appointment_completed, call_completed, customer_created>(
      ln::update_analytics, "analytics", 3, {1, 5});
  c.spec.catch_up = true;
  c.counters_prefix = "analytics/";
  c.spawn_catch_up = spawn_reader<analytics_catch_up>;
  return c;
}

} // namespace listeners

} // namespace switchboard
