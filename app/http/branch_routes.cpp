// Branches: a company's locations and their time zones. A branch is kept
// with the company (tenants setting "branch:<id>", actors/branches.hpp); its
// zone governs the working hours, availability and messages of the staff
// and appointments at it. Writes go through the store writer, each a
// read-modify-write in one transaction.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <caf/event_based_actor.hpp>

#include <actors/branches.hpp>
#include <actors/cache.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/http/bridge.hpp>
#include <app/http/route_helpers.hpp>
#include <app/http/routes.hpp>
#include <messages/id_check.hpp>
#include <messages/ids.hpp>
#include <store/tenants.hpp>

namespace switchboard::app::http {

using namespace std::chrono_literals;

std::string acting_company(const context_ptr& ctx) {
  auto id = named_company(ctx);
  if (id.empty())
    return id;
  if (auto c = ctx->tenants().company(id); !c) {
    ctx->fail_store(c.error());
    return {};
  }
  return id;
}

namespace {

/// The problem with branch id `id`, if any.
std::optional<std::string> branch_id_problem(const std::string& id) {
  if (auto bad = id_problem(id))
    return bad;
  if (id.size() > max_branch_id_size)
    return "invalid: longer than " + std::to_string(max_branch_id_size)
           + " bytes";
  return std::nullopt;
}

/// The request's body as a JSON object (an empty body: `{}`); nullptr
/// after answering 400.
const boost::json::object* body_object(const context_ptr& ctx) {
  static const boost::json::object empty;
  if (ctx->req().body.empty())
    return &empty;
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return nullptr;
  if (!body->is_object()) {
    ctx->fail(400, "malformed_json", "the body must be a JSON object");
    return nullptr;
  }
  return &body->get_object();
}

/// Writes branch `id` of `company` in one transaction of the store writer:
/// `change` gets the stored record (nothing when there is none) and
/// returns the one to store, or an error; answers `status` with it once
/// the availability the cache holds for the company is flushed (a zone may
/// have changed).
void write_branch(
    const context_ptr& ctx, const std::string& company, const std::string& id,
    int status,
    std::function<store::result<branch_record>(std::optional<branch_record>)>
        change) {
  auto* tenants = &ctx->tenants();
  auto shown = std::make_shared<std::string>();
  auto op = [tenants, company, id, change,
             shown](store::write_txn& txn) -> store::result<void> {
    std::optional<branch_record> current;
    auto name = branch_setting(id);
    if (auto text = tenants->setting_in(txn, company, name))
      current = decode_branch(company, id, *text);
    else if (text.error().code != store::errc::not_found)
      return make_unexpected(text.error());
    auto next = change(std::move(current));
    if (!next)
      return make_unexpected(next.error());
    next->b.id = id;
    next->b.company_id = company;
    *shown = to_branch_json(*next);
    return tenants->set_setting_in(txn, company, name, *shown);
  };
  ctx->waiting_for("the store writer");
  run_write(ctx, 60s, op,
            [ctx, company, status, shown](caf::event_based_actor* self) {
              std::vector<std::string> tags{
                  company_tag("availability", company)};
              // Answered once the cache has dropped them: the next
              // availability read sees the zone.
              self->request(ctx->node().cache(), 60s, flush_atom::value, tags)
                  .then(
                      [ctx, status, shown](std::uint64_t) {
                        ctx->respond_json(status, *shown);
                      },
                      [ctx, status, shown](caf::error&) {
                        ctx->respond_json(status, *shown);
                      });
            });
}

/// The company and the branch id of a /api/branches/{id} route; false
/// after answering a bad one.
bool branch_in_path(const context_ptr& ctx, std::string& company,
                    std::string& id) {
  company = acting_company(ctx);
  if (company.empty())
    return false;
  id = ctx->param("id");
  if (auto bad = branch_id_problem(id)) {
    ctx->fail_fields({{"id", *bad}});
    return false;
  }
  return true;
}

void create_branch(const context_ptr& ctx) {
  auto company = acting_company(ctx);
  if (company.empty())
    return;
  const auto* body = body_object(ctx);
  if (body == nullptr)
    return;
  std::string id;
  if (const auto* v = body->if_contains("id"); v != nullptr && !v->is_null()) {
    if (!v->is_string()) {
      ctx->fail_fields({{"id", "wrong_type: expects a string"}});
      return;
    }
    id = std::string{v->get_string()};
    if (auto bad = branch_id_problem(id)) {
      ctx->fail_fields({{"id", *bad}});
      return;
    }
  }
  if (id.empty())
    id = new_event_id();
  auto parsed = parse_branch_body(boost::json::serialize(*body));
  if (!parsed) {
    ctx->fail_fields(
        field_errors{parsed.error().begin(), parsed.error().end()});
    return;
  }
  auto record = *parsed;
  write_branch(ctx, company, id, 201,
               [record, id](std::optional<branch_record> current)
                   -> store::result<branch_record> {
                 if (current)
                   return store::fail(store::errc::taken,
                                      "branch " + id + " already exists");
                 return record;
               });
}

void get_branch(const context_ptr& ctx) {
  std::string company, id;
  if (!branch_in_path(ctx, company, id))
    return;
  auto b = find_branch(&ctx->tenants(), company, id);
  if (!b) {
    ctx->fail(404, "not_found", "branch " + id + " not found");
    return;
  }
  ctx->respond_json(200, to_branch_json(*b));
}

void update_branch(const context_ptr& ctx) {
  std::string company, id;
  if (!branch_in_path(ctx, company, id))
    return;
  const auto* object = body_object(ctx);
  if (object == nullptr)
    return;
  if (const auto* given = object->if_contains("id");
      given != nullptr && !(given->is_string() && given->get_string() == id)) {
    ctx->fail_fields({{"id", "invalid: a branch's id cannot change"}});
    return;
  }
  // The body's own problems are answered before the writer is asked (a
  // stand-in name: a PATCH need not repeat it).
  auto body = boost::json::serialize(*object);
  branch_record stand_in;
  stand_in.b.name = "-";
  if (auto parsed = parse_branch_body(body, stand_in); !parsed) {
    ctx->fail_fields(
        field_errors{parsed.error().begin(), parsed.error().end()});
    return;
  }
  write_branch(ctx, company, id, 200,
               [body, id](std::optional<branch_record> current)
                   -> store::result<branch_record> {
                 if (!current)
                   return store::fail(store::errc::not_found,
                                      "branch " + id + " not found");
                 auto next = parse_branch_body(body, *current);
                 if (!next) {
                   std::string msg;
                   for (const auto& [field, problem] : next.error())
                     msg += (msg.empty() ? "" : "; ") + field + ": " + problem;
                   return store::fail(store::errc::invalid_argument, msg);
                 }
                 return *next;
               });
}

} // namespace

void add_branch_routes(router& r) {
  r.add("POST", "/api/branches", access::company, create_branch,
        "Create a branch (name, address, phone, time_zone; an id may be "
        "given)");
  r.add("GET", "/api/branches/{id}", access::company, get_branch,
        "Read a branch");
  r.add("PATCH", "/api/branches/{id}", access::company, update_branch,
        "Update a branch (time_zone null: the company's zone)");
}

} // namespace switchboard::app::http
