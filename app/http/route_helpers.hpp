#pragma once

// What several route files share: a listing's ?limit=, the company a route
// names, and a route's store write (one op through the store writer, then
// the answer).

#include <cstdint>
#include <string>

#include <caf/event_based_actor.hpp>

#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/http/bridge.hpp>
#include <app/http/context.hpp>

namespace switchboard::app::http {

/// A listing's ?limit=: 1 to 1000, 100 when absent; a bad value is
/// recorded in `errs`.
inline std::uint64_t query_limit(const request_context& ctx,
                                 field_errors& errs) {
  return ctx.query_uint("limit", 100, 1, 1000, errs);
}

/// The company a company-scoped route names: the token's, or for an admin
/// token `?company_id=` (not looked up); "" after answering 422 when an
/// admin token names none.
inline std::string named_company(const context_ptr& ctx) {
  const auto& who = ctx->who();
  auto id = who.admin ? ctx->query("company_id") : who.company_id;
  if (id.empty())
    ctx->fail_fields({{"company_id", "admin tokens must name the company"}});
  return id;
}

/// Runs `op` in the store writer's next commit, waiting at most `timeout`;
/// once it is durable calls `done(self)` (which answers `ctx`), else
/// answers the writer's (or the op's) error with `fail_with`.
template <class Done>
void run_write(const context_ptr& ctx, caf::timespan timeout,
               store::writer::op_fn op, Done done) {
  ctx->with_actor([ctx, timeout, op = std::move(op),
                   done = std::move(done)](caf::event_based_actor* self) {
    self->request(ctx->node().writer(), timeout, write_atom::value,
                  make_write_op(op))
        .then(
            [self, done](ok_atom) {
              done(self);
            },
            [ctx](caf::error& e) {
              fail_with(*ctx, e);
            });
  });
}

} // namespace switchboard::app::http
