// The aggregates' API: customers, staff, services, appointments (book,
// reschedule, reassign, cancel, read) and availability. Every command goes
// to the router, which hands it to the aggregate's actor.

#include <algorithm>

#include <chrono>
#include <messages/aggregate_types.hpp>
#include <optional>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/aggregate_state.hpp>
#include <actors/calendar_commands.hpp>
#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/http/bridge.hpp>
#include <app/http/limits.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/route_helpers.hpp>
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
  return m;
}

/// Answers with an aggregate's state, JSON rendered by the runtime and
/// passed on as it is, and its version as ETag.
void respond_state(const context_ptr& ctx, int status, std::string state,
                   std::uint64_t version) {
  ctx->respond_json(status, state.empty() ? "{}" : std::move(state),
                    {{"ETag", "\"" + std::to_string(version) + "\""}});
}

/// What a command request names besides its fields: the aggregate, its
/// company, who asks, and the version it expects.
struct command_request {
  std::string company;
  std::string id; ///< Empty on a create or booking without an id.
  event_metadata metadata;
  bool check_version = false;
  std::uint64_t expected_version = 0;
  /// The body (an object; `{}` when the request had none).
  json::value body;
};

/// Reads what every command request carries: the id (`id` from the path,
/// or when empty the body's `id`), the company, the body, the metadata
/// and If-Match. Answers the request and returns nothing when one is bad.
std::optional<command_request> read_command(const context_ptr& ctx,
                                            std::string id) {
  if (!id.empty())
    if (auto bad = id_problem(id)) {
      ctx->fail_fields({{"id", *bad}});
      return std::nullopt;
    }
  auto company = named_company(ctx);
  if (company.empty())
    return std::nullopt;
  command_request out;
  if (ctx->req().body.empty()) {
    out.body = json::object{};
  } else {
    const auto* body = ctx->json_body();
    if (body == nullptr)
      return std::nullopt;
    if (!body->is_object()) {
      ctx->fail(400, "malformed_json", "the body must be a JSON object");
      return std::nullopt;
    }
    out.body = *body;
    if (id.empty())
      if (const auto* v = body->as_object().if_contains("id");
          v != nullptr && !v->is_null()) {
        if (!v->is_string()) {
          ctx->fail_fields({{"id", "wrong_type: expects a string"}});
          return std::nullopt;
        }
        id = std::string{v->get_string()};
        if (auto bad = id_problem(id)) {
          ctx->fail_fields({{"id", *bad}});
          return std::nullopt;
        }
        if (is_derived_id(id)) {
          ctx->fail_fields(
              {{"id", "invalid: UUIDs of version 8 are reserved for ids the "
                      "runtime derives"}});
          return std::nullopt;
        }
      }
  }
  out.id = std::move(id);
  out.company = std::move(company);
  out.metadata = metadata_of(ctx);
  if (!ctx->correlation(out.metadata.correlation_id))
    return std::nullopt;
  // If-Match: "<version>" asks for optimistic concurrency; `*` matches
  // any current version (RFC 9110 13.1.1), which a command on an existing
  // aggregate has anyway.
  if (auto im = ctx->req().header("if-match"); !im.empty()) {
    auto version = parse_if_match(im);
    if (!version) {
      ctx->fail_fields({{"If-Match", "must be * or a quoted version number "
                                     "such as \"3\""}});
      return std::nullopt;
    }
    if (*version != any_version) {
      out.expected_version = *version;
      out.check_version = true;
    }
  }
  return out;
}

/// Admits a command of `company` within its limits (a booking also within
/// the queues' lag); answers the request and returns false when refused.
/// An admitted command holds its place until the request is answered.
bool admit_command(const context_ptr& ctx, const std::string& company,
                   bool booking) {
  auto& limits = ctx->limits();
  // Backpressure: while the company's queued work (notifications, sync,
  // analytics) is further behind than queues.max_lag_ms, its new bookings
  // wait rather than add work that would go out late. Per company: the
  // queues serve companies in turn, so another's backlog is not this one's.
  if (booking)
    if (auto lag = limits.behind(company)) {
      limits.count_shed_booking();
      auto over = *lag - limits.max_queue_lag_ms();
      auto retry = std::clamp<std::int64_t>((over + 999) / 1000, 1, 30);
      ctx->fail(503, "queues_behind",
                "this company's queued work is " + std::to_string(*lag)
                    + " ms behind (queues.max_lag_ms is "
                    + std::to_string(limits.max_queue_lag_ms())
                    + "); new bookings wait until it catches up",
                {}, {{"Retry-After", std::to_string(retry)}});
      return false;
    }
  // A company's commands in flight are bounded: one company's burst
  // cannot fill the calendars' and the writer's queues for the others.
  if (!limits.acquire_command(company)) {
    ctx->fail(429, "too_many_commands",
              "this company has "
                  + std::to_string(limits.limit_of(company).commands_in_flight)
                  + " commands in flight; retry when they are answered",
              {}, {{"Retry-After", "1"}});
    return false;
  }
  ctx->on_answer([&limits, company] {
    limits.release_command(company);
  });
  return true;
}

/// Sends `msg` (a command) to the router and answers with the state it
/// leads to: `ok_status`, or 201 when it created the aggregate. `what`
/// names the actor for the request's deadline report.
template <class Message>
void ask_router(const context_ptr& ctx, Message msg, int ok_status,
                const std::string& what) {
  auto router = ctx->node().router();
  ctx->waiting_for("the router and the actor of " + what);
  ctx->with_actor([ctx, router, msg = std::move(msg),
                   ok_status](caf::event_based_actor* self) {
    bridge_deadline d{self, command_timeout, ctx};
    self->request(router, caf::infinite, command_atom::value, msg)
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

/// Sends command `name` for (`type`, `id`), a customer, staff member or
/// service, with the request body as its payload; answers `ok_status`
/// (201 when it created the aggregate).
void send_command(const context_ptr& ctx, std::string type, std::string id,
                  std::string name, int ok_status = 200) {
  auto req = read_command(ctx, std::move(id));
  if (!req || !admit_command(ctx, req->company, false))
    return;
  aggregate_command cmd;
  cmd.aggregate_type = std::move(type);
  cmd.aggregate_id = std::move(req->id);
  cmd.company_id = std::move(req->company);
  cmd.name = std::move(name);
  cmd.payload = json::serialize(req->body);
  cmd.metadata = std::move(req->metadata);
  cmd.check_version = req->check_version;
  cmd.expected_version = req->expected_version;
  auto what
      = cmd.aggregate_type + " "
        + (cmd.aggregate_id.empty() ? std::string{"(new)"} : cmd.aggregate_id);
  ask_router(ctx, std::move(cmd), ok_status, what);
}

/// Decodes the request as the calendar command `Command` (with
/// decode_command of actors/calendar_commands.hpp, which names the field of
/// each problem) and sends it to the router, which hands it to the
/// calendar of the appointment's staff member; answers `ok_status` (201
/// when booked).
template <class Command>
void send_calendar_command(const context_ptr& ctx, std::string id,
                           bool booking = false, int ok_status = 200) {
  auto req = read_command(ctx, std::move(id));
  if (!req || !admit_command(ctx, req->company, booking))
    return;
  appointment_ref ref;
  ref.company_id = std::move(req->company);
  ref.appointment_id = std::move(req->id);
  ref.metadata = std::move(req->metadata);
  ref.check_version = req->check_version;
  ref.expected_version = req->expected_version;
  auto what = "appointment "
              + (ref.appointment_id.empty() ? std::string{"(new)"}
                                            : ref.appointment_id);
  auto cmd = decode_command<Command>(req->body, std::move(ref));
  if (!cmd) {
    fail_with(*ctx, cmd.error());
    return;
  }
  ask_router(ctx, std::move(*cmd), ok_status, what);
}

void get_state(const context_ptr& ctx, std::string type) {
  auto company = named_company(ctx);
  if (company.empty())
    return;
  auto id = ctx->param("id");
  if (auto bad = id_problem(id)) {
    ctx->fail_fields({{"id", *bad}});
    return;
  }
  if (type != aggregates::call) {
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
    auto at = events.stream_version(company, type, id);
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

/// Most list entries one page of GET /api/appointments reads to fill
/// itself after filtering (a staff member and a customer together); past
/// it the page comes back short, with its cursor.
constexpr std::size_t max_appointments_scan = 4096;

/// The opaque cursor of a listing: "a1." and the hex of the last sort key
/// returned.
std::string appointment_cursor(std::string_view sort_key) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "a1.";
  for (unsigned char c : sort_key) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

/// The sort key of a cursor, or nothing for text no listing made.
std::optional<std::string> parse_appointment_cursor(std::string_view c) {
  if (c.substr(0, 3) != "a1." || c.size() % 2 != 1 || c.size() < 3 + 16
      || c.size() > 3 + 2 * 255)
    return std::nullopt;
  std::string out;
  for (std::size_t i = 3; i < c.size(); i += 2) {
    int v = 0;
    for (char h : {c[i], c[i + 1]}) {
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= h - '0';
      else if (h >= 'a' && h <= 'f')
        v |= h - 'a' + 10;
      else
        return std::nullopt;
    }
    out.push_back(static_cast<char>(v));
  }
  return out;
}

/// GET /api/appointments: the company's appointments as they are now, in
/// start order, one page of the store's sorted list of the narrowest
/// filter (list_appointments reads only the page, never the company's
/// history), on the read pool. `next` is a cursor whenever more may
/// follow.
void list_appointments(const context_ptr& ctx) {
  auto company = named_company(ctx);
  if (company.empty())
    return;
  field_errors errs;
  auto limit = query_limit(*ctx, errs);
  auto staff = ctx->query("staff_id");
  auto customer = ctx->query("customer_id");
  auto status = ctx->query("status");
  if (!staff.empty())
    if (auto bad = id_problem(staff))
      errs["staff_id"] = *bad;
  if (!customer.empty())
    if (auto bad = id_problem(customer))
      errs["customer_id"] = *bad;
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
  std::optional<std::string> after;
  if (auto c = ctx->query("cursor"); !c.empty()) {
    after = parse_appointment_cursor(c);
    if (!after)
      errs["cursor"] = "invalid: not a cursor this listing returned (pass "
                       "the `next` of the previous page as it came)";
  }
  if (ctx->fail_fields_if_any(errs))
    return;
  auto lists = appointment_lists_of(company, staff, customer, status);
  // [from_key, to_key): the filter's time range, after the cursor.
  auto from_key = appointment_sort_key(from, "");
  if (after)
    from_key = std::max(from_key, *after + '\0');
  auto to_key = to == INT64_MAX ? std::string{} : appointment_sort_key(to, "");
  // Only the staff member's lists hold both filters' entries when both
  // are given: the customer is filtered here, within a bounded scan.
  bool filter_customer = !staff.empty() && !customer.empty();
  run_read(
      ctx, company,
      [ctx, lists, from_key, to_key, limit, customer,
       filter_customer](const read_deadline& deadline) mutable {
        const auto& es = *ctx->node().store().events;
        json::array out;
        std::string last_key;
        std::size_t scanned = 0;
        bool more = false;
        for (;;) {
          if (deadline.passed()) {
            ctx->fail(504, "timeout",
                      "the listing did not finish within its deadline");
            return;
          }
          auto want = filter_customer ? std::size_t{256} : limit + 1;
          auto page = es.read_lists(lists, from_key, to_key, want);
          if (!page) {
            ctx->fail_store(page.error());
            return;
          }
          for (auto& entry : *page) {
            if (out.size() == limit) {
              more = true; // one more entry exists
              break;
            }
            ++scanned;
            last_key = entry.sort_key;
            aggregate_state st;
            st.type = aggregates::appointment;
            apply_event(st, entry.event);
            if (filter_customer && st.appt.customer_id != customer)
              continue;
            out.push_back(state_json(st));
          }
          if (more || page->size() < want)
            break;
          from_key = last_key + '\0';
          if (scanned >= max_appointments_scan) {
            more = true; // the page is short; the cursor goes on
            break;
          }
        }
        json::object o;
        o["appointments"] = std::move(out);
        o["next"] = more ? json::value(appointment_cursor(last_key))
                         : json::value(nullptr);
        ctx->respond(200, o);
      },
      limit);
}

} // namespace

void add_aggregate_routes(router& r) {
  add_entity(r, "customers", aggregates::customer, "customer");
  r.add(
      "POST", "/api/customers/{id}/merge", access::company,
      [](const context_ptr& ctx) {
        send_command(ctx, aggregates::customer, ctx->param("id"), "merge");
      },
      "Merge another customer into this one");
  add_entity(r, "staff", aggregates::staff, "staff member");
  r.add(
      "PUT", "/api/staff/{id}/working-hours", access::company,
      [](const context_ptr& ctx) {
        send_command(ctx, aggregates::staff, ctx->param("id"),
                     "set_working_hours");
      },
      "Replace a staff member's working hours");
  add_entity(r, "services", aggregates::service, "service");
  r.add(
      "GET", "/api/calls/{id}", access::company,
      [](const context_ptr& ctx) {
        get_state(ctx, aggregates::call);
      },
      "Read a call: its state in the workflow, numbers, analysis, the "
      "appointment it booked");
  r.add(
      "POST", "/api/appointments", access::company,
      [](const context_ptr& ctx) {
        send_calendar_command<book_appointment>(ctx, "", true, 201);
      },
      "Book an appointment");
  r.add("GET", "/api/appointments", access::company, list_appointments,
        "List appointments in start order, a page at a time (filters: "
        "staff_id, customer_id, status, from, to; limit, cursor)");
  r.add(
      "GET", "/api/appointments/{id}", access::company,
      [](const context_ptr& ctx) {
        get_state(ctx, aggregates::appointment);
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
        if (reassign)
          send_calendar_command<reassign_appointment>(ctx, ctx->param("id"));
        else
          send_calendar_command<reschedule_appointment>(ctx, ctx->param("id"));
      },
      "Reschedule or reassign an appointment");
  r.add(
      "POST", "/api/appointments/{id}/cancel", access::company,
      [](const context_ptr& ctx) {
        send_calendar_command<cancel_appointment>(ctx, ctx->param("id"));
      },
      "Cancel an appointment");
  r.add(
      "POST", "/api/appointments/{id}/complete", access::company,
      [](const context_ptr& ctx) {
        send_calendar_command<complete_appointment>(ctx, ctx->param("id"));
      },
      "Mark an appointment as having taken place");
  r.add(
      "GET", "/api/availability", access::company,
      [](const context_ptr& ctx) {
        auto company = named_company(ctx);
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
        if (ctx->fail_fields_if_any(errs))
          return;
        // A staff member the company does not have is refused here with
        // one index probe: a flood of made-up ids costs the actors (the
        // router, the cache) nothing, and so delays no other company's
        // requests there.
        auto first = ctx->node().store().events->read_stream(
            company, aggregates::staff, staff, 1, 1);
        if (!first) {
          ctx->fail_store(first.error());
          return;
        }
        if (first->empty()) {
          ctx->fail(404, "not_found", "staff " + staff + " not found");
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
