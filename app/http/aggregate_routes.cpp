// The aggregates' API: customers, staff, services, appointments (book,
// reschedule, reassign, cancel, read) and availability. Every command goes
// to the router, which hands it to the aggregate's actor.

#include <chrono>
#include <optional>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/aggregates.hpp>
#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/http/bridge.hpp>
#include <app/http/limits.hpp>
#include <app/http/routes.hpp>
#include <app/http/state_cache.hpp>
#include <messages/id_check.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>

namespace switchboard::app::http {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto command_timeout = 30s;

/// The company a request acts for: the token's, or for an admin token the
/// `company_id` query parameter. Answers 422 and returns "" when missing.
std::string company_of(const context_ptr& ctx) {
  if (!ctx->who().admin)
    return ctx->who().company_id;
  auto c = ctx->query("company_id");
  if (c.empty())
    ctx->fail_fields({{"company_id", "admin tokens must name the company"}});
  return c;
}

/// What `If-Match: *` stands for in `parse_if_match`.
constexpr std::uint64_t any_version = UINT64_MAX;

/// The version an If-Match header names: `"7"` (or `7`), or `*` as
/// `any_version`; nothing for anything else (signs, suffixes, lists,
/// weak tags, overflow).
std::optional<std::uint64_t> parse_if_match(std::string_view v) {
  while (!v.empty() && v.front() == ' ')
    v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ')
    v.remove_suffix(1);
  if (v == "*")
    return any_version;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
    v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 19)
    return std::nullopt;
  std::uint64_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9')
      return std::nullopt;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return out;
}

event_metadata metadata_of(const context_ptr& ctx) {
  event_metadata m;
  const auto& req = ctx->req();
  // Who: the token's user, never a header a client can set; from where:
  // the peer, or what a trusted proxy forwarded.
  m.user_id = ctx->who().user_id;
  m.ip_address = ctx->client_address();
  m.user_agent = std::string{req.header("user-agent")};
  m.source = "api";
  m.correlation_id = std::string{req.header("x-correlation-id")};
  return m;
}

/// Answers with an aggregate's state, JSON rendered by the runtime and
/// passed on as it is, and its version as ETag.
void respond_state(const context_ptr& ctx, int status, std::string state,
                   std::uint64_t version) {
  ctx->respond_json(status, state.empty() ? "{}" : std::move(state),
                    {{"ETag", "\"" + std::to_string(version) + "\""}});
}

/// Sends command `name` for (`type`, `id`) with the request body as its
/// payload; answers `ok_status` (201 when it created the aggregate).
void send_command(const context_ptr& ctx, std::string type, std::string id,
                  std::string name, int ok_status = 200) {
  if (!id.empty())
    if (auto bad = id_problem(id)) {
      ctx->fail_fields({{"id", *bad}});
      return;
    }
  auto company = company_of(ctx);
  if (company.empty())
    return;
  aggregate_command cmd;
  if (ctx->req().body.empty()) {
    cmd.payload = "{}";
  } else {
    const auto* body = ctx->json_body();
    if (body == nullptr)
      return;
    if (!body->is_object()) {
      ctx->fail(400, "malformed_json", "the body must be a JSON object");
      return;
    }
    cmd.payload = ctx->req().body;
    if (id.empty())
      if (const auto* v = body->as_object().if_contains("id");
          v != nullptr && !v->is_null()) {
        if (!v->is_string()) {
          ctx->fail_fields({{"id", "wrong_type: expects a string"}});
          return;
        }
        id = std::string{v->get_string()};
        if (auto bad = id_problem(id)) {
          ctx->fail_fields({{"id", *bad}});
          return;
        }
        if (is_derived_id(id)) {
          ctx->fail_fields(
              {{"id", "invalid: UUIDs of version 8 are reserved for ids the "
                      "runtime derives"}});
          return;
        }
      }
  }
  cmd.aggregate_type = std::move(type);
  cmd.aggregate_id = std::move(id);
  cmd.company_id = company;
  cmd.name = std::move(name);
  cmd.metadata = metadata_of(ctx);
  // If-Match: "<version>" asks for optimistic concurrency; `*` matches
  // any current version (RFC 9110 13.1.1), which a command on an existing
  // aggregate has anyway.
  if (auto im = ctx->req().header("if-match"); !im.empty()) {
    auto version = parse_if_match(im);
    if (!version) {
      ctx->fail_fields({{"If-Match", "must be * or a quoted version number "
                                     "such as \"3\""}});
      return;
    }
    if (*version != any_version) {
      cmd.expected_version = *version;
      cmd.check_version = true;
    }
  }
  // A company's commands in flight are bounded: one company's burst
  // cannot fill the calendars' and the writer's queues for the others.
  auto& limits = ctx->limits();
  if (!limits.acquire_command(company)) {
    ctx->fail(429, "too_many_commands",
              "this company has "
                  + std::to_string(limits.limit_of(company).commands_in_flight)
                  + " commands in flight; retry when they are answered",
              {}, {{"Retry-After", "1"}});
    return;
  }
  ctx->on_answer([&limits, company] {
    limits.release_command(company);
  });
  auto router = ctx->node().router();
  ctx->waiting_for(
      "the router and the actor of " + cmd.aggregate_type + " "
      + (cmd.aggregate_id.empty() ? std::string{"(new)"} : cmd.aggregate_id));
  ctx->with_actor([ctx, router, cmd, ok_status](caf::event_based_actor* self) {
    bridge_deadline d{self, command_timeout, ctx};
    self->request(router, caf::infinite, command_atom::value, cmd)
        .then(
            [ok_status, d](const command_result& res) {
              if (auto ctx = d.settle())
                respond_state(ctx, res.created ? 201 : ok_status, res.state,
                              res.version);
            },
            [d](caf::error& e) {
              if (auto ctx = d.settle())
                fail_with(*ctx, e);
            });
  });
}

void get_state(const context_ptr& ctx, std::string type) {
  auto company = company_of(ctx);
  if (company.empty())
    return;
  auto id = ctx->param("id");
  if (auto bad = id_problem(id)) {
    ctx->fail_fields({{"id", *bad}});
    return;
  }
  if (type != "call") {
    // The read side: the state folded from the stream in a read
    // transaction on this thread, without a trip through the actors.
    // While the stream stays at the version a state was rendered from,
    // that rendering is the answer; while no stream of the type has
    // changed, the stream need not be looked at.
    auto& events = *ctx->node().store().events;
    auto generation = events.stream_generation(type); // before any read
    if (auto hit = ctx->states().find_current(type, id, company, generation)) {
      respond_state(ctx, 200, std::move(hit->body), hit->version);
      return;
    }
    auto at = events.stream_version(type, id);
    if (!at) {
      fail_with(*ctx, to_caf_error(at.error()));
      return;
    }
    if (*at > 0)
      if (auto hit = ctx->states().find(type, id, company, *at, generation)) {
        respond_state(ctx, 200, std::move(hit->body), hit->version);
        return;
      }
    auto loaded = load_aggregate(events, type, company, id);
    if (!loaded) {
      fail_with(*ctx, loaded.error());
      return;
    }
    if (!loaded->exists) {
      ctx->fail(404, "not_found", type + " " + id + " not found");
      return;
    }
    auto body = json::serialize(state_json(*loaded));
    ctx->states().put(type, id, company, loaded->version, generation, body);
    respond_state(ctx, 200, std::move(body), loaded->version);
    return;
  }
  auto router = ctx->node().router();
  ctx->waiting_for("the router and the actor of " + type + " " + id);
  ctx->with_actor(
      [ctx, router, type, company, id](caf::event_based_actor* self) {
        bridge_deadline d{self, command_timeout, ctx};
        self->request(router, caf::infinite, get_atom::value, type, company, id)
            .then(
                [d](const std::string& state) {
                  auto ctx = d.settle();
                  if (!ctx)
                    return;
                  json::error_code ec;
                  auto v = json::parse(state, ec);
                  std::vector<std::pair<std::string, std::string>> headers;
                  if (!ec && v.is_object())
                    if (const auto* ver = v.as_object().if_contains("version"))
                      headers.emplace_back("ETag",
                                           "\"" + json::serialize(*ver) + "\"");
                  ctx->respond(200, v, std::move(headers));
                },
                [d](caf::error& e) {
                  if (auto ctx = d.settle())
                    fail_with(*ctx, e);
                });
      });
}

void add_entity(router& r, const std::string& plural, const std::string& type,
                const std::string& label) {
  auto base = "/api/" + plural;
  r.add(
      "POST", base, access::company,
      [type](const context_ptr& ctx) {
        send_command(ctx, type, "", "create");
      },
      "Create a " + label);
  r.add(
      "GET", base + "/{id}", access::company,
      [type](const context_ptr& ctx) {
        get_state(ctx, type);
      },
      "Read a " + label);
  r.add(
      "PATCH", base + "/{id}", access::company,
      [type](const context_ptr& ctx) {
        send_command(ctx, type, ctx->param("id"), "update");
      },
      "Update a " + label);
}

/// GET /api/appointments: the company's appointments as they are now,
/// folded from its appointment events, filtered and in start order.
void list_appointments(const context_ptr& ctx) {
  auto company = company_of(ctx);
  if (company.empty())
    return;
  field_errors errs;
  auto limit = ctx->query_uint("limit", 100, 1, 1000, errs);
  auto staff = ctx->query("staff_id");
  auto customer = ctx->query("customer_id");
  auto status = ctx->query("status");
  if (appointment_status parsed; !status.empty() && !parse_enum(status, parsed))
    errs["status"] = "unknown status \"" + status
                     + "\" (one of scheduled, cancelled, completed, no_show)";
  timestamp_ms from = INT64_MIN;
  timestamp_ms to = INT64_MAX;
  for (auto [name, slot] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
    auto text = ctx->query(name);
    if (text.empty())
      continue;
    if (auto t = parse_rfc3339(text))
      *slot = *t;
    else
      errs[name] = "must be an RFC 3339 timestamp";
  }
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  const auto& es = *ctx->node().store().events;
  // Only the appointment events of the narrowest filter given (the staff
  // member's, the customer's, or the company's appointments), from the
  // store's by_ref index: never the company's other events.
  auto ref = !staff.empty()      ? staff_appointments_ref(company, staff)
             : !customer.empty() ? customer_appointments_ref(company, customer)
                                 : company_appointments_ref(company);
  std::map<std::string, aggregate_state> by_id;
  auto read = visit_appointment_events(es, company, ref,
                                       [&by_id](const envelope& ev) {
                                         auto& st = by_id[ev.aggregate_id];
                                         st.type = "appointment";
                                         apply_event(st, ev);
                                         return true;
                                       });
  if (!read) {
    fail_with(*ctx, read.error());
    return;
  }
  std::vector<const aggregate_state*> hits;
  for (const auto& [id, st] : by_id) {
    const auto& a = st.appt;
    if ((!staff.empty() && a.staff_id != staff)
        || (!customer.empty() && a.customer_id != customer)
        || (!status.empty() && to_string(a.status) != status)
        || a.start_time < from || a.start_time >= to)
      continue;
    hits.push_back(&st);
  }
  std::sort(hits.begin(), hits.end(), [](const auto* x, const auto* y) {
    return x->appt.start_time < y->appt.start_time;
  });
  json::array out;
  for (const auto* st : hits) {
    if (out.size() >= limit)
      break;
    out.push_back(json::parse(render_state(*st)));
  }
  ctx->respond(200, json::object{{"appointments", std::move(out)}});
}

} // namespace

void add_aggregate_routes(router& r) {
  add_entity(r, "customers", "customer", "customer");
  r.add(
      "POST", "/api/customers/{id}/merge", access::company,
      [](const context_ptr& ctx) {
        send_command(ctx, "customer", ctx->param("id"), "merge");
      },
      "Merge another customer into this one");
  add_entity(r, "staff", "staff", "staff member");
  r.add(
      "PUT", "/api/staff/{id}/working-hours", access::company,
      [](const context_ptr& ctx) {
        send_command(ctx, "staff", ctx->param("id"), "set_working_hours");
      },
      "Replace a staff member's working hours");
  add_entity(r, "services", "service", "service");
  r.add(
      "GET", "/api/calls/{id}", access::company,
      [](const context_ptr& ctx) {
        get_state(ctx, "call");
      },
      "Read a call: its state in the workflow, numbers, analysis, the "
      "appointment it booked");
  r.add(
      "POST", "/api/appointments", access::company,
      [](const context_ptr& ctx) {
        send_command(ctx, "appointment", "", "book", 201);
      },
      "Book an appointment");
  r.add("GET", "/api/appointments", access::company, list_appointments,
        "List appointments (filters: staff_id, customer_id, status, from, "
        "to)");
  r.add(
      "GET", "/api/appointments/{id}", access::company,
      [](const context_ptr& ctx) {
        get_state(ctx, "appointment");
      },
      "Read an appointment");
  r.add(
      "PATCH", "/api/appointments/{id}", access::company,
      [](const context_ptr& ctx) {
        // A new staff_id reassigns (optionally to a new time); otherwise a
        // new start_time reschedules.
        json::error_code ec;
        auto body = json::parse(ctx->req().body, ec);
        bool reassign = !ec && body.is_object()
                        && body.as_object().if_contains("staff_id") != nullptr;
        send_command(ctx, "appointment", ctx->param("id"),
                     reassign ? "reassign" : "reschedule");
      },
      "Reschedule or reassign an appointment");
  r.add(
      "POST", "/api/appointments/{id}/cancel", access::company,
      [](const context_ptr& ctx) {
        send_command(ctx, "appointment", ctx->param("id"), "cancel");
      },
      "Cancel an appointment");
  r.add(
      "GET", "/api/availability", access::company,
      [](const context_ptr& ctx) {
        auto company = company_of(ctx);
        if (company.empty())
          return;
        field_errors errs;
        auto staff = ctx->query("staff_id");
        auto service = ctx->query("service_id");
        auto date = ctx->query("date");
        if (auto bad = id_problem(staff))
          errs["staff_id"] = *bad;
        if (auto bad = id_problem(service))
          errs["service_id"] = *bad;
        if (date.empty())
          errs["date"] = "missing";
        if (!errs.empty()) {
          ctx->fail_fields(errs);
          return;
        }
        auto router = ctx->node().router();
        ctx->waiting_for("the router, the cache and the calendar of staff "
                         + staff);
        ctx->with_actor([=](caf::event_based_actor* self) {
          bridge_deadline d{self, command_timeout, ctx};
          self->request(router, caf::infinite, availability_atom::value,
                        company, staff, service, date)
              .then(
                  [d](std::string& answer) {
                    // JSON the calendar (or the cache) rendered.
                    if (auto ctx = d.settle())
                      ctx->respond_json(200, std::move(answer));
                  },
                  [d](caf::error& e) {
                    if (auto ctx = d.settle())
                      fail_with(*ctx, e);
                  });
        });
      },
      "Free start times of a staff member for a service on a day");
}

} // namespace switchboard::app::http
