// Webhooks: the call provider's call events and Cal.com's bookings, signed
// with HMAC-SHA256 over "timestamp.body" (X-Switchboard-Timestamp,
// X-Switchboard-Signature: sha256=<hex>). Forged, stale or replayed
// deliveries get 401 and change nothing; a redelivered event changes state
// once (deterministic event and appointment ids).

#include "app/http/webhooks.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/config.hpp>
#include <app/http/bridge.hpp>
#include <app/http/routes.hpp>
#include <messages/id_check.hpp>
#include <store/event_store.hpp>

namespace switchboard::app::http {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct webhook_state {
  std::mutex mtx;
  webhook_options opts;
  /// Signatures seen within the tolerance → their timestamp (replays).
  std::map<std::string, std::int64_t> seen;
};

webhook_state& state() {
  static webhook_state st;
  return st;
}

/// Checks signature, timestamp and replay; answers 401/503 and returns
/// false when the delivery is refused.
bool verify(const context_ptr& ctx, bool calcom) {
  auto& st = state();
  std::string secret;
  std::int64_t tolerance = 0;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    secret = calcom ? st.opts.calcom_secret : st.opts.call_provider_secret;
    tolerance = st.opts.tolerance_s;
  }
  if (secret.empty()) {
    ctx->fail(503, "webhooks_disabled",
              std::string{calcom ? "Cal.com" : "call provider"}
                  + " webhooks are not configured");
    return false;
  }
  const auto& req = ctx->req();
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto checked = check_signature(secret, req.header("x-switchboard-timestamp"),
                                 req.header("x-switchboard-signature"),
                                 req.body, now, tolerance);
  if (!checked.problem.empty()) {
    ctx->fail(401, "unauthorized", checked.problem);
    return false;
  }
  auto& expected = checked.signature;
  auto ts = checked.timestamp;
  // The secret is the provider's; the path must still name a company of
  // ours, so that a signed delivery cannot create data for anyone else.
  if (auto c = ctx->tenants().company(ctx->param("company_id")); !c) {
    ctx->fail(404, "not_found",
              "no company " + std::string{ctx->param("company_id")});
    return false;
  }
  std::lock_guard<std::mutex> guard{st.mtx};
  for (auto i = st.seen.begin(); i != st.seen.end();)
    i = i->second < now - tolerance ? st.seen.erase(i) : std::next(i);
  if (!st.seen.emplace(expected, ts).second) {
    ctx->fail(401, "unauthorized", "replayed delivery");
    return false;
  }
  return true;
}

const json::object* object_body(const context_ptr& ctx) {
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return nullptr;
  if (!body->is_object()) {
    ctx->fail_fields({{"body", "wrong_type: expects an object"}});
    return nullptr;
  }
  return &body->get_object();
}

std::string str_of(const json::object& o, const char* key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string())
    return std::string{v->get_string()};
  return {};
}

/// Sends `cmd` to the router and answers with the aggregate's state.
void run_command(const context_ptr& ctx, aggregate_command cmd,
                 std::string kind,
                 std::function<bool(const caf::error&)> is_duplicate = {}) {
  ctx->with_actor([ctx, cmd = std::move(cmd), kind = std::move(kind),
                   is_duplicate](caf::event_based_actor* self) {
    self->request(ctx->node().router(), 60s, command_atom::value, cmd)
        .then(
            [ctx, kind](const command_result& r) {
              json::object o{{"status", "accepted"},
                             {"duplicate", r.sequences.empty()},
                             {"id", r.aggregate_id}};
              json::error_code ec;
              auto st = json::parse(r.state, ec);
              if (!ec)
                o[kind] = std::move(st);
              ctx->respond(200, o);
            },
            [ctx, is_duplicate](caf::error& e) {
              if (is_duplicate && is_duplicate(e)) {
                ctx->respond(200, json::object{{"status", "accepted"},
                                               {"duplicate", true}});
                return;
              }
              fail_with(*ctx, e);
            });
  });
}

void call_webhook(const context_ptr& ctx) {
  if (!verify(ctx, false))
    return;
  const auto* o = object_body(ctx);
  if (o == nullptr)
    return;
  auto type = str_of(*o, "type");
  auto call_id = str_of(*o, "call_id");
  field_errors errs;
  static const std::map<std::string, std::string> commands{
      {"call.started", "start"},
      {"call.connected", "connect"},
      {"call.ended", "end"},
      {"call.analyzed", "analyze"}};
  auto cmd_name = commands.find(type);
  if (cmd_name == commands.end())
    errs["type"] = "invalid: expects call.started, call.connected, "
                   "call.ended or call.analyzed";
  if (auto bad = id_problem(call_id))
    errs["call_id"] = *bad;
  json::object data;
  if (const auto* d = o->if_contains("data"); d != nullptr && !d->is_null()) {
    if (d->is_object())
      data = d->get_object();
    else
      errs["data"] = "wrong_type: expects an object";
  }
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  const auto& company = ctx->param("company_id");
  // One event per call and kind: a redelivery appends the same id.
  data["event_id"]
      = derived_id("call-provider\n" + company + "\n" + call_id + "\n" + type);
  aggregate_command cmd;
  cmd.aggregate_type = "call";
  cmd.aggregate_id = call_id;
  cmd.company_id = company;
  cmd.name = cmd_name->second;
  cmd.payload = json::serialize(data);
  cmd.metadata.source = "call_provider";
  cmd.metadata.correlation_id = call_id;
  cmd.metadata.user_agent = std::string{ctx->req().header("user-agent")};
  run_command(ctx, std::move(cmd), "call");
}

void calcom_webhook(const context_ptr& ctx) {
  if (!verify(ctx, true))
    return;
  const auto* o = object_body(ctx);
  if (o == nullptr)
    return;
  auto trigger = str_of(*o, "triggerEvent");
  field_errors errs;
  const json::object* p = nullptr;
  if (const auto* v = o->if_contains("payload"); v && v->is_object())
    p = &v->get_object();
  else
    errs["payload"] = "missing: expects an object";
  if (trigger != "BOOKING_CREATED" && trigger != "BOOKING_RESCHEDULED"
      && trigger != "BOOKING_CANCELLED")
    errs["triggerEvent"] = "invalid: expects BOOKING_CREATED, "
                           "BOOKING_RESCHEDULED or BOOKING_CANCELLED";
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  const auto& company = ctx->param("company_id");
  // The booking this event is about: a reschedule names the original one.
  auto uid = str_of(*p, "uid");
  if (trigger == "BOOKING_RESCHEDULED") {
    for (const char* k : {"rescheduleUid", "fromReschedule"})
      if (auto v = str_of(*p, k); !v.empty()) {
        uid = v;
        break;
      }
  }
  if (uid.empty()) {
    ctx->fail_fields({{"payload.uid", "missing"}});
    return;
  }
  json::object meta;
  if (const auto* m = p->if_contains("metadata"); m && m->is_object())
    meta = m->get_object();
  aggregate_command cmd;
  cmd.aggregate_type = "appointment";
  cmd.aggregate_id = derived_id("calcom\n" + company + "\n" + uid);
  cmd.company_id = company;
  cmd.metadata.source = "calcom";
  cmd.metadata.correlation_id = uid;
  cmd.metadata.user_agent = std::string{ctx->req().header("user-agent")};
  json::object payload;
  std::function<bool(const caf::error&)> dup;
  if (trigger == "BOOKING_CREATED") {
    cmd.name = "book";
    payload = {{"customer_id", str_of(meta, "customer_id")},
               {"service_id", str_of(meta, "service_id")},
               {"staff_id", str_of(meta, "staff_id")},
               {"start_time", str_of(*p, "startTime")},
               {"source", "calcom"}};
    for (const char* k : {"customer_id", "service_id", "staff_id"})
      if (str_of(meta, k).empty())
        errs[std::string{"payload.metadata."} + k] = "missing";
    if (str_of(*p, "startTime").empty())
      errs["payload.startTime"] = "missing";
    auto* events = ctx->node().store().events.get();
    auto id = cmd.aggregate_id;
    // Booked by an earlier delivery: "appointment X exists".
    dup = [events, id, company = cmd.company_id](const caf::error& e) {
      if (runtime_code(e) != runtime_errc::conflict)
        return false;
      auto s = events->read_stream("appointment", id, 1, 1);
      return s && !s->empty() && s->front().company_id == company;
    };
  } else if (trigger == "BOOKING_RESCHEDULED") {
    cmd.name = "reschedule";
    payload = {{"start_time", str_of(*p, "startTime")}};
    if (str_of(*p, "startTime").empty())
      errs["payload.startTime"] = "missing";
  } else {
    cmd.name = "cancel";
    payload = {{"reason", str_of(*p, "cancellationReason")}};
    dup = [](const caf::error& e) {
      return runtime_code(e) == runtime_errc::conflict
             && describe(e).find("already cancelled") != std::string::npos;
    };
  }
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  cmd.payload = json::serialize(payload);
  run_command(ctx, std::move(cmd), "appointment", std::move(dup));
}

} // namespace

webhook_options webhook_options_from(const config& cfg) {
  webhook_options o;
  o.call_provider_secret = cfg.get_string("webhooks.call_provider_secret");
  o.calcom_secret = cfg.get_string("webhooks.calcom_secret");
  o.tolerance_s = cfg.get_int("webhooks.tolerance_s");
  return o;
}

void configure_webhooks(webhook_options opts) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  st.opts = std::move(opts);
  st.seen.clear();
}

void add_webhook_routes(router& r) {
  r.add("POST", "/webhooks/calls/{company_id}", access::open, call_webhook,
        "Call-provider webhook (call.started, call.connected, call.ended, "
        "call.analyzed); HMAC-SHA256 signed");
  r.add("POST", "/webhooks/calcom/{company_id}", access::open, calcom_webhook,
        "Cal.com webhook (BOOKING_CREATED, BOOKING_RESCHEDULED, "
        "BOOKING_CANCELLED); HMAC-SHA256 signed");
}

} // namespace switchboard::app::http
