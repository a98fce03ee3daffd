#include "app/http/gateway.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <caf/actor_system.hpp>

#include <actors/cluster_view.hpp>
#include <actors/listeners/catch_up.hpp>
#include <actors/listeners/pause.hpp>
#include <actors/log.hpp>
#include <actors/node.hpp>
#include <app/config.hpp>
#include <app/http/bridge.hpp>
#include <app/http/routes.hpp>
#include <app/http/sessions.hpp>
#include <app/http/upgrade.hpp>
#include <messages/text.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <telemetry/metrics.hpp>

namespace switchboard::app::http {

namespace {

/// Calls `f` on what each of `parts` points to, in order, skipping the
/// empty ones.
template <class F, class... Parts>
void for_each_set(F f, const Parts&... parts) {
  ((parts ? f(*parts) : void()), ...);
}

/// The token of an `Authorization: Bearer <token>` header, or "".
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size())
    return {};
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
      return {};
  return trim_any(header.substr(scheme.size()), " ");
}

/// Sends the request to the member owning its company, when that is not
/// this node; true when it has (the request is then answered from there).
/// The company is the token's, an admin's `company_id`, or the route's
/// `{company_id}` (webhooks). A request forwarded here is never forwarded
/// again: members that disagree on ownership (their `peers` differ)
/// answer 503 rather than pass it on.
bool route_elsewhere(const services& svc, const context_ptr& ctx) {
  const auto& who = ctx->who();
  std::string company;
  if (!who.company_id.empty() && !who.admin)
    company = who.company_id;
  else if (who.admin)
    company = ctx->query("company_id");
  else
    company = ctx->param("company_id");
  if (company.empty())
    return false;
  auto owner = svc.cluster->owner(company);
  if (owner == svc.cluster->self() || owner.empty()) {
    // A write of a company this node owns is refused while the company
    // moves to another member, else counted until answered, so that a
    // move begins only once the writes in flight are done. The cluster's
    // own routes (a move among them) are not writes of the company.
    const auto& method = ctx->req().method;
    if (method == "GET" || method == "HEAD"
        || ctx->req().path.rfind("/api/admin/cluster", 0) == 0)
      return false;
    if (!svc.cluster->try_begin_write(company)) {
      ctx->fail(503, "company_moving",
                "company " + company
                    + " is moving to another cluster member; retry shortly",
                {}, {{"Retry-After", "1"}});
      return true;
    }
    ctx->on_answer([view = svc.cluster, company] {
      view->end_write(company);
    });
    return false;
  }
  if (ctx->forwarded()) {
    ctx->fail(503, "misrouted",
              "this node does not own company " + company + " (its owner is "
                  + owner + "); the members' [cluster] peers differ",
              {}, {{"Retry-After", "1"}});
    return true;
  }
  if (!svc.cluster->is_up(owner)) {
    ++svc.cluster->owner_down;
    ctx->fail(503, "owner_unavailable",
              "the node " + owner
                  + " owning this company is down; retry shortly",
              {}, {{"Retry-After", "1"}});
    return true;
  }
  svc.forward(ctx, owner);
  return true;
}

} // namespace

gateway_options gateway_options_from(const config& cfg) {
  gateway_options o;
  auto& s = o.server;
  s.host = cfg.get_string("http.host");
  s.port = static_cast<std::uint16_t>(cfg.get_int("http.port"));
  s.threads = static_cast<std::size_t>(cfg.get_int("http.threads"));
  s.body_limit
      = static_cast<std::uint64_t>(cfg.get_int("http.body_limit_bytes"));
  s.header_limit
      = static_cast<std::uint32_t>(cfg.get_int("http.header_limit_bytes"));
  s.read_timeout
      = std::chrono::milliseconds{cfg.get_int("http.read_timeout_ms")};
  s.max_connections
      = static_cast<std::size_t>(cfg.get_int("http.max_connections"));
  s.refusal_pause
      = std::chrono::milliseconds{cfg.get_int("limits.refusal_pause_ms")};
  s.drain_timeout
      = std::chrono::milliseconds{cfg.get_int("http.shutdown_timeout_ms")};
  o.bridge_actors = static_cast<std::size_t>(cfg.get_int("http.bridge_actors"));
  o.read_threads = static_cast<std::size_t>(cfg.get_int("http.read_threads"));
  o.read_deadline
      = std::chrono::milliseconds{cfg.get_int("http.read_deadline_ms")};
  o.access_log_sample
      = static_cast<std::uint32_t>(cfg.get_int("http.access_log_sample"));
  // A comma-separated list of addresses.
  for_each_item(cfg.get_string("http.trusted_proxies"), ',',
                [&](std::string_view proxy) {
                  o.trusted_proxies.emplace_back(proxy);
                });
  o.limits.defaults.requests_per_second
      = static_cast<std::uint32_t>(cfg.get_int("limits.requests_per_second"));
  o.limits.defaults.commands_in_flight
      = static_cast<std::uint32_t>(cfg.get_int("limits.commands_in_flight"));
  o.limits.defaults.rows_per_second
      = static_cast<std::uint32_t>(cfg.get_int("limits.rows_per_second"));
  o.limits_per_company = cfg.get_string("limits.per_company");
  o.limits.max_queue_lag_ms = cfg.get_int("queues.max_lag_ms");
  o.ready_commit_stall
      = std::chrono::milliseconds{cfg.get_int("http.ready_commit_stall_ms")};
  o.metrics_host = cfg.get_string("metrics.host");
  o.metrics_port = static_cast<std::uint16_t>(cfg.get_int("metrics.port"));
  o.event_streams = event_stream_options_from(cfg);
  if (auto b = broadcast_options_from(cfg))
    o.broadcasting = std::move(*b);
  else
    o.broadcasting_error = b.error();
  return o;
}

void gateway::dispatch(const router& r, const services& svc,
                       const context_ptr& ctx) {
  ctx->svc_ = &svc;
  const auto& req = ctx->req();
  auto m = r.match(req.method, req.path);
  if (m.what == route_match::kind::not_found) {
    ctx->fail(404, "not_found", "no route for " + req.path);
    return;
  }
  if (m.what == route_match::kind::method_not_allowed) {
    std::string allow;
    for (const auto& a : m.allow)
      allow += (allow.empty() ? "" : ", ") + a;
    ctx->fail(405, "method_not_allowed",
              req.method + " is not allowed on " + req.path
                  + " (allowed: " + allow + ")",
              {}, {{"Allow", allow}});
    return;
  }
  const auto& rt = *m.found;
  ctx->route_ = &rt.pattern;
  if (rt.guard && !rt.guard(ctx))
    return;
  auto authorizations = std::count_if(req.headers.begin(), req.headers.end(),
                                      [](const auto& h) {
                                        return h.first == "authorization";
                                      });
  if (authorizations > 1) {
    ctx->fail(400, "bad_request",
              "Authorization: the header must be sent at most once");
    return;
  }
  if (rt.access != access::open) {
    auto token = bearer_token(req.header("authorization"));
    std::vector<std::pair<std::string, std::string>> challenge
        = {{"WWW-Authenticate", "Bearer"}};
    // A dashboard's session cookie stands in for the token.
    auto sid = cookie_value(req.header("cookie"), session_cookie);
    // In a cluster, a request another member forwarded for one of its
    // sessions names the session's principal: that member authenticated
    // the session (and checked its CSRF token); it lives there only.
    auto member_said = token.empty() && ctx->forwarded()
                           ? req.header(forwarded_session_header)
                           : std::string_view{};
    if (!member_said.empty()) {
      auto who = parse_forwarded_principal(member_said);
      if (!who) {
        ctx->fail(401, "unauthorized", "malformed forwarded session", {},
                  challenge);
        return;
      }
      ctx->principal_ = std::move(*who);
    } else if (token.empty() && !sid.empty() && svc.sessions != nullptr) {
      auto s = svc.sessions->find(sid);
      if (!s) {
        ctx->fail(401, "unauthorized",
                  "the session has expired or was closed: sign in again", {},
                  challenge);
        return;
      }
      if (!allowed_from_session(*ctx, *s))
        return;
      token = {};
      ctx->principal_ = s->who;
    } else if (token.empty()) {
      ctx->fail(401, "unauthorized",
                "missing bearer token (Authorization: Bearer <token>)", {},
                challenge);
      return;
    }
    auto who = token.empty() ? store::result<store::principal>{ctx->principal_}
                             : svc.tenants->resolve(token);
    if (!who) {
      if (who.error().code == store::errc::not_found)
        ctx->fail(401, "unauthorized", "unknown or revoked token", {},
                  challenge);
      else
        ctx->fail_store(who.error());
      return;
    }
    if (rt.access == access::admin && !who->admin) {
      ctx->fail(403, "forbidden", "this route needs an admin token");
      return;
    }
    ctx->principal_ = std::move(*who);
  }
  ctx->params_ = std::move(m.params);
  // A company owned by another member: its owner answers (and counts the
  // request against the company's limits).
  if (svc.cluster && route_elsewhere(svc, ctx))
    return;
  const auto& who = ctx->principal_;
  if (rt.access != access::open && !who.admin && svc.limits)
    if (auto wait = svc.limits->admit(who.company_id)) {
      ctx->fail(429, "rate_limited",
                "this company is over its request rate; retry in "
                    + std::to_string(*wait) + " s",
                {}, {{"Retry-After", std::to_string(*wait)}});
      return;
    }
  rt.handler(ctx);
}

/// A thread that reads, a few times a second, how long each company's
/// oldest ready job has waited in each queue: the companies' lags go to
/// the limits (backpressure on bookings), each queue's largest to
/// `switchboard_queue_lag_seconds`. One short read transaction each time;
/// and how far each catch-up listener's checkpoint is behind the log
/// (`switchboard_catch_up_events_behind`), with how long the oldest event
/// past it has waited past its due time (`switchboard_catch_up_lag_seconds`;
/// the largest is every company's lag, to the limits).
class gateway::lag_sampler {
public:
  static constexpr std::chrono::milliseconds interval{200};

  lag_sampler(switchboard::node& n, company_limits& limits)
      : node_(n), limits_(limits) {
    thread_ = std::thread([this] {
      run();
    });
  }

  ~lag_sampler() {
    {
      std::lock_guard<std::mutex> g{mtx_};
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

private:
  void run() {
    static auto& gauge
        = telemetry::metrics().gauge("switchboard_queue_lag_seconds",
                                     "How long the oldest ready job of each "
                                     "queue has waited since it was due (0: "
                                     "none waiting)",
                                     {"queue"});
    static auto& behind = telemetry::metrics().gauge(
        "switchboard_catch_up_events_behind",
        "Events the log holds past each catch-up listener's checkpoint "
        "(sequences past it)",
        {"listener"});
    static auto& catch_up_lag = telemetry::metrics().gauge(
        "switchboard_catch_up_lag_seconds",
        "How long the oldest event past each catch-up listener's checkpoint "
        "has waited since it was due (its listener's delay after it was "
        "seen in the log; 0: none waiting)",
        {"listener"});
    std::unique_lock<std::mutex> lk{mtx_};
    while (!stop_) {
      lk.unlock();
      sample(gauge);
      sample_catch_ups(behind, catch_up_lag);
      lk.lock();
      cv_.wait_for(lk, interval, [this] {
        return stop_;
      });
    }
  }

  void sample(telemetry::family<telemetry::gauge>& gauge) {
    auto heads = node_.store().jobs->pending_heads();
    if (!heads)
      return; // the next reading tries again
    auto now = node_.clock()();
    std::unordered_map<std::string, std::int64_t> by_company;
    std::map<std::string, std::int64_t, std::less<>> by_queue;
    for (const auto& [name, actor] : node_.queues())
      by_queue[name] = 0;
    const auto& pause = node_.listener_ctx().pause;
    for (const auto& h : *heads) {
      if (h.due_at >= now)
        continue;
      auto lag = now - h.due_at;
      auto& q = by_queue[h.queue];
      q = std::max(q, lag);
      // A paused queue's work waits by the operator's choice: it shows
      // in the gauge but refuses no booking.
      if (pause && pause->paused(h.queue))
        continue;
      auto& c = by_company[h.company_id];
      c = std::max(c, lag);
    }
    limits_.set_queue_lags(std::move(by_company));
    for (const auto& [queue, lag] : by_queue)
      gauge.with({queue}).set(static_cast<double>(lag) / 1000.0);
  }

  void sample_catch_ups(telemetry::family<telemetry::gauge>& gauge,
                        telemetry::family<telemetry::gauge>& lags) {
    auto positions
        = catch_up_positions(node_.registry(), *node_.store().projections,
                             *node_.store().events, node_.catch_up_readers());
    if (!positions)
      return; // the next reading tries again
    if (positions->empty())
      return;
    auto now = node_.clock()();
    // The log's end, read once for all of them.
    auto last = positions->front().last;
    if (ends_.empty() || ends_.back().second < last)
      ends_.emplace_back(now, last);
    std::int64_t lag = 0;
    std::uint64_t least = UINT64_MAX;
    for (const auto& p : *positions) {
      gauge.with({p.listener}).set(static_cast<double>(p.behind()));
      least = std::min(least, p.checkpoint);
      auto& listener_lag = lags.with({p.listener});
      if (p.last <= p.checkpoint) {
        listener_lag.set(0);
        continue;
      }
      // The first reading that saw the log past the checkpoint: the
      // event after it has waited at least since then, of which the
      // listener's delay is its due wait, not lag.
      auto first = std::upper_bound(ends_.begin(), ends_.end(), p.checkpoint,
                                    [](std::uint64_t cp, const auto& e) {
                                      return cp < e.second;
                                    });
      std::int64_t waited = 0;
      if (first != ends_.end())
        waited = now - first->first - p.delay_ms;
      listener_lag.set(static_cast<double>(std::max<std::int64_t>(0, waited))
                       / 1000.0);
      if (const auto& pause = node_.listener_ctx().pause;
          !pause || !pause->paused(p.queue))
        lag = std::max(lag, waited);
    }
    // Readings every listener is past are no longer needed; the oldest
    // kept bounds the lag from below when there are too many.
    while (ends_.size() > 1
           && (ends_[1].second <= least || ends_.size() > max_ends))
      ends_.pop_front();
    limits_.set_catch_up_lag(lag);
  }

  /// (time, the log's last sequence then) of the readings that saw the
  /// log grow, oldest first (about 10 minutes of them at most).
  static constexpr std::size_t max_ends = 3000;
  std::deque<std::pair<timestamp_ms, std::uint64_t>> ends_;

  switchboard::node& node_;
  company_limits& limits_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

expected<std::unique_ptr<gateway>, std::string>
gateway::start(caf::actor_system& sys, switchboard::node& n,
               gateway_options opts) {
  auto lg = log::get(log::subsystem::http);
  if (!opts.broadcasting_error.empty())
    return make_unexpected(opts.broadcasting_error);
  std::unique_ptr<gateway> g{new gateway};
  add_routes(g->router_);
  register_http_metrics();
  auto t = store::tenants::open(*n.store().env);
  if (!t)
    return make_unexpected("opening tenants: " + store::to_string(t.error()));
  g->tenants_ = std::move(*t);
  g->bridge_ = std::make_unique<http::bridge>(sys, opts.bridge_actors);
  g->services_.node = &n;
  g->services_.tenants = g->tenants_.get();
  g->services_.bridge = g->bridge_.get();
  g->reads_ = std::make_unique<read_pool>(opts.read_threads,
                                          opts.reads_queued_per_company);
  g->services_.reads = g->reads_.get();
  g->services_.read_deadline = opts.read_deadline;
  g->services_.trusted_proxies = opts.trusted_proxies;
  g->states_ = std::make_unique<state_cache>();
  g->services_.states = g->states_.get();
  g->services_.access_log_sample = opts.access_log_sample;
  if (!opts.limits_per_company.empty()) {
    auto per
        = parse_company_limits(opts.limits_per_company, opts.limits.defaults);
    if (!per)
      return make_unexpected("limits.per_company: " + per.error());
    for (auto& [company, l] : *per)
      opts.limits.per_company[company] = l;
  }
  g->limits_ = std::make_unique<company_limits>(opts.limits);
  g->services_.limits = g->limits_.get();
  g->lag_sampler_ = std::make_unique<lag_sampler>(n, *g->limits_);
  g->services_.ready_commit_stall = opts.ready_commit_stall;
  g->sessions_ = std::make_unique<session_table>();
  g->services_.sessions = g->sessions_.get();
  g->services_.cluster = opts.cluster;
  g->services_.forward = opts.forward;
  g->services_.move = opts.move;
  g->services_.ask_member = opts.ask_member;
  g->node_ = &n;
  g->streams_ = std::make_unique<event_streams>(opts.event_streams);
  g->services_.event_streams = g->streams_.get();
  server::upgrade_fn on_upgrade;
  if (opts.broadcasting.enabled()) {
    g->broadcaster_
        = std::make_unique<broadcaster>(opts.broadcasting, opts.server.threads);
    g->services_.broadcasting = g->broadcaster_.get();
    on_upgrade = [b = g->broadcaster_.get()](upgrade&& u) {
      b->accept(std::move(u));
    };
  }
  auto* self = g.get();
  auto srv = server::start(
      opts.server,
      [self](const context_ptr& ctx) {
        dispatch(self->router_, self->services_, ctx);
      },
      std::move(on_upgrade), "/app/");
  if (!srv) {
    g->reads_->stop();
    g->bridge_->stop();
    return make_unexpected(srv.error());
  }
  g->server_ = std::move(*srv);
  if (opts.metrics_port != 0) {
    // Its own listener, one thread, one route, no token: for a scraper on
    // a private network; bind it where only that network reaches.
    g->metrics_router_.add("GET", "/metrics", access::open, respond_metrics,
                           "Prometheus metrics, text format 0.0.4");
    server_options mo;
    mo.host = opts.metrics_host;
    mo.port = opts.metrics_port;
    mo.threads = 1;
    mo.max_connections = 64;
    mo.body_limit = 4096;
    mo.drain_timeout = std::chrono::milliseconds{1000};
    auto ms
        = server::start(mo,
                        [self](const context_ptr& ctx) {
                          dispatch(self->metrics_router_, self->services_, ctx);
                        },
                        {}, {});
    if (!ms) {
      g->server_->stop();
      g->bridge_->stop();
      return make_unexpected("metrics listener: " + ms.error());
    }
    g->metrics_server_ = std::move(*ms);
    lg->info("metrics listening on {}:{}", mo.host, g->metrics_server_->port());
  }
  g->on_commits({});
  if (g->broadcaster_) {
    lg->info("broadcasting on ws://{}:{}/app/{} (app id {})", opts.server.host,
             g->server_->port(), opts.broadcasting.key,
             opts.broadcasting.app_id);
  }
  lg->info("http listening on {}:{} ({} thread(s), {} route(s))",
           opts.server.host, g->server_->port(), opts.server.threads,
           g->router_.routes().size());
  return g;
}

gateway::~gateway() {
  stop();
}

void gateway::on_commits(std::function<void(const std::vector<envelope>&)> fn) {
  if (node_ == nullptr)
    return;
  node_->commits().set([b = broadcaster_.get(), s = streams_.get(),
                        fn = std::move(fn)](const auto& events) {
    if (s != nullptr)
      s->publish_committed(events);
    if (b != nullptr)
      b->publish_committed(events);
    if (fn)
      fn(events);
  });
}

std::uint16_t gateway::metrics_port() const noexcept {
  return metrics_server_ ? metrics_server_->port() : 0;
}

std::uint16_t gateway::port() const noexcept {
  return server_ ? server_->port() : 0;
}

void gateway::stop() {
  lag_sampler_.reset();
  if (node_ != nullptr) {
    node_->commits().set({});
    node_ = nullptr;
  }
  auto stop = [](auto& part) {
    part.stop();
  };
  auto release = [](auto& part) {
    part.release();
  };
  for_each_set(stop, streams_, broadcaster_, metrics_server_, server_);
  for_each_set(release, broadcaster_, streams_);
  // After the server: requests it drains may wait for a read.
  for_each_set(stop, reads_, bridge_);
}

} // namespace switchboard::app::http
