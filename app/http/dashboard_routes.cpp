// The events dashboard: its embedded page and script, and the sign-in that
// exchanges a token for a session cookie.

#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include <app/http/routes.hpp>
#include <app/http/sessions.hpp>
#include <app/http/web_assets.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

namespace {

/// Answers with the embedded file `name`.
void serve_asset(const context_ptr& ctx, std::string_view name) {
  const auto* a = find_web_asset(name);
  if (a == nullptr) {
    ctx->fail(404, "not_found", "no file " + std::string{name});
    return;
  }
  ctx->respond_json(
      200, std::string{a->bytes},
      {{"Content-Type", std::string{a->content_type}},
       {"Cache-Control", "no-cache"},
       {"X-Content-Type-Options", "nosniff"},
       {"X-Frame-Options", "DENY"},
       // Its own files only: no inline script, nothing from elsewhere.
       {"Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'"}});
}

json::object whoami(const store::principal& who, const std::string& csrf) {
  json::object o;
  o["company_id"] = who.company_id;
  o["admin"] = who.admin;
  o["csrf_token"] = csrf;
  return o;
}

std::string cookie(std::string_view id, long max_age) {
  return std::string{session_cookie} + "=" + std::string{id}
         + "; HttpOnly; SameSite=Strict; Path=/; Max-Age="
         + std::to_string(max_age);
}

void sign_in(const context_ptr& ctx) {
  auto* sessions = ctx->svc().sessions;
  if (sessions == nullptr) {
    ctx->fail(404, "not_found", "sessions are off");
    return;
  }
  // Only the dashboard's own page signs in (no login from another site).
  if (!same_origin(ctx->req())) {
    ctx->fail(403, "forbidden", "cross-site request refused (Origin)");
    return;
  }
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return;
  const auto* o = body->if_object();
  const json::value* t = o ? o->if_contains("token") : nullptr;
  if (t == nullptr || !t->is_string() || t->get_string().empty()
      || t->get_string().size() > 512) {
    ctx->fail_fields({{"token", t == nullptr ? "missing" : "invalid"}});
    return;
  }
  auto who = ctx->tenants().resolve(std::string_view{t->get_string()});
  if (!who) {
    if (who.error().code == store::errc::not_found)
      ctx->fail(401, "unauthorized", "unknown or revoked token");
    else
      ctx->fail_store(who.error());
    return;
  }
  auto id = sessions->open(*who);
  auto s = sessions->find(id);
  if (!s) {
    ctx->fail(500, "internal", "the session was not kept");
    return;
  }
  ctx->respond(
      200, whoami(s->who, s->csrf),
      {{"Set-Cookie", cookie(id, static_cast<long>(sessions->ttl().count()))},
       {"Cache-Control", "no-store"}});
}

/// The session of the request's cookie, or null (answered 401).
std::optional<session> cookie_session(const context_ptr& ctx) {
  auto* sessions = ctx->svc().sessions;
  auto sid = cookie_value(ctx->req().header("cookie"), session_cookie);
  std::optional<session> s;
  if (sessions != nullptr && !sid.empty())
    s = sessions->find(sid);
  if (!s)
    ctx->fail(401, "unauthorized", "not signed in");
  return s;
}

} // namespace

void add_dashboard_routes(router& r) {
  r.add(
      "GET", "/admin/events/dashboard", access::open,
      [](const context_ptr& ctx) {
        serve_asset(ctx, "dashboard.html");
      },
      "The events dashboard (HTML, embedded in the binary)");
  r.add(
      "GET", "/admin/events/dashboard.js", access::open,
      [](const context_ptr& ctx) {
        serve_asset(ctx, "dashboard.js");
      },
      "The dashboard's script");
  r.add("POST", "/admin/events/session", access::open, sign_in,
        "Signs in: exchanges an admin or company token (body: token) for "
        "an HttpOnly session cookie; answers the session's CSRF token");
  r.add(
      "GET", "/admin/events/session", access::open,
      [](const context_ptr& ctx) {
        auto s = cookie_session(ctx);
        if (!s)
          return;
        ctx->respond(200, whoami(s->who, s->csrf),
                     {{"Cache-Control", "no-store"}});
      },
      "The signed-in session: company, admin, CSRF token");
  r.add(
      "DELETE", "/admin/events/session", access::open,
      [](const context_ptr& ctx) {
        auto s = cookie_session(ctx);
        if (!s)
          return;
        if (!allowed_from_session(*ctx, *s))
          return;
        ctx->svc().sessions->close(
            cookie_value(ctx->req().header("cookie"), session_cookie));
        ctx->respond(200, json::object{{"signed_out", true}},
                     {{"Set-Cookie", cookie("", 0)}});
      },
      "Signs out (the session's CSRF token in X-CSRF-Token)");
}

} // namespace switchboard::app::http
