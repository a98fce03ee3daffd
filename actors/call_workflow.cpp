// The call workflow: the call actor (one per call, the state machine of
// actors/call_workflow.hpp) and the follow-up listener. The call's ids and
// state are in actors/call_record.cpp.
#include "actors/call_workflow.hpp"

#include <messages/aggregate_types.hpp>

#include <actors/aggregate_state.hpp>
#include <actors/listeners/common.hpp>
#include <actors/local_only.hpp>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>

#include <boost/json.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/calendar_commands.hpp>
#include <actors/errors.hpp>
#include <actors/event_visit.hpp>
#include <actors/idle_watch.hpp>
#include <actors/listener_registry.hpp>
#include <actors/log.hpp>
#include <actors/payload.hpp>
#include <messages/ids.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/processed.hpp>

namespace switchboard {

// -- the call actor -----------------------------------------------------------

namespace {

caf::error conflict_in(const call_record& rec) {
  return make_runtime_error(runtime_errc::conflict,
                            "call " + rec.call.id + " is in state "
                                + std::string{to_string(rec.call.state)});
}

struct pending_command {
  aggregate_command cmd;
  caf::typed_response_promise<command_result> rp;
};

struct call_actor_state {
  call_record rec;
  aggregate_deps deps;
  router_actor router;
  /// Commands wait here while one is in flight (the analyze step talks to
  /// other aggregates asynchronously): one command at a time per call.
  std::deque<pending_command> queue;
  bool busy = false;
  idle_watch idle;
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "call";
};

using call_ptr = aggregate_actor::stateful_pointer<call_actor_state>;

void process_next(call_ptr self);

/// Ends the current command: answers and moves on to the next one.
void finish(call_ptr self, caf::typed_response_promise<command_result> rp,
            expected<command_result, caf::error> res) {
  if (res)
    rp.deliver(std::move(*res));
  else
    rp.deliver(std::move(res.error()));
  self->state.busy = false;
  process_next(self);
}

command_result result_of(const call_record& rec,
                         std::vector<std::uint64_t> seqs, bool created) {
  return command_result{rec.call.id, rec.version, std::move(seqs),
                        render_call(rec), created};
}

/// The id of event number `n` of a command: the delivery's event id for the
/// first, ids derived from it for the others; fresh ids without one.
std::string event_id_of(const std::string& base, const char* what) {
  if (base.empty())
    return new_event_id();
  if (std::string_view{what}.empty())
    return base;
  return derived_id(base + "\n" + what);
}

/// Stores and dispatches `events` on the call stream; `then` gets the
/// sequences (the record is reloaded), or the error.
void append(
    call_ptr self, std::vector<envelope> events,
    std::function<void(expected<std::vector<std::uint64_t>, caf::error>)>
        then) {
  auto& s = self->state;
  dispatch_request req;
  req.typed = true; // data serialized from typed events
  req.events = std::move(events);
  req.expect = s.rec.version == 0 ? expect_kind::no_stream : expect_kind::exact;
  req.expected_version = s.rec.version;
  self->request(s.deps.dispatcher, caf::infinite, dispatch_atom::value,
                std::move(req))
      .then(
          [self, then](const dispatch_result& res) {
            auto& s = self->state;
            if (auto fresh = load_call(*s.deps.events, s.rec.call.company_id,
                                       s.rec.call.id))
              s.rec = std::move(*fresh);
            then(res.sequences);
          },
          [self, then](caf::error& err) {
            auto& s = self->state;
            if (auto fresh = load_call(*s.deps.events, s.rec.call.company_id,
                                       s.rec.call.id))
              s.rec = std::move(*fresh);
            then(make_unexpected(std::move(err)));
          });
}

template <class E>
envelope wrap(call_ptr self, const E& e, const aggregate_command& cmd,
              std::string id) {
  auto& rec = self->state.rec;
  return make_envelope(e, rec.call.id, 0, rec.call.company_id,
                       self->state.deps.clock(), cmd.metadata, std::move(id));
}

void book(call_ptr self, aggregate_command cmd,
          caf::typed_response_promise<command_result> rp,
          std::vector<std::uint64_t> seqs, std::string base_id);

/// Days searched for alternatives, from the requested day on.
constexpr int alternative_days = 7;
/// Alternatives a follow-up offers.
constexpr std::size_t max_alternatives = 3;

/// Free start times of the requested staff member and service, read day by
/// day through the router (the calendar's availability) from `day` on,
/// until `max_alternatives` are found or `alternative_days` were read;
/// `k` gets the ones nearest to `preferred`, in time order. An unknown
/// staff member or service, or any error, ends the search with what it has.
void find_alternatives(call_ptr self, std::string staff, std::string service,
                       timestamp_ms preferred, timestamp_ms day, int days_left,
                       std::vector<timestamp_ms> found,
                       std::function<void(std::vector<timestamp_ms>)> k) {
  auto finish = [preferred](std::vector<timestamp_ms> all) {
    std::sort(all.begin(), all.end(), [preferred](auto x, auto y) {
      return std::llabs(x - preferred) < std::llabs(y - preferred);
    });
    if (all.size() > max_alternatives)
      all.resize(max_alternatives);
    std::sort(all.begin(), all.end());
    return all;
  };
  if (days_left == 0 || found.size() >= max_alternatives) {
    k(finish(std::move(found)));
    return;
  }
  auto& s = self->state;
  auto date = format_rfc3339(day).substr(0, 10);
  self->request(s.router, caf::infinite, availability_atom::value,
                s.rec.call.company_id, staff, service, date)
      .then(
          [=](const std::string& answer) mutable {
            boost::json::error_code ec;
            auto v = boost::json::parse(answer, ec);
            if (!ec && v.is_object())
              if (auto* slots = v.as_object().if_contains("slots");
                  slots && slots->is_array())
                for (const auto& slot : slots->get_array())
                  if (slot.is_string())
                    if (auto t = parse_rfc3339(slot.get_string()))
                      found.push_back(*t);
            find_alternatives(self, std::move(staff), std::move(service),
                              preferred, day + 86400000, days_left - 1,
                              std::move(found), std::move(k));
          },
          [k, found, finish](caf::error&) mutable {
            k(finish(std::move(found)));
          });
}

void emit_failure(call_ptr self, const aggregate_command& cmd,
                  caf::typed_response_promise<command_result> rp,
                  std::vector<std::uint64_t> seqs, const std::string& base_id,
                  const std::string& reason,
                  std::vector<timestamp_ms> alternatives);

/// Emits appointment.failed and follow_up.scheduled, the follow-up with
/// the free times nearest to the requested one when the request named a
/// staff member and a service.
void fail_booking(call_ptr self, const aggregate_command& cmd,
                  caf::typed_response_promise<command_result> rp,
                  std::vector<std::uint64_t> seqs, const std::string& base_id,
                  const std::string& reason) {
  auto& s = self->state;
  const auto& req = s.rec.analysis.appointment_request;
  if (req.staff_id.empty() || req.service_id.empty()) {
    emit_failure(self, cmd, rp, std::move(seqs), base_id, reason, {});
    return;
  }
  auto now = s.deps.clock();
  auto preferred = std::max(req.preferred_start, now);
  auto day = preferred - (preferred % 86400000);
  find_alternatives(self, req.staff_id, req.service_id, preferred, day,
                    alternative_days, {},
                    [self, cmd, rp, seqs, base_id,
                     reason](std::vector<timestamp_ms> alternatives) mutable {
                      emit_failure(self, cmd, rp, std::move(seqs), base_id,
                                   reason, std::move(alternatives));
                    });
}

void emit_failure(call_ptr self, const aggregate_command& cmd,
                  caf::typed_response_promise<command_result> rp,
                  std::vector<std::uint64_t> seqs, const std::string& base_id,
                  const std::string& reason,
                  std::vector<timestamp_ms> alternatives) {
  auto& s = self->state;
  auto now = s.deps.clock();
  appointment_failed f;
  f.call_id = s.rec.call.id;
  f.company_id = s.rec.call.company_id;
  f.request = s.rec.analysis.appointment_request;
  f.reason = reason;
  f.failed_at = now;
  follow_up_scheduled fu;
  fu.call_id = s.rec.call.id;
  fu.company_id = s.rec.call.company_id;
  fu.customer_id = s.rec.customer_id;
  fu.due_at = now
              + std::chrono::duration_cast<std::chrono::milliseconds>(
                    call_follow_up_delay)
                    .count();
  fu.reason = reason;
  fu.alternative_slots = std::move(alternatives);
  std::vector<envelope> evs;
  evs.push_back(wrap(self, f, cmd, event_id_of(base_id, "failed")));
  evs.push_back(wrap(self, fu, cmd, event_id_of(base_id, "follow_up")));
  append(self, std::move(evs),
         [self, rp, seqs](expected<std::vector<std::uint64_t>, caf::error> r) {
           if (!r) {
             finish(self, rp, make_unexpected(r.error()));
             return;
           }
           auto all = seqs;
           all.insert(all.end(), r->begin(), r->end());
           finish(self, rp, result_of(self->state.rec, all, false));
         });
}

/// Books the requested appointment through the router (the staff
/// calendar): appointment_created, or appointment_failed + follow-up.
void book(call_ptr self, aggregate_command cmd,
          caf::typed_response_promise<command_result> rp,
          std::vector<std::uint64_t> seqs, std::string base_id) {
  auto& s = self->state;
  const auto& req = s.rec.analysis.appointment_request;
  if (req.service_id.empty()) {
    fail_booking(self, cmd, rp, seqs, base_id, "no_service");
    return;
  }
  if (req.staff_id.empty()) {
    fail_booking(self, cmd, rp, seqs, base_id, "no_staff");
    return;
  }
  if (req.preferred_start == 0) {
    fail_booking(self, cmd, rp, seqs, base_id, "no_time");
    return;
  }
  appointment_ref ref;
  ref.appointment_id
      = call_appointment_id(s.rec.call.company_id, s.rec.call.id);
  ref.company_id = s.rec.call.company_id;
  ref.metadata = cmd.metadata;
  ref.metadata.source = "phone";
  ref.metadata.correlation_id = s.rec.call.id;
  // Caused by the call's appointment_requested event.
  if (!base_id.empty())
    ref.metadata.causation_id = event_id_of(base_id, "requested");
  // What the call's analysis asked for, checked as a request's booking is.
  boost::json::object p{{"customer_id", s.rec.customer_id},
                        {"service_id", req.service_id},
                        {"staff_id", req.staff_id},
                        {"start_time", format_rfc3339(req.preferred_start)},
                        {"source", "phone"}};
  if (!req.branch_id.empty())
    p["branch_id"] = req.branch_id;
  if (!req.notes.empty())
    p["notes"] = req.notes;
  auto appt_id = ref.appointment_id;
  auto b = decode_command<book_appointment>(p, std::move(ref));
  if (!b) {
    fail_booking(self, cmd, rp, seqs, base_id,
                 "not_bookable: " + describe(b.error()));
    return;
  }
  self->request(s.router, caf::infinite, command_atom::value, std::move(*b))
      .then(
          [self, rp, seqs, appt_id](const command_result& r) {
            auto& rec = self->state.rec;
            rec.call.state = call_state::appointment_created;
            rec.appointment_id = appt_id;
            auto all = seqs;
            all.insert(all.end(), r.sequences.begin(), r.sequences.end());
            finish(self, rp, result_of(rec, all, false));
          },
          [self, rp, seqs, cmd, base_id, appt_id](caf::error& err) {
            auto& s = self->state;
            auto code = runtime_code(err);
            if (code == runtime_errc::conflict) {
              // Booked before (a retry), or the slot is taken.
              auto appt = s.deps.events->read_stream(s.rec.call.company_id,
                                                     aggregates::appointment,
                                                     appt_id, 1, 1);
              if (appt && !appt->empty()) {
                s.rec.call.state = call_state::appointment_created;
                s.rec.appointment_id = appt_id;
                finish(self, rp, result_of(s.rec, seqs, false));
                return;
              }
              fail_booking(self, cmd, rp, seqs, base_id, "no_availability");
            } else if (code == runtime_errc::invalid_argument
                       || code == runtime_errc::not_found) {
              fail_booking(self, cmd, rp, seqs, base_id,
                           "not_bookable: " + describe(err));
            } else {
              s.log->warn("call {}: booking failed: {}", s.rec.call.id,
                          describe(err));
              finish(self, rp, make_unexpected(std::move(err)));
            }
          });
}

/// The caller's customer: found by phone, or created (source phone).
void resolve_caller(call_ptr self, const aggregate_command& cmd,
                    std::function<void(expected<std::string, caf::error>)> k) {
  auto& s = self->state;
  auto found = find_customer_by_phone(*s.deps.events, s.rec.call.company_id,
                                      s.rec.call.from_number);
  if (!found) {
    k(make_unexpected(found.error()));
    return;
  }
  if (!found->empty()) {
    k(*found);
    return;
  }
  if (normalize_phone(s.rec.call.from_number).empty()) {
    k(std::string{}); // An anonymous caller.
    return;
  }
  aggregate_command c;
  c.aggregate_type = aggregates::customer;
  c.aggregate_id
      = phone_customer_id(s.rec.call.company_id, s.rec.call.from_number);
  c.company_id = s.rec.call.company_id;
  c.name = "create";
  auto name = s.rec.analysis.appointment_request.customer_name;
  boost::json::object p{{"name", name.empty() ? s.rec.call.from_number : name},
                        {"phone", normalize_phone(s.rec.call.from_number)},
                        {"prefers_sms", true},
                        {"source", "phone"}};
  c.payload = boost::json::serialize(p);
  c.metadata = cmd.metadata;
  c.metadata.source = "phone";
  c.metadata.correlation_id = s.rec.call.id;
  auto id = c.aggregate_id;
  self->request(s.router, caf::infinite, command_atom::value, c)
      .then(
          [k, id](const command_result&) {
            k(id);
          },
          [k, id](caf::error& err) {
            // Created by a concurrent call from the same number.
            if (runtime_code(err) == runtime_errc::conflict)
              k(id);
            else
              k(make_unexpected(std::move(err)));
          });
}

void analyze(call_ptr self, aggregate_command cmd,
             caf::typed_response_promise<command_result> rp,
             call_analysis analysis, timestamp_ms analyzed_at,
             std::string base_id) {
  auto& s = self->state;
  s.rec.analysis = analysis;
  resolve_caller(self, cmd, [=](expected<std::string, caf::error> cust) {
    auto& s = self->state;
    if (!cust) {
      finish(self, rp, make_unexpected(cust.error()));
      return;
    }
    s.rec.customer_id = *cust;
    auto& rec = s.rec;
    std::vector<envelope> evs;
    evs.push_back(wrap(
        self,
        call_analyzed{rec.call.id, rec.call.company_id, analysis, analyzed_at},
        cmd, event_id_of(base_id, "")));
    auto completed_call = rec.call;
    completed_call.state = call_state::analyzed;
    evs.push_back(wrap(self, call_completed{completed_call, analysis}, cmd,
                       event_id_of(base_id, "completed")));
    bool intent = has_appointment_request(analysis);
    if (intent) {
      evs.push_back(
          wrap(self,
               appointment_requested{rec.call.id, rec.call.company_id, *cust,
                                     analysis.appointment_request, analyzed_at},
               cmd, event_id_of(base_id, "requested")));
    } else {
      evs.push_back(wrap(self,
                         call_information_only{rec.call.id, rec.call.company_id,
                                               analysis.summary, analyzed_at},
                         cmd, event_id_of(base_id, "information_only")));
    }
    append(self, std::move(evs),
           [self, rp, cmd, intent,
            base_id](expected<std::vector<std::uint64_t>, caf::error> r) {
             if (!r) {
               finish(self, rp, make_unexpected(r.error()));
               return;
             }
             if (!intent) {
               finish(self, rp, result_of(self->state.rec, *r, false));
               return;
             }
             book(self, cmd, rp, *r, base_id);
           });
  });
}

void handle(call_ptr self, pending_command pc) {
  auto& s = self->state;
  auto& rec = s.rec;
  const auto& cmd = pc.cmd;
  auto rp = pc.rp;
  payload_reader p{cmd.payload};
  auto event_id = p.str("event_id");
  std::string base_id = event_id ? *event_id : std::string{};
  if (!base_id.empty() && base_id.size() > 200)
    p.problem("event_id", "at most 200 bytes");
  auto now = s.deps.clock();
  // A redelivered command changes nothing; a booking it left unfinished
  // (a crash, a timeout) is resumed.
  if (!base_id.empty()
      && s.deps.events->find_event(rec.call.company_id, base_id)) {
    if (cmd.name == "analyze"
        && rec.call.state == call_state::appointment_requested) {
      book(self, cmd, rp, {}, base_id);
      return;
    }
    finish(self, rp, result_of(rec, {}, false));
    return;
  }
  auto stamp = [&](const char* field) {
    auto t = p.time(field);
    return t ? *t : now;
  };
  auto single = [&](envelope ev, bool created) {
    append(self, {std::move(ev)},
           [self, rp,
            created](expected<std::vector<std::uint64_t>, caf::error> r) {
             if (!r)
               finish(self, rp, make_unexpected(r.error()));
             else
               finish(self, rp, result_of(self->state.rec, *r, created));
           });
  };
  if (cmd.name == "start") {
    auto from = p.str("from_number", true);
    auto to = p.str("to_number");
    auto at = stamp("started_at");
    if (!p.valid())
      return finish(self, rp, make_unexpected(p.error()));
    if (rec.exists)
      return finish(self, rp, make_unexpected(conflict_in(rec)));
    rec.call.from_number = *from;
    single(wrap(self,
                call_started{rec.call.id, rec.call.company_id, *from,
                             to ? *to : std::string{}, at},
                cmd, event_id_of(base_id, "")),
           true);
    return;
  }
  if (cmd.name != "connect" && cmd.name != "end" && cmd.name != "analyze")
    return finish(self, rp,
                  make_unexpected(make_runtime_error(
                      runtime_errc::invalid_argument,
                      "command: unknown call command " + cmd.name)));
  if (!rec.exists)
    return finish(
        self, rp,
        make_unexpected(make_runtime_error(
            runtime_errc::not_found, "call " + rec.call.id + " not found")));
  if (cmd.name == "connect") {
    auto at = stamp("connected_at");
    if (!p.valid())
      return finish(self, rp, make_unexpected(p.error()));
    if (rec.call.state != call_state::started)
      return finish(self, rp, make_unexpected(conflict_in(rec)));
    single(wrap(self, call_connected{rec.call.id, rec.call.company_id, at}, cmd,
                event_id_of(base_id, "")),
           false);
  } else if (cmd.name == "end") {
    call_ended e{rec.call.id, rec.call.company_id, stamp("ended_at"), 0, "",
                 ""};
    if (auto v = p.integer("duration_s", false, 0, 86400 * 7))
      e.duration_s = static_cast<std::int32_t>(*v);
    if (auto v = p.str("end_reason"))
      e.end_reason = *v;
    if (auto v = p.str("transcript"))
      e.transcript = *v;
    if (!p.valid())
      return finish(self, rp, make_unexpected(p.error()));
    if (rec.call.state != call_state::in_progress)
      return finish(self, rp, make_unexpected(conflict_in(rec)));
    single(wrap(self, e, cmd, event_id_of(base_id, "")), false);
  } else {
    call_analysis analysis;
    const auto* raw = p.raw("analysis");
    if (raw == nullptr) {
      p.problem("analysis", "is required");
    } else if (!raw->is_object()) {
      p.problem("analysis", "must be an object");
    } else {
      auto a = from_json<call_analysis>(*raw);
      if (!a)
        p.problem(
            "analysis" + (a.error().field.empty() ? "" : "." + a.error().field),
            a.error().problem.empty() ? a.error().message : a.error().problem);
      else
        analysis = std::move(*a);
    }
    auto at = stamp("analyzed_at");
    if (!p.valid())
      return finish(self, rp, make_unexpected(p.error()));
    if (rec.call.state != call_state::ended)
      return finish(self, rp, make_unexpected(conflict_in(rec)));
    analyze(self, cmd, rp, std::move(analysis), at, base_id);
  }
}

void process_next(call_ptr self) {
  auto& s = self->state;
  if (s.busy || s.queue.empty())
    return;
  s.busy = true;
  auto pc = std::move(s.queue.front());
  s.queue.pop_front();
  handle(self, std::move(pc));
}

aggregate_actor::behavior_type call_actor(call_ptr self, call_record initial,
                                          aggregate_deps deps,
                                          router_actor router) {
  auto& s = self->state;
  s.rec = std::move(initial);
  s.deps = std::move(deps);
  s.router = std::move(router);
  s.log = log::get(log::subsystem::calls);
  start_idle_watch(self, s.idle, idle_atom::value, s.deps.idle_timeout);
  return {
      [self](command_atom,
             const aggregate_command& cmd) -> caf::result<command_result> {
        self->state.idle.touch(self->clock().now());
        auto rp = self->make_response_promise<command_result>();
        self->state.queue.push_back({cmd, rp});
        process_next(self);
        return rp;
      },
      [self](get_atom, const std::string&) -> caf::result<std::string> {
        self->state.idle.touch(self->clock().now());
        auto& rec = self->state.rec;
        if (!rec.exists)
          return make_runtime_error(runtime_errc::not_found,
                                    "call " + rec.call.id + " not found");
        return render_call(rec);
      },
      [self](idle_atom) {
        auto& st = self->state;
        on_idle_check(self, st.idle, idle_atom::value, [&st] {
          return !st.busy && st.queue.empty();
        });
      },
      [self](drain_atom) {
        auto& st = self->state;
        if (!st.busy && st.queue.empty())
          self->quit();
      },
  };
}

} // namespace

aggregate_actor spawn_call_actor(caf::actor_system& sys, call_record initial,
                                 aggregate_deps deps, router_actor router) {
  return spawn_local(sys, call_actor, std::move(initial), std::move(deps),
                     std::move(router));
}

// -- the follow-up listener
// ----------------------------------------------------

queued_listener_actor::behavior_type
call_follow_up(queued_listener_actor::pointer self, listener_context ctx) {
  auto lg = log::get(log::subsystem::calls);
  return {
      [self, ctx](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        auto ev = event_from<follow_up_scheduled>(req.event);
        if (!ev)
          return make_runtime_error(runtime_errc::invalid_argument,
                                    "event " + req.event.id + ": "
                                        + ev.error().field + ": "
                                        + ev.error().message);
        std::vector<store::job> jobs;
        if (!ev->customer_id.empty()) {
          auto c = customer_of(ctx, req.event.company_id, ev->customer_id);
          if (!c)
            return c.error();
          if (!c->phone.empty()) {
            auto j = listener_detail::notification_job(
                req, listener_names::notify_sms, ctx.clock(), ev->due_at);
            boost::json::object payload{
                {"kind", "follow_up"},    {"channel", "sms"},
                {"recipient", c->phone},  {"customer_name", c->name},
                {"call_id", ev->call_id}, {"reason", ev->reason}};
            std::string alternatives;
            for (auto t : ev->alternative_slots)
              alternatives
                  += (alternatives.empty() ? "" : ", ") + format_rfc3339(t);
            if (!alternatives.empty())
              payload["alternatives"] = alternatives;
            j.payload = boost::json::serialize(payload);
            jobs.push_back(std::move(j));
          }
        }
        auto rp = self->make_response_promise<ok_atom>();
        listener_detail::enqueue_once(self, ctx, req, std::move(jobs), rp);
        return rp;
      },
      [lg](failed_atom, const job_request& req, const std::string& error) {
        lg->error("Failed to schedule the follow-up of event {}: {}",
                  req.event.id, error);
      },
  };
}

} // namespace switchboard
