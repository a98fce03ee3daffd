// Retell AI's call webhooks (x-retell-signature: hex HMAC-SHA256 under
// `webhooks.retell_api_key` of the raw body and the milliseconds), and the
// routes of a company's Retell settings.

#include "app/http/webhook_detail.hpp"

#include <messages/aggregate_types.hpp>

#include <boost/json/serialize.hpp>

#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/node.hpp>
#include <actors/providers.hpp>
#include <actors/retell.hpp>
#include <app/config.hpp>
#include <app/http/routes.hpp>
#include <messages/id_check.hpp>
#include <messages/json.hpp>
#include <store/hmac.hpp>

namespace switchboard::app::http::webhook_detail {

namespace {

/// Checks `x-retell-signature: v=<ms>,d=<hex>`: hex HMAC-SHA256 under
/// `webhooks.retell_api_key` of the raw body followed by the decimal
/// milliseconds, at most `tolerance_s` from now, compared in constant
/// time. Answers 503, 401 or 404 and returns false when refused.
bool verify_retell(const context_ptr& ctx) {
  std::string key;
  std::int64_t tolerance_ms = 0;
  {
    std::lock_guard<std::mutex> guard{state().mtx};
    key = state().opts.retell_api_key;
    tolerance_ms = state().opts.tolerance_s * 1000;
  }
  if (key.empty()) {
    ctx->fail(503, "webhooks_disabled",
              "Retell webhooks are not configured: set "
              "webhooks.retell_api_key");
    return false;
  }
  auto header = std::string{ctx->req().header("x-retell-signature")};
  std::string ms, given;
  for (std::size_t at = 0; at < header.size();) {
    auto comma = header.find(',', at);
    auto part = header.substr(at, comma == std::string::npos ? std::string::npos
                                                             : comma - at);
    if (part.rfind("v=", 0) == 0)
      ms = part.substr(2);
    else if (part.rfind("d=", 0) == 0)
      given = part.substr(2);
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  if (ms.empty() || ms.size() > 15
      || ms.find_first_not_of("0123456789") != std::string::npos
      || given.empty()) {
    ctx->fail(401, "unauthorized",
              "missing or malformed x-retell-signature (v=<ms>,d=<hex>)");
    return false;
  }
  if (!store::same_hex_mac(given,
                           store::hmac_sha256_hex(key, ctx->req().body + ms))) {
    ctx->fail(401, "unauthorized", "bad x-retell-signature");
    return false;
  }
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto at = std::stoll(ms);
  if (at < now - tolerance_ms || at > now + tolerance_ms) {
    ctx->fail(401, "unauthorized", "stale x-retell-signature timestamp");
    return false;
  }
  return path_company_known(ctx);
}

/// A JSON scalar as text ("" for null, objects and arrays).
std::string scalar_text(const json::value& v) {
  if (v.is_string())
    return std::string{v.get_string()};
  if (v.is_bool())
    return v.get_bool() ? "true" : "false";
  if (v.is_int64() || v.is_uint64() || v.is_double())
    return json::serialize(v);
  return {};
}

std::int64_t ms_of(const json::object& o, const char* key) {
  if (const auto* v = o.if_contains(key)) {
    if (v->is_int64())
      return v->get_int64();
    if (v->is_uint64())
      return static_cast<std::int64_t>(v->get_uint64());
    if (v->is_double())
      return static_cast<std::int64_t>(v->get_double());
  }
  return 0;
}

/// The analysis of a Retell call: user_sentiment (lower case; "unknown"
/// is none), call_summary, the appointment request read from
/// custom_analysis_data by the company's field map, the other custom
/// fields as extra.
json::object retell_analysis(const json::object& call,
                             const retell_settings& settings) {
  json::object analysis;
  json::object request;
  json::object extra;
  const json::object* ca = nullptr;
  if (const auto* v = call.if_contains("call_analysis"); v && v->is_object())
    ca = &v->get_object();
  if (ca != nullptr) {
    auto sentiment = str_of(*ca, "user_sentiment");
    for (auto& c : sentiment)
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c - 'A' + 'a');
    if (!sentiment.empty() && sentiment != "unknown")
      analysis["sentiment"] = sentiment;
    analysis["summary"] = str_of(*ca, "call_summary");
    for (const char* flag : {"call_successful", "in_voicemail"})
      if (const auto* f = ca->if_contains(flag); f && f->is_bool())
        extra[flag] = f->get_bool() ? "true" : "false";
    if (const auto* d = ca->if_contains("custom_analysis_data");
        d && d->is_object()) {
      std::set<std::string> used;
      for (const auto& [field, key] : settings.fields)
        if (const auto* v = d->get_object().if_contains(key)) {
          auto text = scalar_text(*v);
          if (!text.empty())
            request[field] = text;
          used.insert(key);
        }
      for (const auto& [k, v] : d->get_object())
        if (used.count(std::string{k}) == 0)
          if (auto text = scalar_text(v); !text.empty())
            extra[k] = text;
    }
  }
  if (!request.empty())
    analysis["appointment_request"] = std::move(request);
  analysis["extra"] = std::move(extra);
  return analysis;
}

/// Runs `steps` one after another through the router, then answers 204.
void run_steps(const context_ptr& ctx,
               std::shared_ptr<std::vector<aggregate_command>> steps,
               std::size_t i = 0) {
  if (i == steps->size()) {
    ctx->respond_empty(204);
    return;
  }
  ctx->with_actor([ctx, steps, i](caf::event_based_actor* self) {
    self->request(ctx->node().router(), 60s, command_atom::value, (*steps)[i])
        .then(
            [ctx, steps, i](const command_result&) {
              run_steps(ctx, steps, i + 1);
            },
            [ctx](caf::error& e) {
              fail_with(*ctx, e);
            });
  });
}

} // namespace

void retell_webhook(const context_ptr& ctx) {
  const auto* o = verified_body(ctx, verify_retell);
  if (o == nullptr)
    return;
  auto event = str_of(*o, "event");
  field_errors errs;
  static const std::map<std::string, std::size_t> depth{
      {"call_started", 2}, {"call_ended", 3}, {"call_analyzed", 4}};
  auto d = depth.find(event);
  if (d == depth.end())
    errs["event"] = "invalid: expects call_started, call_ended or "
                    "call_analyzed";
  const json::object* call = nullptr;
  if (const auto* v = o->if_contains("call"); v && v->is_object())
    call = &v->get_object();
  else
    errs["call"] = "missing: expects an object";
  std::string call_id;
  if (call != nullptr) {
    call_id = str_of(*call, "call_id");
    if (auto bad = id_problem(call_id))
      errs["call.call_id"] = *bad;
  }
  if (ctx->fail_fields_if_any(errs))
    return;
  const auto company = std::string{ctx->param("company_id")};
  auto settings = retell_settings::defaults();
  if (auto text = ctx->tenants().setting(company, retell_setting))
    if (auto s = parse_retell_settings(*text))
      settings = *s;
  auto started = ms_of(*call, "start_timestamp");
  auto ended = ms_of(*call, "end_timestamp");
  auto when = [](std::int64_t ms) {
    return ms > 0 ? json::value(format_rfc3339(ms)) : json::value(nullptr);
  };
  // Retell's events are steps of our workflow; each step has an event id
  // derived from the call and the step, so a call_ended without its
  // call_started (a call that never connected, or a lost delivery) takes
  // the steps before it, and a later or repeated delivery changes nothing.
  auto steps = std::make_shared<std::vector<aggregate_command>>();
  auto step = [&](const char* name, json::object payload) {
    payload["event_id"]
        = derived_id("retell\n" + company + "\n" + call_id + "\n" + name);
    steps->push_back(call_command(ctx, call_id, name, payload, "retell"));
  };
  step("start", {{"from_number", str_of(*call, "from_number")},
                 {"to_number", str_of(*call, "to_number")},
                 {"started_at", when(started)}});
  step("connect", {{"connected_at", when(started)}});
  if (d->second >= 3) {
    auto duration = ms_of(*call, "duration_ms");
    if (duration == 0 && started > 0 && ended >= started)
      duration = ended - started;
    step("end", {{"ended_at", when(ended)},
                 {"duration_s", duration / 1000},
                 {"end_reason", str_of(*call, "disconnection_reason")},
                 {"transcript", str_of(*call, "transcript")}});
  }
  if (d->second >= 4)
    step("analyze", {{"analysis", retell_analysis(*call, settings)}});
  run_steps(ctx, steps);
}

void get_retell_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  auto settings = retell_settings::defaults();
  if (auto text = ctx->tenants().setting(company, retell_setting))
    if (auto s = parse_retell_settings(*text))
      settings = *s;
  ctx->respond(200, shown_setting(retell_json(settings), company));
}

void put_retell_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  auto parsed = parse_retell_settings(ctx->req().body);
  if (!parsed) {
    ctx->fail_fields(parsed.error());
    return;
  }
  auto stored = retell_json(*parsed);
  save_setting(ctx, retell_setting, company, stored, stored);
}

} // namespace switchboard::app::http::webhook_detail
