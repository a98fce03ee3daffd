#pragma once

// The gateway's route table: method + path pattern → handler. Introspectable
// (the OpenAPI test walks it).
//
// Adding a route (e.g. in app/http/<area>_routes.cpp, registered from
// add_routes in app/http/routes.cpp):
//
//   r.add("POST", "/api/appointments/{id}/cancel", access::company,
//         [](const context_ptr& ctx) {
//           auto* body = ctx->json_body();       // 400 when malformed
//           if (!body) return;
//           ctx->with_actor([ctx, ...](caf::event_based_actor* self) {
//             self->request(handle, std::chrono::seconds(5), ...)
//                 .then([ctx](reply& r) { ctx->respond(200, to_json(r)); },
//                       [ctx](caf::error& e) { fail_with(*ctx, e); });
//           });
//         },
//         "Cancel an appointment");
//
// Authentication happens before the handler runs: `access::company` needs a
// valid bearer token (401 otherwise), `access::admin` an admin token (403
// for a company token). A handler must answer every request it is given
// exactly once (a dropped context answers 500); for another company's data
// it answers 404.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <app/http/context.hpp>

namespace switchboard::app::http {

/// Who may call a route.
enum class access {
  open,    ///< No token (health, readiness, webhooks verify their own).
  company, ///< Any valid bearer token; data scoped to its company.
  admin,   ///< An admin token.
};

/// Handles one request; must answer it through the context, now or later.
using handler_fn = std::function<void(const context_ptr&)>;

/// Runs before a route's token is checked (e.g. CORS, whose headers go on
/// every answer, 401 included); returns false when it has answered.
using guard_fn = std::function<bool(const context_ptr&)>;

/// One route of the table.
struct route {
  std::string method;  ///< "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS".
  std::string pattern; ///< e.g. "/api/events/{aggregate_type}/{id}".
  http::access access = access::company;
  handler_fn handler;
  std::string summary; ///< One line, for logs and docs.
  guard_fn guard;      ///< Empty: none.
  /// The pattern split at '/': literal segments, or "{name}".
  std::vector<std::string> segments;
};

/// The outcome of matching a request against the table.
struct route_match {
  enum class kind { found, not_found, method_not_allowed };
  kind what = kind::not_found;
  const route* found = nullptr;
  std::map<std::string, std::string, std::less<>> params;
  std::vector<std::string> allow; ///< Methods of the path, for 405.
};

/// The route table. Build it before the server starts; it is read-only
/// (and thread-safe) afterwards.
class router {
public:
  /// Adds a route. Throws std::invalid_argument for a malformed pattern
  /// (not starting with '/', unbalanced braces) or a duplicate method and
  /// pattern: both are programming errors found at start.
  void add(std::string method, std::string pattern, access who,
           handler_fn handler, std::string summary = {}, guard_fn guard = {});

  /// Matches `method` and the decoded `path`. Literal segments win over
  /// parameters at the same position.
  route_match match(std::string_view method, std::string_view path) const;

  /// Every route, in the order added.
  const std::vector<route>& routes() const noexcept {
    return routes_;
  }

private:
  std::vector<route> routes_;
  /// By segment count, the indexes in `routes_` of the patterns that have
  /// that many: a path is only matched against those.
  std::vector<std::vector<std::size_t>> by_size_;
};

} // namespace switchboard::app::http
