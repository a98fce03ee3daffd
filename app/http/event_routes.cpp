// The events API: a stream by aggregate (the seed's getEvents), recent /
// by type / by time, and appends of client events through the dispatcher.

#include <algorithm>

#include <charconv>
#include <chrono>
#include <deque>
#include <map>
#include <messages/aggregate_types.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/event_checks.hpp>
#include <app/http/bridge.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/route_helpers.hpp>
#include <app/http/routes.hpp>
#include <messages/cloudevents.hpp>
#include <messages/id_check.hpp>
#include <messages/ids.hpp>
#include <messages/json.hpp>
#include <messages/registry.hpp>
#include <messages/time.hpp>
#include <store/audit_log.hpp>
#include <store/event_store.hpp>
#include <store/traces.hpp>

namespace switchboard::app::http {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto dispatch_timeout = 10s;
constexpr std::string_view batch_type = "application/cloudevents-batch+json";
/// Most events one page of a listing reads to fill itself after
/// filtering; past it the page comes back short, with its cursor.
constexpr std::size_t max_scan = 16384;

/// `company` when it has the stream (`type`, `id`), else "" (streams are
/// per company: another company's equal id is another stream).
store::result<std::string> stream_owner(const store::event_store& es,
                                        std::string_view company,
                                        std::string_view type,
                                        std::string_view id) {
  auto first = es.read_stream(company, type, id, 1, 1);
  if (!first)
    return make_unexpected(first.error());
  if (first->empty())
    return std::string{};
  return std::move(first->front().company_id);
}

void get_stream(const context_ptr& ctx) {
  field_errors errs;
  auto from = ctx->query_uint("from_version", 1, 1, UINT64_MAX, errs);
  auto limit = query_limit(*ctx, errs);
  if (ctx->fail_fields_if_any(errs))
    return;
  const auto& type = ctx->param("aggregate_type");
  const auto& id = ctx->param("aggregate_id");
  if (auto bad = id_problem(id))
    errs["aggregate_id"] = *bad;
  if (auto bad = id_problem(type))
    errs["aggregate_type"] = *bad;
  if (ctx->fail_fields_if_any(errs))
    return;
  // The caller's company's stream (an admin names the company): another
  // company's stream of that id is another stream, never read here.
  const auto& who = ctx->who();
  auto company
      = who.admin ? ctx->query("company_id", who.company_id) : who.company_id;
  const auto& es = *ctx->node().store().events;
  auto owner = stream_owner(es, company, type, id);
  if (!owner) {
    ctx->fail_store(owner.error());
    return;
  }
  if (owner->empty() || !ctx->may_see(*owner)) {
    ctx->fail(404, "not_found", "no stream " + type + "/" + id);
    return;
  }
  auto events = es.read_stream(company, type, id, from, limit + 1);
  if (!events) {
    ctx->fail_store(events.error());
    return;
  }
  std::vector<std::pair<std::string, std::string>> headers
      = {{"Content-Type", std::string{batch_type}}};
  if (events->size() > limit) {
    events->resize(limit);
    headers.emplace_back("X-Next-From-Version",
                         std::to_string(events->back().version + 1));
  }
  ctx->respond(200, to_cloudevents_batch(*events), std::move(headers));
}

/// One page of GET /api/events, on the read pool: at most `max_scan`
/// events are read. With `after`, the first `limit` matches after it
/// (X-Next-After when more may follow); without, the last `limit`
/// matches: a company's newest events read backwards, an admin's the
/// log's tail or, filtered, a scan from the start.
void list_events_page(const context_ptr& ctx, const read_deadline& deadline,
                      std::size_t limit, bool has_after, std::uint64_t after,
                      timestamp_ms from, timestamp_ms to,
                      const std::string& type) {
  const auto& es = *ctx->node().store().events;
  const auto& who = ctx->who();
  auto keep = [&](const envelope& e) {
    return (type.empty() || e.type == type) && e.occurred_at >= from
           && e.occurred_at < to;
  };
  std::vector<std::pair<std::string, std::string>> headers
      = {{"Content-Type", std::string{batch_type}}};
  if (!has_after && !who.admin) {
    // The company's newest events, read backwards from its last one.
    std::vector<envelope> newest;
    std::uint64_t before = UINT64_MAX;
    std::size_t scanned = 0;
    while (newest.size() < limit && scanned < max_scan) {
      if (deadline.passed()) {
        ctx->fail(504, "timeout",
                  "the listing did not finish within its deadline");
        return;
      }
      auto page = es.read_by_company_before(who.company_id, before, 256);
      if (!page) {
        ctx->fail_store(page.error());
        return;
      }
      for (auto& e : *page) {
        before = e.sequence;
        ++scanned;
        if (keep(e) && newest.size() < limit)
          newest.push_back(std::move(e));
      }
      if (page->size() < 256)
        break;
    }
    std::reverse(newest.begin(), newest.end());
    ctx->respond(200, to_cloudevents_batch(newest), std::move(headers));
    return;
  }
  // The index to walk: a company token walks its company's events; an
  // admin the type index, or the whole log.
  auto fetch = [&](std::uint64_t from_seq, std::size_t n) {
    if (!who.admin)
      return es.read_by_company(who.company_id, from_seq, n);
    if (!type.empty())
      return es.read_by(store::event_index::type, type, from_seq, n);
    return es.read_all(from_seq, n);
  };
  std::deque<envelope> out;
  std::uint64_t next = has_after ? after + 1 : 1;
  std::size_t scanned = 0;
  bool more = false;
  if (!has_after && type.empty() && from == INT64_MIN && to == INT64_MAX) {
    // Recent events of the whole log: its tail.
    auto last = es.last_sequence();
    if (!last) {
      ctx->fail_store(last.error());
      return;
    }
    next = *last > limit ? *last - limit + 1 : 1;
  }
  while (scanned < max_scan) {
    if (deadline.passed()) {
      ctx->fail(504, "timeout",
                "the listing did not finish within its deadline");
      return;
    }
    auto page = fetch(next, 256);
    if (!page) {
      ctx->fail_store(page.error());
      return;
    }
    for (auto& e : *page) {
      next = e.sequence + 1;
      ++scanned;
      if (!keep(e))
        continue;
      out.push_back(std::move(e));
      // With `after`, the first `limit` matches; without, the last ones.
      if (out.size() > limit) {
        if (has_after) {
          out.pop_back();
          more = true;
          break;
        }
        out.pop_front();
      }
    }
    if (more || page->size() < 256)
      break;
  }
  std::vector<envelope> events(std::make_move_iterator(out.begin()),
                               std::make_move_iterator(out.end()));
  if (more || scanned >= max_scan)
    headers.emplace_back(
        "X-Next-After",
        std::to_string(events.empty() ? next - 1 : events.back().sequence));
  ctx->respond(200, to_cloudevents_batch(events), std::move(headers));
}

void list_events(const context_ptr& ctx) {
  field_errors errs;
  auto limit = query_limit(*ctx, errs);
  bool has_after = !ctx->query("after").empty();
  auto after = ctx->query_uint("after", 0, 0, UINT64_MAX - 1, errs);
  auto from = query_time(*ctx, "from", INT64_MIN, errs);
  auto to = query_time(*ctx, "to", INT64_MAX, errs);
  auto type = ctx->query("type");
  if (!type.empty() && find_event_type(type) == nullptr)
    errs["type"] = "unknown_value: no event type " + type;
  if (ctx->fail_fields_if_any(errs))
    return;
  run_read(
      ctx, ctx->who().admin ? std::string{} : ctx->who().company_id,
      [ctx, limit, has_after, after, from, to,
       type](const read_deadline& deadline) {
        list_events_page(ctx, deadline, limit, has_after, after, from, to,
                         type);
      },
      limit);
}

/// Reads an optional string member; records a problem when it has another
/// type.
std::string string_field(const json::object& o, std::string_view name,
                         field_errors& errs, bool required) {
  auto* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) {
    if (required)
      errs[std::string{name}] = "missing";
    return {};
  }
  if (!v->is_string()) {
    errs[std::string{name}] = "wrong_type: expects a string";
    return {};
  }
  auto s = std::string{v->get_string()};
  if (required && s.empty())
    errs[std::string{name}] = "missing: must not be empty";
  else if (s.size() > 255)
    errs[std::string{name}] = "invalid: longer than 255 bytes";
  return s;
}

/// The command route that makes events of `type`, for an aggregate that
/// owns its events; "" for types that may be appended raw.
std::string command_route(std::string_view type) {
  static const std::map<std::string_view, std::string_view> routes{
      {event_traits<appointment_created>::wire_name, "POST /api/appointments"},
      {event_traits<appointment_updated>::wire_name,
       "PATCH /api/appointments/{id}"},
      {event_traits<appointment_cancelled>::wire_name,
       "POST /api/appointments/{id}/cancel"},
      {event_traits<appointment_completed>::wire_name,
       "POST /api/appointments/{id}/complete"},
      {event_traits<customer_created>::wire_name, "POST /api/customers"},
      {event_traits<customer_updated>::wire_name, "PATCH /api/customers/{id}"},
      {event_traits<customer_merged>::wire_name,
       "POST /api/customers/{id}/merge"},
      {event_traits<staff_updated>::wire_name,
       "POST /api/staff or PATCH /api/staff/{id}"},
      {event_traits<service_updated>::wire_name,
       "POST /api/services or PATCH /api/services/{id}"},
  };
  if (auto i = routes.find(type); i != routes.end())
    return std::string{i->second};
  const auto* info = find_event_type(type);
  if (info != nullptr && info->aggregate_type == aggregates::call)
    return "POST /webhooks/calls/{company_id}";
  return {};
}

void append_event(const context_ptr& ctx) {
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return;
  if (!body->is_object()) {
    ctx->fail_fields({{"", "wrong_type: the body must be a JSON object"}});
    return;
  }
  const auto& o = body->get_object();
  field_errors errs;
  envelope env;
  const bool admin = ctx->who().admin;
  env.type = string_field(o, "type", errs, true);
  if (!env.type.empty() && errs.count("type") == 0) {
    const auto* info = find_event_type(env.type);
    if (info == nullptr) {
      errs["type"] = "unknown_value: no event type " + env.type;
    } else if (auto route = command_route(env.type); !route.empty() && !admin) {
      // Aggregates own their events: only their deciders, which keep the
      // invariants (a calendar's overlaps, the tenancy of every id named),
      // make them. An admin may still append history (an import).
      ctx->fail(422, "use_command",
                env.type + " events come from the "
                    + std::string{info->aggregate_type} + " aggregate: use "
                    + route,
                {{"type", "owned_by_aggregate: use " + route}});
      return;
    }
  }
  env.id = string_field(o, "id", errs, false);
  env.aggregate_id = string_field(o, "aggregate_id", errs, true);
  env.aggregate_type = string_field(o, "aggregate_type", errs, false);
  auto company = string_field(o, "company_id", errs, false);
  for (auto [name, value] :
       {std::pair{"id", &env.id}, std::pair{"aggregate_id", &env.aggregate_id},
        std::pair{"company_id", &company}})
    if (!value->empty() && errs.count(name) == 0)
      if (auto bad = id_problem(*value))
        errs[name] = *bad;
  if (const auto* info = find_event_type(env.type);
      info != nullptr && env.aggregate_type.empty())
    env.aggregate_type = std::string{info->aggregate_type};
  if (auto* d = o.if_contains("data"); d == nullptr || d->is_null())
    errs["data"] = "missing";
  else if (!d->is_object())
    errs["data"] = "wrong_type: expects an object";
  else if (json_nesting(*d) > max_data_depth)
    errs["data"] = "invalid: nested deeper than "
                   + std::to_string(max_data_depth) + " levels";
  else
    env.data = serialize_json(*d);
  if (auto* t = o.if_contains("occurred_at"); t != nullptr && !t->is_null()) {
    auto parsed = t->is_string()
                      ? parse_rfc3339(std::string_view{t->get_string()})
                      : expected<timestamp_ms, std::string>{
                          make_unexpected(std::string{"type"})};
    if (parsed)
      env.occurred_at = *parsed;
    else
      errs["occurred_at"] = "bad_timestamp: expects an RFC 3339 time";
  } else {
    // Not given: the time it is appended.
    env.occurred_at = now_ms();
  }
  if (auto* m = o.if_contains("metadata"); m != nullptr && !m->is_null()) {
    if (!m->is_object()) {
      errs["metadata"] = "wrong_type: expects an object";
    } else {
      auto md = from_json<event_metadata>(*m);
      if (md)
        env.metadata = std::move(*md);
      else
        errs["metadata." + md.error().field] = md.error().problem;
    }
  }
  auto expect = expect_kind::any;
  std::uint64_t expected_version = 0;
  if (auto* v = o.if_contains("expected_version");
      v != nullptr && !v->is_null()) {
    if (v->is_uint64() || (v->is_int64() && v->get_int64() >= 0)) {
      expect = expect_kind::exact;
      expected_version = v->to_number<std::uint64_t>();
    } else {
      errs["expected_version"] = "wrong_type: expects an integer >= 0";
    }
  }
  // The company: a company token writes for its own company only; an admin
  // names one.
  if (admin) {
    env.company_id = company.empty() ? ctx->who().company_id : company;
    if (!company.empty() && errs.count("company_id") == 0
        && !ctx->tenants().company(company))
      errs["company_id"] = "unknown_value: no company " + company;
  } else {
    if (!company.empty() && company != ctx->who().company_id)
      errs["company_id"] = "invalid: not the token's company";
    env.company_id = ctx->who().company_id;
  }
  if (env.id.empty())
    env.id = new_event_id();
  // Every id the payload names must be of the event's company, for an
  // admin's import too.
  if (errs.empty()) {
    const auto& es = *ctx->node().store().events;
    check_references(
        env, o.at("data").get_object(),
        [&es, &env](std::string_view type, std::string_view id) {
          return stream_owner(es, env.company_id, type, id);
        },
        errs);
  }
  if (errs.empty()) {
    if (auto ok = validate(env); !ok) {
      auto field
          = ok.error().field.empty() ? std::string{"data"} : ok.error().field;
      errs[field] = ok.error().problem + ": " + ok.error().message;
    }
  }
  if (ctx->fail_fields_if_any(errs))
    return;
  if (!admin) {
    // Who and from where come from the token and the connection; an
    // admin's import keeps the history's own.
    env.metadata.user_id = ctx->who().user_id;
    env.metadata.ip_address = ctx->client_address();
  }
  // An event of the body names its correlation, else the request does.
  if (env.metadata.correlation_id.empty()) {
    if (!ctx->correlation(env.metadata.correlation_id))
      return;
  } else if (!store::valid_correlation_id(env.metadata.correlation_id)) {
    ctx->fail_fields({{"metadata.correlation_id", "invalid"}});
    return;
  }
  if (env.metadata.user_agent.empty())
    env.metadata.user_agent = std::string{ctx->req().header("user-agent")};
  if (env.metadata.source.empty())
    env.metadata.source = "api";
  // Streams and event ids are the company's own: another company's equal
  // ids are never seen here. An event id the company has stored already:
  // a retry of that event, or another event's id.
  const auto& es = *ctx->node().store().events;
  if (auto seq = es.find_event(env.company_id, env.id); seq) {
    auto prior = es.read_event(*seq);
    if (!prior) {
      ctx->fail_store(prior.error());
      return;
    }
    if (prior->aggregate_type != env.aggregate_type
        || prior->aggregate_id != env.aggregate_id) {
      ctx->fail(409, "conflict", "event id " + env.id + " is taken",
                {{"id", "taken: another event has this id"}});
      return;
    }
  }
  dispatch_request req;
  req.expect = expect;
  req.expected_version = expected_version;
  req.events.push_back(std::move(env));
  ctx->with_actor([ctx, req = std::move(req)](caf::event_based_actor* self) {
    auto stored = std::make_shared<envelope>(req.events.front());
    bridge_deadline d{self, dispatch_timeout, ctx};
    self->request(ctx->node().dispatcher(), caf::infinite, dispatch_atom::value,
                  req)
        .then(
            [stored, d](dispatch_result& r) {
              auto ctx = d.settle();
              if (!ctx)
                return;
              if (!r.sequences.empty())
                stored->sequence = r.sequences.front();
              if (!r.versions.empty())
                stored->version = r.versions.front();
              json::object o;
              o["id"] = stored->id;
              o["sequence"] = stored->sequence;
              o["version"] = stored->version;
              o["jobs_enqueued"] = r.jobs_enqueued;
              o["event"] = to_cloudevent(*stored);
              ctx->respond(201, o);
            },
            [stored, d](caf::error& e) {
              auto ctx = d.settle();
              if (!ctx)
                return;
              if (runtime_code(e) != runtime_errc::version_conflict) {
                fail_with(*ctx, e);
                return;
              }
              auto v = ctx->node().store().events->stream_version(
                  stored->company_id, stored->aggregate_type,
                  stored->aggregate_id);
              auto actual = v ? *v : 0;
              auto body = error_body(
                  "version_conflict",
                  "stream " + stored->aggregate_type + "/"
                      + stored->aggregate_id + " is at version "
                      + std::to_string(actual),
                  {{"expected_version", "stale: the stream is at version "
                                            + std::to_string(actual)}});
              body.as_object()["error"].as_object()["actual_version"] = actual;
              ctx->respond(409, body);
            });
  });
}

json::object audit_json(const store::audit_record& r) {
  json::error_code ec;
  auto data = json::parse(r.data, ec);
  return json::object{{"sequence", r.sequence},
                      {"event_id", r.event_id},
                      {"event_type", r.event_type},
                      {"model_type", r.model_type},
                      {"model_id", r.model_id},
                      {"user_id", r.user_id},
                      {"company_id", r.company_id},
                      {"data", ec ? json::value(r.data) : std::move(data)},
                      {"ip_address", r.ip_address},
                      {"user_agent", r.user_agent},
                      {"occurred_at", format_rfc3339(r.occurred_at)}};
}

void list_audit_page(const context_ptr& ctx, const std::string& company,
                     const std::string& model_type, const std::string& model_id,
                     std::uint64_t after, std::size_t limit);

/// GET /api/audit: the AuditLogger's records, of the caller's company or of
/// one model (aggregate), in sequence order after a cursor.
void list_audit(const context_ptr& ctx) {
  field_errors errs;
  auto limit = query_limit(*ctx, errs);
  auto after = ctx->query_uint("after", 0, 0, UINT64_MAX - 1, errs);
  auto model_type = ctx->query("model_type");
  auto model_id = ctx->query("model_id");
  if (model_type.empty() != model_id.empty())
    errs[model_type.empty() ? "model_type" : "model_id"]
        = "missing: model_type and model_id go together";
  const auto& who = ctx->who();
  auto company = who.admin ? ctx->query("company_id") : who.company_id;
  if (who.admin && company.empty())
    errs["company_id"] = "missing: an admin names a company";
  if (ctx->fail_fields_if_any(errs))
    return;
  run_read(
      ctx, who.admin ? std::string{} : who.company_id,
      [ctx, company, model_type, model_id, after, limit](const read_deadline&) {
        list_audit_page(ctx, company, model_type, model_id, after, limit);
      },
      limit);
}

/// One page of GET /api/audit (at most limit + 1 records read), on the
/// read pool.
void list_audit_page(const context_ptr& ctx, const std::string& company,
                     const std::string& model_type, const std::string& model_id,
                     std::uint64_t after, std::size_t limit) {
  const auto& log = *ctx->node().store().audit;
  // A model's records hold its company: those of another company are
  // skipped as if absent (the page may then come back short).
  auto recs = model_type.empty() ? log.by_company(company, after, limit + 1)
                                 : log.by_model(company, model_type, model_id,
                                                after, limit + 1);
  if (!recs) {
    ctx->fail_store(recs.error());
    return;
  }
  json::array out;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t last = after;
  for (const auto& r : *recs) {
    if (out.size() == limit) {
      headers.emplace_back("X-Next-After", std::to_string(last));
      break;
    }
    last = r.sequence;
    if (!company.empty() && r.company_id != company)
      continue;
    out.push_back(audit_json(r));
  }
  if (headers.empty() && recs->size() == limit + 1)
    headers.emplace_back("X-Next-After", std::to_string(last));
  ctx->respond(200, json::object{{"records", std::move(out)}},
               std::move(headers));
}

} // namespace

/// Reads a timestamp query parameter (RFC 3339 or epoch milliseconds).
timestamp_ms query_time(const request_context& ctx, std::string_view name,
                        timestamp_ms fallback, field_errors& errs) {
  auto text = ctx.query(name);
  if (text.empty())
    return fallback;
  if (auto t = parse_rfc3339(text))
    return *t;
  std::int64_t ms = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec == std::errc{} && p == text.data() + text.size())
    return ms;
  errs[std::string{name}] = "invalid: expects an RFC 3339 time";
  return fallback;
}

void add_event_routes(router& r) {
  r.add("GET", "/api/audit", access::company, list_audit,
        "The audit log of the caller's company, or of one model "
        "(?model_type=&model_id=&after=&limit=; admins add company_id=)");
  r.add("GET", "/api/events/{aggregate_type}/{aggregate_id}", access::company,
        get_stream,
        "The events of one aggregate in version order, as CloudEvents "
        "(?from_version=&limit=)");
  r.add("GET", "/api/events", access::company, list_events,
        "Recent events, by type, by time, as CloudEvents "
        "(?type=&from=&to=&after=&limit=)");
  r.add("POST", "/api/events", access::company, append_event,
        "Appends one event for the caller's company through the "
        "dispatcher (optional expected_version)");
}

} // namespace switchboard::app::http
