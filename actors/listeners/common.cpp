// What the seed's queued listeners share (common.hpp), the customer they
// load, and the projection keys they write.
#include "actors/listeners/common.hpp"

#include "actors/listeners/catch_up.hpp"

#include <messages/aggregate_types.hpp>

#include <map>
#include <optional>

#include <boost/json.hpp>

#include <actors/aggregate_state.hpp>
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

namespace listener_detail {

void write_background(queued_listener_actor::pointer self,
                      const store_writer_actor& writer, store::writer::op_fn op,
                      store::isolation iso,
                      std::function<void(caf::error)> then) {
  self->request(writer, caf::infinite, write_atom::value,
                make_write_op(std::move(op), iso, store::lane::background))
      .then(
          [then](ok_atom) {
            then(caf::error{});
          },
          [then](caf::error& err) {
            then(std::move(err));
          });
}

void commit_once(queued_listener_actor::pointer self,
                 const listener_context& ctx, std::string mark,
                 std::string company, std::string event_id, effects_fn effects,
                 caf::typed_response_promise<ok_atom> rp,
                 std::vector<std::string> wake) {
  auto* processed = ctx.processed;
  auto op = [processed, mark = std::move(mark), company = std::move(company),
             event_id = std::move(event_id), effects = std::move(effects)](
                store::write_txn& txn) -> store::result<void> {
    auto fresh = processed->mark_in(txn, company, mark, event_id);
    if (!fresh)
      return make_unexpected(fresh.error());
    if (!*fresh)
      return {}; // Delivered before: its effects are stored already.
    return effects(txn);
  };
  write_background(
      self, ctx.writer, std::move(op), store::isolation::nested,
      [self, rp, wake, queues = ctx.queues](caf::error err) mutable {
        if (err) {
          rp.deliver(std::move(err));
          return;
        }
        for (const auto& q : wake)
          if (auto i = queues->find(q); i != queues->end())
            self->send(i->second, wake_atom::value);
        rp.deliver(ok_atom::value);
      });
}

void mark_step(queued_listener_actor::pointer self, const listener_context& ctx,
               std::string mark, std::string company, std::string event_id,
               effects_fn effects, std::function<void(caf::error)> then) {
  auto* processed = ctx.processed;
  auto op = [processed, mark = std::move(mark), company = std::move(company),
             event_id = std::move(event_id), effects = std::move(effects)](
                store::write_txn& txn) -> store::result<void> {
    if (auto r = processed->mark_in(txn, company, mark, event_id); !r)
      return make_unexpected(r.error());
    return effects ? effects(txn) : store::result<void>{};
  };
  write_background(self, ctx.writer, std::move(op), store::isolation::validated,
                   std::move(then));
}

store::result<void> enqueue_all_in(store::job_queue& queue,
                                   store::write_txn& txn,
                                   const std::vector<store::job>& jobs) {
  for (const auto& j : jobs)
    if (auto r = queue.enqueue_in(txn, j); !r)
      return make_unexpected(r.error());
  return {};
}

void enqueue_once(queued_listener_actor::pointer self,
                  const listener_context& ctx, const job_request& req,
                  std::vector<store::job> jobs,
                  caf::typed_response_promise<ok_atom> rp) {
  auto* queue = ctx.jobs;
  commit_once(self, ctx, req.listener, req.event.company_id, req.event.id,
              [queue, jobs = std::move(jobs)](store::write_txn& txn) {
                return enqueue_all_in(*queue, txn, jobs);
              },
              std::move(rp), {"notifications"});
}

namespace {

/// Whether the confirmation of the appointment created by `created` was
/// handled: its job's processed mark (a job of a store from before the
/// reader, or an event the reader sent to the job path), or the reader's
/// checkpoint past the event (the events after its first checkpoint are
/// the reader's).
expected<bool, caf::error> confirmation_handled(const listener_context& ctx,
                                                const envelope& created) {
  auto done = ctx.processed->contains(
      created.company_id, listener_names::send_notification, created.id);
  if (!done)
    return make_unexpected(to_caf_error(done.error()));
  if (*done || ctx.projections == nullptr)
    return *done;
  auto cp
      = read_checkpoint(*ctx.projections, listener_names::send_notification);
  if (!cp)
    return make_unexpected(to_caf_error(cp.error()));
  if (!*cp || created.sequence > **cp)
    return false;
  auto first = read_first_checkpoint(*ctx.projections,
                                     listener_names::send_notification);
  if (!first)
    return make_unexpected(to_caf_error(first.error()));
  return !*first || created.sequence > **first;
}

} // namespace

expected<current_appointment, caf::error>
load_current(const listener_context& ctx, const std::string& company,
             const std::string& id, const envelope* known,
             const appointment* known_created, bool confirmation) {
  current_appointment out;
  auto version
      = ctx.events->stream_version(company, aggregates::appointment, id);
  if (!version)
    return make_unexpected(to_caf_error(version.error()));
  if (*version == 0)
    return out;
  // Every appointment event carries the whole appointment, so its last
  // event alone says what it is now: one read, not the stream folded, and
  // none when that event is the job's own.
  auto is_event = [&](const envelope& ev, std::uint64_t v) {
    return ev.version == v && ev.aggregate_id == id && ev.company_id == company
           && ev.aggregate_type == aggregates::appointment;
  };
  auto event_at = [&](std::uint64_t v) -> expected<envelope, caf::error> {
    if (known != nullptr && is_event(*known, v))
      return *known;
    auto read
        = ctx.events->read_stream(company, aggregates::appointment, id, v, 1);
    if (!read)
      return make_unexpected(to_caf_error(read.error()));
    if (read->empty() || !is_event(read->front(), v))
      return make_unexpected(make_runtime_error(
          runtime_errc::storage,
          "appointment " + id + " has no event " + std::to_string(v)));
    return std::move(read->front());
  };
  auto last = event_at(*version);
  if (!last)
    return make_unexpected(last.error());
  out.exists = true;
  if (known_created != nullptr && known != nullptr && is_event(*known, *version)
      && known->type == event_traits<appointment_created>::wire_name) {
    out.appt = *known_created; // decoded by the caller already
  } else {
    aggregate_state st;
    apply_event(st, *last);
    out.appt = std::move(st.appt);
  }
  if (!confirmation)
    return out;
  auto first = *version == 1 ? std::move(last) : event_at(1);
  if (!first)
    return make_unexpected(first.error());
  auto handled = confirmation_handled(ctx, *first);
  if (!handled)
    return make_unexpected(handled.error());
  out.confirmation_handled = *handled;
  return out;
}

caf::error bad_event(const job_request& req, const decode_error& err) {
  return make_runtime_error(runtime_errc::invalid_argument,
                            "event " + req.event.id + " (" + req.event.type
                                + "): " + err.field + ": " + err.message);
}

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

std::string idempotency_key(const envelope& event, std::string_view what) {
  std::string k;
  k.reserve(event.company_id.size() + event.id.size() + what.size() + 2);
  k.append(event.company_id).append(1, ':').append(event.id).append(1, ':');
  k.append(what);
  return k;
}

std::string day_of(timestamp_ms t) {
  return format_rfc3339(t).substr(0, 10);
}

time_zone zone_of(const listener_context& ctx, const job_request& req,
                  const appointment& a) {
  return zone_at(ctx.tenants, req.event.company_id, a.branch_id);
}

store::job channel_job(const time_zone& tz, const job_request& req,
                       const customer& c, const std::string& channel,
                       const appointment& a, const std::string& kind,
                       timestamp_ms now) {
  auto j = notification_job(req, "notify." + channel, now, now);
  j.payload = boost::json::serialize(channel_payload(tz, c, channel, a, kind));
  return j;
}

boost::json::object channel_payload(const time_zone& tz, const customer& c,
                                    const std::string& channel,
                                    const appointment& a,
                                    const std::string& kind) {
  return boost::json::object{
      {"kind", kind},
      {"channel", channel},
      {"recipient", recipient_for(c, channel)},
      {"customer_name", c.name},
      {"appointment_id", a.id},
      {"start_time", format_rfc3339_in(a.start_time, tz)},
  };
}

store::job notification_job(const job_request& req, std::string listener,
                            timestamp_ms now, timestamp_ms due) {
  store::job j;
  j.queue = "notifications";
  j.listener = std::move(listener);
  j.event_id = req.event.id;
  j.correlation_id = req.event.metadata.correlation_id;
  j.event_seq = req.event.sequence;
  j.company_id = req.event.company_id;
  j.event_type = req.event.type;
  j.created_at = now;
  j.due_at = due;
  auto policy = channel_retry_policy();
  j.max_tries = policy.tries;
  j.backoff_s = policy.backoff_s;
  j.timeout_ms = static_cast<std::uint32_t>(policy.timeout.count());
  return j;
}

std::string message_body(const boost::json::object& p) {
  auto kind = str_of(p, "kind");
  auto name = str_of(p, "customer_name");
  auto when = str_of(p, "start_time");
  if (kind == "rescheduled")
    return "Hello " + name + ", your appointment was moved to " + when + ".";
  if (kind == "cancelled")
    return "Hello " + name + ", your appointment at " + when
           + " was cancelled.";
  if (kind == "follow_up") {
    auto alternatives = str_of(p, "alternatives");
    return "Hello " + name
           + ", we could not book the appointment you asked for on your "
             "call. "
           + (alternatives.empty()
                  ? std::string{"We will get back to you with other times."}
                  : "Free times: " + alternatives + ".");
  }
  if (kind == "thank_you")
    return "Hello " + name + ", thank you for your visit at " + when
           + ". We hope to see you again.";
  if (kind == "reminder")
    return "Hello " + name + ", a reminder of your appointment at " + when
           + ".";
  return "Hello " + name + ", your appointment at " + when + " is confirmed.";
}

namespace {

/// The subject of a message of `kind` (an email's; other channels have
/// none).
std::string subject_of(const std::string& kind) {
  static const std::map<std::string, std::string> subjects{
      {"rescheduled", "Appointment moved"},
      {"cancelled", "Appointment cancelled"},
      {"follow_up", "About your call"},
      {"thank_you", "Thank you for your visit"},
  };
  auto i = subjects.find(kind);
  return i == subjects.end() ? "Appointment confirmed" : i->second;
}

} // namespace

store::outbound_message customer_message(const envelope& event,
                                         const std::string& listener,
                                         const boost::json::object& payload,
                                         timestamp_ms now,
                                         std::string causation) {
  store::outbound_message m;
  m.channel = str_of(payload, "channel");
  m.recipient = str_of(payload, "recipient");
  m.subject = subject_of(str_of(payload, "kind"));
  m.body = message_body(payload);
  m.company_id = event.company_id;
  m.event_id = event.id;
  m.idempotency_key = idempotency_key(event, listener);
  m.created_at = now;
  m.correlation_id = event.metadata.correlation_id;
  m.causation_id = std::move(causation);
  return m;
}

} // namespace listener_detail

store::result<void> queue_call_in(store::write_txn& txn,
                                  store::message_outbox& outbox,
                                  store::processed_set& processed,
                                  const outbound_call& call, timestamp_ms now) {
  if (!call.mark.empty()) {
    auto fresh
        = processed.mark_in(txn, call.company_id, call.mark, call.mark_event);
    if (!fresh)
      return make_unexpected(fresh.error());
    if (!*fresh)
      return {}; // the step was done before: no second message
  }
  store::outbound_message m;
  m.channel = call.target;
  m.recipient = call.operation;
  m.body = call.body;
  m.idempotency_key = call.idempotency_key;
  m.company_id = call.company_id;
  m.event_id = call.mark_event;
  m.created_at = now;
  if (auto r = outbox.add_in(txn, std::move(m)); !r)
    return make_unexpected(r.error());
  return {};
}

retry_policy channel_retry_policy() {
  retry_policy p;
  p.tries = 3;
  p.backoff_s = {5, 30};
  p.timeout = std::chrono::seconds(30);
  return p;
}

expected<customer, caf::error> load_customer(const store::event_store& events,
                                             const std::string& company_id,
                                             const std::string& id) {
  auto stream
      = events.read_stream(company_id, aggregates::customer, id, 1, 100000);
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
  for (const auto& ev : *stream)
    if (auto change = customer_change_of(ev);
        change && (change->merged_away.empty() || change->now.id == id))
      c = std::move(change->now);
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

} // namespace switchboard
