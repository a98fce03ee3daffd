// The events dashboard: its embedded page and script, the sign-in that
// exchanges a token for a session cookie, and the live feed of events
// (server-sent events).

#include <charconv>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include <actors/cluster_view.hpp>
#include <actors/node.hpp>
#include <app/http/event_stream.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/routes.hpp>
#include <app/http/sessions.hpp>
#include <app/http/upgrade.hpp>
#include <app/http/web_assets.hpp>
#include <store/event_store.hpp>

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

/// The handler of a route that answers with the embedded file `name`.
handler_fn asset_handler(std::string_view name) {
  return [name](const context_ptr& ctx) {
    serve_asset(ctx, name);
  };
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

/// The handler of a route of the signed-in session: calls `fn(ctx,
/// session)` once the cookie names one (401 otherwise).
template <class Fn>
handler_fn session_handler(Fn fn) {
  return [fn](const context_ptr& ctx) {
    if (auto s = cookie_session(ctx))
      fn(ctx, *s);
  };
}

/// Events a stream's answer sends from the store before it goes live; a
/// client further behind gets them and reconnects for the next ones.
constexpr std::size_t max_catch_up = 1000;

/// Whom a stream is for: the session of the cookie, else the bearer
/// token's principal; null when answered (401).
std::optional<store::principal> stream_principal(const context_ptr& ctx) {
  auto auth = ctx->req().header("authorization");
  constexpr std::string_view scheme = "Bearer ";
  if (auth.empty()) {
    auto s = cookie_session(ctx);
    if (!s)
      return std::nullopt;
    return s->who;
  }
  if (auth.size() <= scheme.size() || auth.substr(0, scheme.size()) != scheme) {
    ctx->fail(401, "unauthorized", "Authorization: expected Bearer <token>", {},
              {{"WWW-Authenticate", "Bearer"}});
    return std::nullopt;
  }
  auto who = ctx->tenants().resolve(auth.substr(scheme.size()));
  if (!who) {
    if (who.error().code == store::errc::not_found)
      ctx->fail(401, "unauthorized", "unknown or revoked token", {},
                {{"WWW-Authenticate", "Bearer"}});
    else
      ctx->fail_store(who.error());
    return std::nullopt;
  }
  return *who;
}

/// A sequence number of a resume point, or nothing.
std::optional<std::uint64_t> sequence_of(std::string_view text) {
  std::uint64_t v = 0;
  if (text.empty() || text.size() > 20)
    return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v == UINT64_MAX)
    return std::nullopt;
  return v;
}

/// Answers with the stream's header, `body` (the prelude and the events
/// caught up, up to sequence `sent`) and hands the connection to `s`.
void go_live(const context_ptr& ctx, std::shared_ptr<event_streams::stream> s,
             std::string body, std::uint64_t sent) {
  response r;
  r.status = 200;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "text/event-stream; charset=utf-8"},
               {"Cache-Control", "no-store"},
               {"X-Accel-Buffering", "no"}};
  auto* streams = ctx->svc().event_streams;
  r.take_over = [streams, s = std::move(s), sent](upgrade&& u) {
    streams->attach(s, std::move(u), sent);
  };
  ctx->respond_raw(std::move(r));
}

/// What a catch-up read from the store sent.
struct caught_up {
  std::uint64_t sent = 0; ///< The last sequence in the body.
  bool more = false;      ///< Further behind than one answer takes.
};

/// Appends to `body` the frames of `company`'s events ("": every
/// company's) after sequence `from`, at most `max_catch_up`. Answers (and
/// returns nothing) on an error or past the deadline.
std::optional<caught_up> catch_up(const context_ptr& ctx,
                                  const read_deadline& deadline,
                                  const std::string& company,
                                  std::uint64_t from, std::string& body) {
  const auto& es = *ctx->node().store().events;
  caught_up out;
  out.sent = from;
  std::uint64_t next = from + 1;
  std::size_t n = 0;
  while (n < max_catch_up) {
    if (deadline.passed()) {
      ctx->fail(504, "timeout", "catching up did not finish in time");
      return std::nullopt;
    }
    auto want = std::min<std::size_t>(256, max_catch_up - n);
    auto page = company.empty() ? es.read_all(next, want)
                                : es.read_by_company(company, next, want);
    if (!page) {
      ctx->fail_store(page.error());
      return std::nullopt;
    }
    for (const auto& e : *page) {
      body += event_frame(e);
      out.sent = e.sequence;
      next = e.sequence + 1;
    }
    n += page->size();
    if (page->size() < want)
      break;
    out.more = n >= max_catch_up;
  }
  return out;
}

/// The header of a stream answered whole (no live part): the client
/// reconnects with Last-Event-ID for the next events.
std::vector<std::pair<std::string, std::string>> whole_stream_headers() {
  return {{"Content-Type", "text/event-stream; charset=utf-8"},
          {"Cache-Control", "no-store"}};
}

/// On the member owning `company`: the catch-up another member asks for
/// its stream (stream_company_header), answered whole with how far it got.
void member_catch_up(const context_ptr& ctx, const std::string& company,
                     std::uint64_t from) {
  const auto& view = ctx->svc().cluster;
  if (!view || view->owner(company) != view->self()) {
    ctx->fail(503, "misrouted",
              "this node does not own company " + company
                  + "; the members' [cluster] peers differ",
              {}, {{"Retry-After", "1"}});
    return;
  }
  run_read(ctx, company, [ctx, company, from](const read_deadline& deadline) {
    std::string body;
    auto c = catch_up(ctx, deadline, company, from, body);
    if (!c)
      return;
    auto headers = whole_stream_headers();
    headers.emplace_back(stream_sent_header, std::to_string(c->sent));
    headers.emplace_back(stream_more_header, c->more ? "1" : "0");
    ctx->respond_json(200, std::move(body), std::move(headers));
  });
}

/// A stream of `company`, owned by member `owner`, resumed after `from`:
/// what was missed is read there, then the stream goes live here (the
/// owner relays its commits to every member).
void catch_up_at_owner(const context_ptr& ctx,
                       std::shared_ptr<event_streams::stream> s,
                       const std::string& company, const std::string& owner,
                       std::uint64_t from, std::string body) {
  const auto& svc = ctx->svc();
  if (!svc.cluster->is_up(owner) || !svc.ask_member) {
    ctx->fail(503, "owner_unavailable",
              "the node " + owner
                  + " owning this company is down; retry shortly",
              {}, {{"Retry-After", "1"}});
    return;
  }
  request r;
  r.method = "GET";
  r.target = "/admin/events/stream";
  r.path = r.target;
  r.headers = {{std::string{stream_company_header}, company},
               {"last-event-id", std::to_string(from)}};
  svc.ask_member(
      ctx, owner, std::move(r),
      [ctx, s = std::move(s), from,
       body = std::move(body)](response a) mutable {
        if (a.status != 200) {
          ctx->respond_raw(std::move(a));
          return;
        }
        std::string_view sent_text, more;
        for (const auto& [k, v] : a.headers) {
          if (k == stream_sent_header)
            sent_text = v;
          else if (k == stream_more_header)
            more = v;
        }
        auto sent = sequence_of(sent_text);
        if (!sent) {
          ctx->fail(503, "owner_unavailable",
                    "the member owning this company did not say how far "
                    "its catch-up got (another version?); retry shortly",
                    {}, {{"Retry-After", "1"}});
          return;
        }
        body += a.body;
        if (more == "1") {
          ctx->respond_json(200, std::move(body), whole_stream_headers());
          return;
        }
        go_live(ctx, std::move(s), std::move(body), std::max(*sent, from));
      });
}

/// GET /admin/events/stream: committed events as server-sent events, the
/// company's own (an admin's: all, or `company_id`'s).
void open_stream(const context_ptr& ctx) {
  auto* streams = ctx->svc().event_streams;
  if (streams == nullptr) {
    ctx->fail(404, "not_found", "event streams are off");
    return;
  }
  // Another member asking, for a stream of a company this one owns.
  if (auto c = ctx->req().header(stream_company_header);
      !c.empty() && ctx->forwarded()) {
    auto from = sequence_of(ctx->req().header("last-event-id"));
    if (!from) {
      ctx->fail_fields({{"Last-Event-ID", "invalid"}});
      return;
    }
    member_catch_up(ctx, std::string{c}, *from);
    return;
  }
  auto who = stream_principal(ctx);
  if (!who)
    return;
  // Where to resume: the browser's Last-Event-ID on a reconnect, else
  // `after` (the page's first connection, after the events it listed).
  std::optional<std::uint64_t> after;
  field_errors errs;
  if (auto h = ctx->req().header("last-event-id"); !h.empty()) {
    after = sequence_of(h);
    if (!after)
      errs["Last-Event-ID"] = "invalid: expected an event sequence number";
  } else if (auto q = ctx->query("after"); !q.empty()) {
    after = sequence_of(q);
    if (!after)
      errs["after"] = "invalid: expected an event sequence number";
  }
  auto company = who->admin ? ctx->query("company_id") : who->company_id;
  if (ctx->fail_fields_if_any(errs))
    return;
  event_streams::refusal why;
  auto s = streams->open(company, after.value_or(0), why);
  if (!s) {
    if (why == event_streams::refusal::company_full)
      ctx->fail(429, "too_many_streams",
                "this company has "
                    + std::to_string(streams->options().per_company)
                    + " event streams open already",
                {}, {{"Retry-After", "5"}});
    else
      ctx->fail(503, "too_many_streams",
                why == event_streams::refusal::stopped
                    ? "the server is stopping"
                    : "the server has as many event streams as it takes",
                {}, {{"Retry-After", "5"}});
    return;
  }
  std::string body{event_stream_prelude()};
  if (!after) {
    go_live(ctx, std::move(s), std::move(body), 0);
    return;
  }
  // In a cluster a company's events are in its owner's log: a resume of
  // another member's company reads there.
  if (const auto& view = ctx->svc().cluster; view && !company.empty()) {
    if (auto owner = view->owner(company);
        !owner.empty() && owner != view->self()) {
      catch_up_at_owner(ctx, std::move(s), company, owner, *after,
                        std::move(body));
      return;
    }
  }
  // What was committed after the resume point, from the store (the stream
  // queues what commits meanwhile; what both hold is sent once).
  run_read(ctx, company,
           [ctx, s = std::move(s), company, from = *after,
            body = std::move(body)](const read_deadline& deadline) mutable {
             auto c = catch_up(ctx, deadline, company, from, body);
             if (!c)
               return;
             if (c->more) {
               // Further behind than one answer takes: these, then the
               // client reconnects (Last-Event-ID) for the next ones.
               ctx->respond_json(200, std::move(body), whole_stream_headers());
               return;
             }
             go_live(ctx, std::move(s), std::move(body), c->sent);
           });
}

} // namespace

void add_dashboard_routes(router& r) {
  r.add("GET", "/admin/events/stream", access::open, open_stream,
        "Committed events as server-sent events (text/event-stream), "
        "live: the session's (or bearer token's) company, an admin's all "
        "or company_id's; resumes after Last-Event-ID or ?after=");
  r.add("GET", "/admin/events/dashboard", access::open,
        asset_handler("dashboard.html"),
        "The events dashboard (HTML, embedded in the binary)");
  r.add("GET", "/admin/events/dashboard.js", access::open,
        asset_handler("dashboard.js"), "The dashboard's script");
  r.add("POST", "/admin/events/session", access::open, sign_in,
        "Signs in: exchanges an admin or company token (body: token) for "
        "an HttpOnly session cookie; answers the session's CSRF token");
  r.add("GET", "/admin/events/session", access::open,
        session_handler([](const context_ptr& ctx, const session& s) {
          ctx->respond(200, whoami(s.who, s.csrf),
                       {{"Cache-Control", "no-store"}});
        }),
        "The signed-in session: company, admin, CSRF token");
  r.add("DELETE", "/admin/events/session", access::open,
        session_handler([](const context_ptr& ctx, const session& s) {
          if (!allowed_from_session(*ctx, s))
            return;
          ctx->svc().sessions->close(
              cookie_value(ctx->req().header("cookie"), session_cookie));
          ctx->respond(200, json::object{{"signed_out", true}},
                       {{"Set-Cookie", cookie("", 0)}});
        }),
        "Signs out (the session's CSRF token in X-CSRF-Token)");
}

} // namespace switchboard::app::http
