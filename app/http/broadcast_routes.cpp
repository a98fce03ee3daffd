// Broadcasting's HTTP side: POST /broadcasting/auth signs a company's own
// private and presence channels for its bearer token (as Laravel's
// Broadcast::routes() does for Echo), and the Pusher HTTP API
// (/apps/{app_id}/...) publishes and reports channels for servers that
// hold the app secret (Laravel's pusher or reverb broadcaster).

#include <algorithm>
#include <chrono>
#include <optional>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <app/http/broadcasting.hpp>
#include <app/http/routes.hpp>
#include <store/hex.hpp>
#include <store/hmac.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

namespace {

/// Most channels one event may go to, events in one batch, and the size
/// of an event's data (Pusher's own limits).
constexpr std::size_t max_channels_per_event = 100;
constexpr std::size_t max_batch = 10;
constexpr std::int64_t timestamp_tolerance_s = 600;

/// The broadcaster, or answers 503 and returns null when it is off.
broadcaster* enabled(const context_ptr& ctx) {
  auto* b = ctx->broadcasting();
  if (b == nullptr)
    ctx->fail(503, "broadcasting_disabled",
              "broadcasting is off ([broadcasting] app_id, key and secret "
              "are not set)");
  return b;
}

/// The fields of a form (application/x-www-form-urlencoded, as Echo sends
/// them) or JSON object body.
std::map<std::string, std::string, std::less<>>
form_fields(const context_ptr& ctx, bool& ok) {
  ok = true;
  const auto& req = ctx->req();
  auto type = req.header("content-type");
  if (type.find("json") != std::string_view::npos) {
    const auto* body = ctx->json_body();
    if (body == nullptr) {
      ok = false;
      return {};
    }
    std::map<std::string, std::string, std::less<>> out;
    if (const auto* o = body->if_object())
      for (const auto& [k, v] : *o)
        if (v.is_string())
          out.emplace(std::string{k}, std::string{v.as_string()});
    return out;
  }
  return parse_query(req.body);
}

/// CORS for /broadcasting/auth, before its token is checked, so that
/// every answer (401 included) carries the headers a browser needs. A
/// request without Origin is not a browser's cross-origin one: it passes
/// untouched. An Origin outside broadcasting.allowed_origins is refused
/// (403, no CORS headers).
bool broadcasting_cors(const context_ptr& ctx) {
  auto* b = ctx->broadcasting();
  auto origin = std::string{ctx->req().header("origin")};
  if (b == nullptr || origin.empty())
    return true;
  if (!origin_allowed(b->options(), origin)) {
    ctx->fail(403, "origin_not_allowed",
              "Origin " + origin + " is not in broadcasting.allowed_origins");
    return false;
  }
  ctx->add_header("Access-Control-Allow-Origin", origin);
  ctx->add_header("Vary", "Origin");
  return true;
}

/// OPTIONS /broadcasting/auth: the browser's preflight (no token).
void broadcasting_preflight(const context_ptr& ctx) {
  if (enabled(ctx) == nullptr)
    return;
  ctx->add_header("Allow", "POST, OPTIONS");
  if (!ctx->req().header("origin").empty()) {
    ctx->add_header("Access-Control-Allow-Methods", "POST, OPTIONS");
    // Echo sends Authorization, X-Socket-ID, X-CSRF-TOKEN and
    // X-Requested-With besides Content-Type.
    auto asked = ctx->req().header("access-control-request-headers");
    ctx->add_header("Access-Control-Allow-Headers",
                    asked.empty() ? std::string{"Authorization, Content-Type"}
                                  : std::string{asked});
    ctx->add_header("Access-Control-Max-Age", "600");
  }
  ctx->respond_empty(204);
}

void broadcasting_auth(const context_ptr& ctx) {
  auto* b = enabled(ctx);
  if (b == nullptr)
    return;
  bool ok = false;
  auto fields = form_fields(ctx, ok);
  if (!ok)
    return;
  field_errors errors;
  auto socket_id = fields["socket_id"];
  auto channel = fields["channel_name"];
  if (socket_id.empty())
    errors["socket_id"] = "missing";
  else if (!valid_socket_id(socket_id))
    errors["socket_id"] = "invalid (expected digits.digits)";
  if (channel.empty())
    errors["channel_name"] = "missing";
  else if (!valid_channel_name(channel))
    errors["channel_name"] = "invalid";
  if (ctx->fail_fields_if_any(errors))
    return;
  const auto& company = ctx->who().company_id;
  auto own_private = "private-company." + company;
  auto own_presence = "presence-company." + company;
  if (company.empty()
      || (channel != own_private && channel != own_presence
          && channel.rfind(own_presence + ".", 0) != 0)) {
    ctx->fail(403, "forbidden",
              "this token may not subscribe to " + channel + " (only "
                  + (company.empty()
                         ? std::string{"a company token's own"}
                         : own_private + " and " + own_presence + "[.*]")
                  + ")");
    return;
  }
  json::object out;
  if (channel == own_private) {
    out["auth"] = b->channel_auth(socket_id, channel);
  } else {
    // The member is the token: its hash prefix, as `tenant list` shows it.
    auto token = std::string{ctx->req().header("authorization")};
    auto space = token.find(' ');
    token = space == std::string::npos ? token : token.substr(space + 1);
    json::object info;
    info["company_id"] = company;
    json::object data;
    auto hash = store::tenants::hash_token(token); // raw SHA-256
    data["user_id"]
        = store::to_hex(reinterpret_cast<const unsigned char*>(hash.data()),
                        std::min<std::size_t>(6, hash.size()));
    data["user_info"] = std::move(info);
    auto channel_data = json::serialize(data);
    out["auth"] = b->channel_auth(socket_id, channel, channel_data);
    out["channel_data"] = channel_data;
  }
  ctx->respond(200, out);
}

std::string md5_hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_md5(), nullptr);
  return store::to_hex(md, len);
}

/// Checks the app id and the request's signature (Pusher's HTTP API
/// authentication); answers 404/401 and returns null when refused.
broadcaster* verified(const context_ptr& ctx) {
  auto* b = enabled(ctx);
  if (b == nullptr)
    return nullptr;
  const auto& opts = b->options();
  if (ctx->param("app_id") != opts.app_id) {
    ctx->fail(404, "not_found", "no app " + ctx->param("app_id"));
    return nullptr;
  }
  const auto& req = ctx->req();
  auto q = [&req](std::string_view k) -> std::string {
    auto i = req.query.find(k);
    return i == req.query.end() ? std::string{} : i->second;
  };
  auto fail = [&ctx](const std::string& why) {
    ctx->fail(401, "unauthorized", why);
    return nullptr;
  };
  if (q("auth_key") != opts.key)
    return fail("auth_key is missing or not this app's key");
  if (q("auth_version") != "1.0")
    return fail("auth_version must be 1.0");
  std::int64_t ts = 0;
  try {
    std::size_t used = 0;
    auto text = q("auth_timestamp");
    ts = std::stoll(text, &used);
    if (used != text.size())
      return fail("auth_timestamp is not a number");
  } catch (...) {
    return fail("auth_timestamp is missing or not a number");
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  if (ts < now - timestamp_tolerance_s || ts > now + timestamp_tolerance_s)
    return fail("auth_timestamp is more than 600 s from the server's time");
  if (!req.body.empty() && q("body_md5") != md5_hex(req.body))
    return fail("body_md5 does not match the body");
  // METHOD \n path \n the other parameters sorted by key (the query map
  // is sorted).
  std::string text = req.method + "\n" + req.path + "\n";
  bool first = true;
  for (const auto& [k, v] : req.query) {
    if (k == "auth_signature")
      continue;
    text += first ? "" : "&";
    text += k + "=" + v;
    first = false;
  }
  auto expected = b->sign(text);
  auto given = q("auth_signature");
  if (!store::equal_constant_time(given, expected))
    return fail("auth_signature does not match");
  return b;
}

/// The attributes an `info` parameter asks for (Pusher's HTTP API).
struct info_set {
  bool user_count = false;
  bool subscription_count = false;

  bool any() const noexcept {
    return user_count || subscription_count;
  }
};

/// Reads a comma-separated `info` ("user_count,subscription_count"); an
/// unknown attribute is an error in `errors[field]`.
info_set parse_info(std::string_view text, const std::string& field,
                    field_errors& errors) {
  info_set out;
  std::size_t from = 0;
  while (from < text.size()) {
    auto comma = text.find(',', from);
    auto part = text.substr(from, comma == std::string_view::npos
                                      ? std::string_view::npos
                                      : comma - from);
    if (part == "user_count")
      out.user_count = true;
    else if (part == "subscription_count")
      out.subscription_count = true;
    else
      errors[field] = "unknown attribute '" + std::string{part}
                      + "' (user_count, subscription_count)";
    if (comma == std::string_view::npos)
      break;
    from = comma + 1;
  }
  return out;
}

/// The `info` query parameter of a channel query; user_count only where
/// `presence`, else the error `no_user_count`. A bad one is answered (422)
/// and gives nothing.
std::optional<info_set> query_info(const context_ptr& ctx, bool presence,
                                   const char* no_user_count) {
  field_errors errors;
  auto info = parse_info(ctx->query("info"), "info", errors);
  if (info.user_count && !presence)
    errors["info"] = no_user_count;
  if (ctx->fail_fields_if_any(errors))
    return std::nullopt;
  return info;
}

/// The attributes `info` asks for of `channel`, as it is now. user_count
/// is a presence channel's only.
json::object channel_info(const broadcaster& b, const std::string& channel,
                          info_set info) {
  json::object out;
  auto c = b.channel(channel);
  if (info.user_count && channel.rfind("presence-", 0) == 0)
    out["user_count"] = c ? c->users : 0;
  if (info.subscription_count)
    out["subscription_count"] = c ? c->subscriptions : 0;
  return out;
}

/// One event of the API's body, checked: names the bad field in `errors`
/// (prefixed with `at`).
struct api_event {
  std::string name;
  std::string data;
  std::vector<std::string> channels;
  std::string socket_id;
  info_set info;
};

bool read_event(const json::object& o, const std::string& at,
                std::size_t max_data, api_event& ev, field_errors& errors) {
  auto str = [&o](std::string_view k) -> const json::string* {
    auto i = o.find(k);
    return i == o.end() ? nullptr : i->value().if_string();
  };
  if (auto* n = str("name"); n != nullptr && !n->empty() && n->size() <= 200)
    ev.name = std::string{*n};
  else
    errors[at + "name"] = "missing or not a string of 1 to 200 characters";
  if (auto* d = str("data"); d != nullptr && d->size() <= max_data)
    ev.data = std::string{*d};
  else
    errors[at + "data"] = "missing, not a string, or over "
                          + std::to_string(max_data) + " bytes";
  if (auto i = o.find("channels"); i != o.end()) {
    const auto* arr = i->value().if_array();
    if (arr == nullptr || arr->empty()
        || arr->size() > max_channels_per_event) {
      errors[at + "channels"] = "expects an array of 1 to 100 channel names";
    } else {
      for (const auto& c : *arr)
        if (c.is_string() && valid_channel_name(c.as_string()))
          ev.channels.emplace_back(c.as_string());
        else
          errors[at + "channels"] = "holds an invalid channel name";
    }
  } else if (auto* c = str("channel"); c != nullptr && valid_channel_name(*c)) {
    ev.channels.emplace_back(*c);
  } else {
    errors[at + "channel"] = "missing or invalid (or give channels)";
  }
  if (auto i = o.find("socket_id"); i != o.end()) {
    if (i->value().is_string() && valid_socket_id(i->value().as_string()))
      ev.socket_id = std::string{i->value().as_string()};
    else
      errors[at + "socket_id"] = "invalid (expected digits.digits)";
  }
  if (auto i = o.find("info"); i != o.end()) {
    if (const auto* s = i->value().if_string())
      ev.info = parse_info(*s, at + "info", errors);
    else
      errors[at + "info"] = "expects a comma-separated string";
  }
  return errors.empty();
}

/// A route of the Pusher HTTP API: `fn(ctx, broadcaster)` once the
/// request is verified (answered when it is not).
handler_fn api_route(void (*fn)(const context_ptr&, broadcaster&)) {
  return [fn](const context_ptr& ctx) {
    if (auto* b = verified(ctx))
      fn(ctx, *b);
  };
}

void api_events(const context_ptr& ctx, broadcaster& b) {
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return;
  const auto* o = body->if_object();
  if (o == nullptr) {
    ctx->fail(400, "malformed_json", "the body must be a JSON object");
    return;
  }
  api_event ev;
  field_errors errors;
  if (!read_event(*o, "", b.options().max_message_bytes, ev, errors)) {
    ctx->fail_fields(errors);
    return;
  }
  for (const auto& ch : ev.channels)
    b.publish(ch, ev.name, ev.data, ev.socket_id);
  json::object out;
  if (ev.info.any()) {
    // Each channel once, as it is after the trigger.
    json::object channels;
    for (const auto& ch : ev.channels)
      if (!channels.contains(ch))
        channels[ch] = channel_info(b, ch, ev.info);
    out["channels"] = std::move(channels);
  }
  ctx->respond(200, out);
}

void api_batch_events(const context_ptr& ctx, broadcaster& b) {
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return;
  const auto* o = body->if_object();
  const json::array* batch = nullptr;
  if (o != nullptr && o->contains("batch"))
    batch = o->at("batch").if_array();
  if (batch == nullptr || batch->empty() || batch->size() > max_batch) {
    ctx->fail_fields({{"batch", "expects an array of 1 to 10 events"}});
    return;
  }
  std::vector<api_event> events(batch->size());
  field_errors errors;
  for (std::size_t i = 0; i < batch->size(); ++i) {
    auto at = "batch[" + std::to_string(i) + "].";
    if (const auto* e = (*batch)[i].if_object())
      read_event(*e, at, b.options().max_message_bytes, events[i], errors);
    else
      errors["batch[" + std::to_string(i) + "]"] = "expects an object";
  }
  if (ctx->fail_fields_if_any(errors))
    return;
  for (const auto& ev : events)
    for (const auto& ch : ev.channels)
      b.publish(ch, ev.name, ev.data, ev.socket_id);
  // Per event, the attributes its `info` asks for of its channel.
  json::array answers;
  for (const auto& ev : events)
    answers.emplace_back(ev.info.any() && !ev.channels.empty()
                             ? channel_info(b, ev.channels.front(), ev.info)
                             : json::object{});
  json::object out;
  out["batch"] = std::move(answers);
  ctx->respond(200, out);
}

void api_channels(const context_ptr& ctx, broadcaster& b) {
  auto prefix = ctx->query("filter_by_prefix");
  auto info = query_info(ctx, prefix.rfind("presence-", 0) == 0,
                         "user_count needs filter_by_prefix=presence-");
  if (!info)
    return;
  json::object channels;
  for (const auto& c : b.channels(prefix)) {
    json::object one;
    if (info->user_count)
      one["user_count"] = c.users;
    if (info->subscription_count)
      one["subscription_count"] = c.subscriptions;
    channels[c.name] = std::move(one);
  }
  json::object out;
  out["channels"] = std::move(channels);
  ctx->respond(200, out);
}

void api_channel(const context_ptr& ctx, broadcaster& b) {
  const auto& name = ctx->param("channel_name");
  auto info = query_info(ctx, name.rfind("presence-", 0) == 0,
                         "user_count is for presence channels only");
  if (!info)
    return;
  auto c = b.channel(name);
  json::object out;
  out["occupied"] = c.has_value();
  if (info->user_count)
    out["user_count"] = c ? c->users : 0;
  if (info->subscription_count)
    out["subscription_count"] = c ? c->subscriptions : 0;
  ctx->respond(200, out);
}

void api_users(const context_ptr& ctx, broadcaster& b) {
  const auto& name = ctx->param("channel_name");
  if (name.rfind("presence-", 0) != 0) {
    ctx->fail(400, "not_presence", name + " is not a presence channel");
    return;
  }
  json::array users;
  for (auto& id : b.users(name)) {
    json::object u;
    u["id"] = id;
    users.emplace_back(std::move(u));
  }
  json::object out;
  out["users"] = std::move(users);
  ctx->respond(200, out);
}

void api_connections(const context_ptr& ctx, broadcaster& b) {
  json::object out;
  out["connections"] = b.stats().connections;
  ctx->respond(200, out);
}

} // namespace

void add_broadcast_routes(router& r) {
  r.add("POST", "/broadcasting/auth", access::company, broadcasting_auth,
        "Sign a subscription to the company's private or presence channel",
        broadcasting_cors);
  r.add("OPTIONS", "/broadcasting/auth", access::open, broadcasting_preflight,
        "CORS preflight of /broadcasting/auth", broadcasting_cors);
  r.add("POST", "/apps/{app_id}/events", access::open, api_route(api_events),
        "Pusher HTTP API: trigger an event on channels");
  r.add("POST", "/apps/{app_id}/batch_events", access::open,
        api_route(api_batch_events),
        "Pusher HTTP API: trigger up to 10 events");
  r.add("GET", "/apps/{app_id}/channels", access::open, api_route(api_channels),
        "Pusher HTTP API: occupied channels");
  r.add("GET", "/apps/{app_id}/channels/{channel_name}", access::open,
        api_route(api_channel), "Pusher HTTP API: one channel");
  r.add("GET", "/apps/{app_id}/channels/{channel_name}/users", access::open,
        api_route(api_users),
        "Pusher HTTP API: the users of a presence channel");
  r.add("GET", "/apps/{app_id}/connections", access::open,
        api_route(api_connections), "Pusher HTTP API: open connections");
}

} // namespace switchboard::app::http
