// GET /metrics: the Prometheus text exposition (format 0.0.4). The
// counters and histograms are counted where the work happens
// (telemetry/metrics.hpp); what no hot path counts (queue depths, the
// map, connections) is read here, at scrape time, with bounded work: a
// few cursor counts per queue.

#include <algorithm>
#include <chrono>
#include <map>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <actors/node.hpp>
#include <app/http/broadcasting.hpp>
#include <app/http/event_stream.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/routes.hpp>
#include <messages/time.hpp>
#include <store/environment.hpp>
#include <store/job_queue.hpp>
#include <store/stats.hpp>
#include <telemetry/metrics.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

namespace {

using labels = std::vector<std::pair<std::string, std::string>>;

telemetry::histogram& scrape_duration() {
  static auto& h = telemetry::metrics()
                       .histogram("switchboard_metrics_scrape_duration_seconds",
                                  "Time to render /metrics")
                       .with();
  return h;
}

/// A family of one sample without labels.
void scalar(telemetry::exposition& out, std::string_view name,
            std::string_view help, telemetry::kind k, std::uint64_t value) {
  out.header(name, help, k);
  out.sample(name, {}, static_cast<double>(value));
}

void queue_gauges(telemetry::exposition& out, switchboard::node& n) {
  using telemetry::kind;
  out.header("switchboard_queue_jobs",
             "Jobs per queue and state (ready: due now; delayed: due later; "
             "leased: running; failed: out of attempts)",
             kind::gauge);
  auto now = n.clock()();
  for (const auto& [name, actor] : n.queues()) {
    auto c = n.store().jobs->counts(name, now);
    if (!c)
      continue;
    for (auto [state, v] :
         {std::pair{"ready", c->ready}, std::pair{"delayed", c->delayed},
          std::pair{"leased", c->leased}, std::pair{"failed", c->failed}})
      out.sample("switchboard_queue_jobs",
                 labels{{"queue", name}, {"state", state}},
                 static_cast<double>(v));
  }
}

void store_gauges(telemetry::exposition& out, switchboard::node& n) {
  using telemetry::kind;
  const auto& env = *n.store().env;
  scalar(out, "switchboard_store_map_size_bytes",
         "Size of the store's memory map (it grows as needed)", kind::gauge,
         env.map_size());
  scalar(out, "switchboard_store_used_bytes",
         "Bytes of the map up to its last written page", kind::gauge,
         env.used_bytes());
}

/// `source->stats()`; zeros without a source.
template <class Source>
auto stats_of(const Source* source) {
  return source != nullptr ? source->stats() : decltype(source->stats()){};
}

void broadcast_metrics(telemetry::exposition& out, const broadcast_stats& s) {
  using telemetry::kind;
  scalar(out, "switchboard_websocket_connections",
         "WebSocket (Pusher protocol) connections open", kind::gauge,
         s.connections);
  scalar(out, "switchboard_websocket_messages_sent_total",
         "Frames queued to WebSocket connections", kind::counter,
         s.frames_sent);
  scalar(out, "switchboard_websocket_slow_closed_total",
         "Connections closed because their send queue was full", kind::counter,
         s.slow_closed);
  scalar(out, "switchboard_websocket_refused_total",
         "Connections refused (unknown key, origin, over quota)", kind::counter,
         s.refused);
}

void stream_metrics(telemetry::exposition& out, const event_stream_stats& s) {
  using telemetry::kind;
  scalar(out, "switchboard_event_streams",
         "Server-sent event streams open (GET /admin/events/stream)",
         kind::gauge, s.open);
  scalar(out, "switchboard_event_stream_frames_total",
         "Events queued to event streams", kind::counter, s.frames_sent);
  scalar(out, "switchboard_event_stream_slow_closed_total",
         "Event streams closed because their queue was full", kind::counter,
         s.slow_closed);
  scalar(out, "switchboard_event_stream_refused_total",
         "Event streams refused (over the company's or the server's "
         "limit)",
         kind::counter, s.refused);
}

const char* kind_name(store::stats_kind k) {
  switch (k) {
  case store::stats_kind::event:
    return "event";
  case store::stats_kind::listener:
    return "listener";
  case store::stats_kind::queue_wait:
    return "queue_wait";
  case store::stats_kind::queue_runtime:
    return "queue_runtime";
  }
  return "unknown";
}

/// One step's (or the range's) totals as JSON; `timed` adds the average
/// and percentiles in ms.
json::object to_json(const store::minute_bucket& t, bool timed) {
  json::object o;
  o["count"] = t.count;
  o["failures"] = t.failures;
  if (timed) {
    std::uint64_t observed = 0;
    for (auto n : t.buckets)
      observed += n;
    o["avg_ms"]
        = observed == 0 ? 0.0 : t.sum * 1000.0 / static_cast<double>(observed);
    o["p50_ms"] = telemetry::quantile(t.buckets, 0.50) * 1000.0;
    o["p95_ms"] = telemetry::quantile(t.buckets, 0.95) * 1000.0;
    o["p99_ms"] = telemetry::quantile(t.buckets, 0.99) * 1000.0;
  }
  return o;
}

/// Most points one answer may carry per series.
constexpr std::int64_t max_points = 1440;

void admin_stats(const context_ptr& ctx) {
  field_errors errs;
  auto now = ctx->node().clock()();
  auto to = query_time(*ctx, "to", now, errs);
  auto from = query_time(*ctx, "from", to - 3600 * 1000, errs);
  auto step_s = ctx->query_uint("step", 60, 60, 7 * 24 * 3600, errs);
  if (errs.empty() && step_s % 60 != 0)
    errs["step"] = "must be a multiple of 60 (seconds)";
  if (errs.empty() && from >= to)
    errs["from"] = "must be before to";
  if (errs.empty()
      && (to - from) / (static_cast<std::int64_t>(step_s) * 1000) > max_points)
    errs["step"] = "too small for the range: at most "
                   + std::to_string(max_points) + " points";
  // A company token reads its company's series; an admin the node's, or
  // one company's with company_id.
  const auto& who = ctx->who();
  auto company = who.admin ? ctx->query("company_id") : who.company_id;
  if (ctx->fail_fields_if_any(errs))
    return;
  // The read may cover days of buckets: on the read pool.
  run_read(
      ctx, who.admin ? std::string{} : company,
      [ctx, from, to, step_s, company](const read_deadline&) {
        auto step_min = static_cast<std::uint64_t>(step_s / 60);
        auto first = static_cast<std::uint64_t>(std::max<std::int64_t>(0, from))
                     / 60000;
        auto last
            = static_cast<std::uint64_t>(std::max<std::int64_t>(0, to)) / 60000;
        auto buckets = ctx->node().store().stats->range(first, last + 1,
                                                        1000000, company);
        if (!buckets) {
          ctx->fail_store(buckets.error());
          return;
        }
        auto steps = (last - first) / step_min + 1;
        struct series {
          std::vector<store::minute_bucket> points;
          store::minute_bucket total;
        };
        std::map<std::pair<store::stats_kind, std::string>, series> all;
        for (const auto& b : *buckets) {
          auto& s = all[{b.kind, b.name}];
          if (s.points.empty())
            s.points.resize(steps);
          store::add_into(s.points[(b.minute - first) / step_min], b);
          store::add_into(s.total, b);
        }
        json::array out;
        for (const auto& [key, s] : all) {
          bool timed = key.first != store::stats_kind::event;
          json::object so;
          so["kind"] = kind_name(key.first);
          so["name"] = key.second;
          json::array points;
          for (std::size_t i = 0; i < s.points.size(); ++i) {
            auto p = to_json(s.points[i], timed);
            p["t"] = format_rfc3339(
                static_cast<timestamp_ms>((first + i * step_min) * 60000));
            points.push_back(std::move(p));
          }
          so["points"] = std::move(points);
          so["total"] = to_json(s.total, timed);
          out.push_back(std::move(so));
        }
        json::object o;
        o["from"] = format_rfc3339(static_cast<timestamp_ms>(first * 60000));
        o["to"] = format_rfc3339(static_cast<timestamp_ms>((last + 1) * 60000));
        o["step_s"] = step_s;
        if (!company.empty())
          o["company_id"] = company;
        o["series"] = std::move(out);
        ctx->respond(200, o);
      });
}

} // namespace

std::string render_metrics(const services& svc) {
  auto began = std::chrono::steady_clock::now();
  telemetry::exposition out;
  out.text().reserve(64 * 1024);
  // Made before rendering, so that it is listed on the first scrape.
  auto& scrape = scrape_duration();
  telemetry::metrics().render(out);
  if (svc.node != nullptr) {
    queue_gauges(out, *svc.node);
    store_gauges(out, *svc.node);
  }
  broadcast_metrics(out, stats_of(svc.broadcasting));
  stream_metrics(out, stats_of(svc.event_streams));
  scrape.observe_since(began);
  return std::move(out.text());
}

void respond_metrics(const context_ptr& ctx) {
  ctx->respond_json(
      200, render_metrics(ctx->svc()),
      {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}});
}

void add_metrics_routes(router& r) {
  r.add("GET", "/metrics", access::admin, respond_metrics,
        "Prometheus metrics, text format 0.0.4 (admin; or open on "
        "metrics.port)");
  r.add("GET", "/api/admin/stats", access::company, admin_stats,
        "Minute buckets of events, listeners and queues, kept 7 days: "
        "counts, failures, average and p50/p95/p99; a company token's "
        "company's own, an admin's the node's or company_id's");
}

} // namespace switchboard::app::http
