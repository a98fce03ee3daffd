// Webhooks: the call provider's call events, signed with HMAC-SHA256 over
// "timestamp.body" (X-Switchboard-Timestamp, X-Switchboard-Signature:
// sha256=<hex>), and Cal.com's bookings, signed as Cal.com signs them
// (X-Cal-Signature-256: hex HMAC-SHA256 of the raw body, no timestamp).
// Forged, stale or replayed deliveries get 401 and change nothing; a
// redelivered event changes state once (derived event and appointment ids).
// Twilio's message status callbacks are signed as Twilio signs them
// (X-Twilio-Signature, base64 HMAC-SHA1 over the URL and the sorted form
// parameters); a forged one gets 403.
// Cal.com's and Retell AI's webhooks are in app/http/webhook_calcom.cpp
// and app/http/webhook_retell.cpp.

#include "app/http/webhook_detail.hpp"

#include "app/http/webhooks.hpp"
#include <messages/aggregate_types.hpp>

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
#include <actors/providers.hpp>
#include <actors/twilio.hpp>
#include <app/config.hpp>
#include <app/http/bridge.hpp>
#include <app/http/route_helpers.hpp>
#include <app/http/routes.hpp>
#include <app/provider_config.hpp>
#include <messages/id_check.hpp>
#include <messages/json.hpp>
#include <store/hmac.hpp>
#include <store/outbox.hpp>

namespace switchboard::app::http {

namespace webhook_detail {

webhook_state& state() {
  static webhook_state st;
  return st;
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

bool path_company_known(const context_ptr& ctx) {
  if (ctx->tenants().company(ctx->param("company_id")))
    return true;
  ctx->fail(404, "not_found",
            "no company " + std::string{ctx->param("company_id")});
  return false;
}

const json::object* verified_body(const context_ptr& ctx,
                                  bool (*verify)(const context_ptr&)) {
  if (!verify(ctx))
    return nullptr;
  return object_body(ctx);
}

aggregate_command call_command(const context_ptr& ctx,
                               const std::string& call_id, std::string name,
                               const json::object& payload,
                               std::string source) {
  aggregate_command cmd;
  cmd.aggregate_type = aggregates::call;
  cmd.aggregate_id = call_id;
  cmd.company_id = ctx->param("company_id");
  cmd.name = std::move(name);
  cmd.payload = json::serialize(payload);
  cmd.metadata.source = std::move(source);
  cmd.metadata.correlation_id = call_id;
  cmd.metadata.user_agent = std::string{ctx->req().header("user-agent")};
  return cmd;
}

std::string settings_company(const context_ptr& ctx) {
  return acting_company(ctx);
}

json::value shown_setting(std::string_view shown, const std::string& company) {
  auto v = json::parse(shown);
  v.as_object()["company_id"] = company;
  return v;
}

void save_setting(const context_ptr& ctx, std::string_view name,
                  std::string company, std::string stored,
                  std::string_view shown_json) {
  auto* tenants = &ctx->tenants();
  auto shown = shown_setting(shown_json, company);
  run_write(
      ctx, 60s,
      [tenants, name, company = std::move(company),
       stored = std::move(stored)](store::write_txn& txn) {
        return tenants->set_setting_in(txn, company, name, stored);
      },
      [ctx, shown = std::move(shown)](caf::event_based_actor*) {
        ctx->respond(200, shown);
      });
}

} // namespace webhook_detail

using namespace webhook_detail;

namespace {

/// Checks the call provider's signature, timestamp and replay; answers
/// 401/503 and returns false when the delivery is refused.
bool verify(const context_ptr& ctx) {
  auto& st = state();
  std::string secret;
  std::int64_t tolerance = 0;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    secret = st.opts.call_provider_secret;
    tolerance = st.opts.tolerance_s;
  }
  if (secret.empty()) {
    ctx->fail(503, "webhooks_disabled",
              "call provider webhooks are not configured");
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
  // The secret is the provider's; the path must still name a company.
  if (!path_company_known(ctx))
    return false;
  std::lock_guard<std::mutex> guard{st.mtx};
  for (auto i = st.seen.begin(); i != st.seen.end();)
    i = i->second < now - tolerance ? st.seen.erase(i) : std::next(i);
  if (!st.seen.emplace(expected, ts).second) {
    ctx->fail(401, "unauthorized", "replayed delivery");
    return false;
  }
  return true;
}

void call_webhook(const context_ptr& ctx) {
  const auto* o = verified_body(ctx, verify);
  if (o == nullptr)
    return;
  auto type = str_of(*o, "type");
  auto call_id = str_of(*o, "call_id");
  field_errors errs;
  static const std::map<std::string_view, std::string> commands{
      {event_traits<call_started>::wire_name, "start"},
      {event_traits<call_connected>::wire_name, "connect"},
      {event_traits<call_ended>::wire_name, "end"},
      {event_traits<call_analyzed>::wire_name, "analyze"}};
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
  if (ctx->fail_fields_if_any(errs))
    return;
  const auto& company = ctx->param("company_id");
  // One event per call and kind: a redelivery appends the same id.
  data["event_id"]
      = derived_id("call-provider\n" + company + "\n" + call_id + "\n" + type);
  run_command(
      ctx, call_command(ctx, call_id, cmd_name->second, data, "call_provider"),
      aggregates::call);
}

// -- Twilio -------------------------------------------------------------------

/// What a status callback came to, decided inside the write transaction.
struct status_outcome {
  bool known = false;
  bool applied = false;
  std::string status; ///< The message's status after the callback.
};

void twilio_status(const context_ptr& ctx) {
  auto& st = state();
  std::string token, account, url;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    token = st.opts.twilio_auth_token;
    account = st.opts.twilio_account_sid;
    url = st.opts.twilio_status_url;
  }
  if (token.empty()) {
    ctx->fail(503, "webhooks_disabled",
              "Twilio status callbacks are not configured "
              "(providers.twilio_auth_token)");
    return;
  }
  const auto& req = ctx->req();
  auto parsed = parse_query(req.body);
  form_fields params(parsed.begin(), parsed.end());
  if (url.empty())
    url = "http://" + std::string{req.header("host")} + req.target;
  auto expected = twilio_signature(token, url, params);
  auto given = req.header("x-twilio-signature");
  if (given.empty()) {
    ctx->fail(403, "forbidden", "missing X-Twilio-Signature");
    return;
  }
  if (!store::equal_constant_time(given, expected)) {
    ctx->fail(403, "forbidden", "bad X-Twilio-Signature");
    return;
  }
  auto field = [&](const char* k) {
    auto i = parsed.find(k);
    return i == parsed.end() ? std::string{} : i->second;
  };
  auto sid = field("MessageSid");
  auto status = field("MessageStatus");
  auto error_code = field("ErrorCode");
  field_errors errs;
  if (sid.empty())
    errs["MessageSid"] = "missing: the SID of the message";
  if (status.empty())
    errs["MessageStatus"]
        = std::string{"missing: expects "} + twilio_statuses();
  else if (twilio_status_rank(status) < 0)
    errs["MessageStatus"]
        = std::string{"invalid: expects "} + twilio_statuses();
  if (auto a = field("AccountSid");
      !a.empty() && !account.empty() && a != account)
    errs["AccountSid"] = "invalid: not providers.twilio_account_sid";
  if (ctx->fail_fields_if_any(errs))
    return;
  auto* outbox = ctx->node().store().outbox.get();
  auto out = std::make_shared<status_outcome>();
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto op = [outbox, out, sid, status, error_code,
             now](store::write_txn& txn) -> store::result<void> {
    *out = status_outcome{};
    auto m = outbox->find_in(txn, "twilio", sid);
    if (!m) {
      if (m.error().code == store::errc::not_found)
        return {};
      return make_unexpected(m.error());
    }
    out->known = true;
    out->status = m->status;
    // Only forward: a repeated or late (out of order) callback changes
    // nothing.
    if (twilio_status_rank(status) <= twilio_status_rank(m->status))
      return {};
    m->status = status;
    m->status_at = now;
    m->status_error = error_code;
    if (auto r = outbox->update_in(txn, *m); !r)
      return r;
    out->applied = true;
    out->status = status;
    return {};
  };
  run_write(ctx, 60s, op, [ctx, out](caf::event_based_actor*) {
    if (!out->known) {
      ctx->fail_fields(
          {{"MessageSid",
            "unknown: no message sent through Twilio has this SID"}});
      return;
    }
    ctx->respond(200, json::object{{"status", "accepted"},
                                   {"applied", out->applied},
                                   {"message_status", out->status}});
  });
}

} // namespace

webhook_options webhook_options_from(const config& cfg) {
  webhook_options o;
  o.call_provider_secret = cfg.get_string("webhooks.call_provider_secret");
  o.calcom_secret = cfg.get_string("webhooks.calcom_secret");
  o.retell_api_key = cfg.get_string("webhooks.retell_api_key");
  o.tolerance_s = cfg.get_int("webhooks.tolerance_s");
  // Twilio's keys as the providers read them.
  auto twilio = provider_options_from(cfg).twilio;
  o.twilio_auth_token = std::move(twilio.auth_token);
  o.twilio_account_sid = std::move(twilio.account_sid);
  o.twilio_status_url = std::move(twilio.status_callback_url);
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
        "Cal.com webhook (BOOKING_CREATED, BOOKING_REQUESTED, "
        "BOOKING_RESCHEDULED, BOOKING_CANCELLED, BOOKING_REJECTED, "
        "BOOKING_NO_SHOW_UPDATED), signed with X-Cal-Signature-256");
  r.add("POST", "/webhooks/retell/{company_id}", access::open, retell_webhook,
        "Retell AI webhook (call_started, call_ended, call_analyzed), "
        "signed with x-retell-signature; answers 204");
  r.add("POST", "/webhooks/twilio/status", access::open, twilio_status,
        "Twilio message status callback (MessageSid, MessageStatus), "
        "signed with X-Twilio-Signature; moves the message's delivery "
        "status forward");
  r.add("GET", "/api/integrations/retell", access::company, get_retell_settings,
        "The company's Retell map: custom_analysis_data key of each "
        "appointment request field");
  r.add("PUT", "/api/integrations/retell", access::company, put_retell_settings,
        "Sets the company's Retell map (admin tokens: ?company_id=)");
  r.add("GET", "/api/integrations/calcom", access::company, get_calcom_settings,
        "The company's Cal.com settings: event type → service and host "
        "email → staff maps; the secret shown as ***");
  r.add("PUT", "/api/integrations/calcom", access::company, put_calcom_settings,
        "Sets the company's Cal.com webhook secret and its event type and "
        "host maps (admin tokens: ?company_id=)");
}

} // namespace switchboard::app::http
