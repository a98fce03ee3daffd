#include "app/http/bridge.hpp"

#include <atomic>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <actors/deadlines.hpp>
#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/local_only.hpp>
#include <actors/log.hpp>
#include <app/http/context.hpp>

namespace switchboard::app::http {

/// A task for a bridge actor. Local only: it holds a callable.
struct bridge_task {
  bridge::task fn;
};

} // namespace switchboard::app::http

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(switchboard::app::http::bridge_task)

namespace switchboard::app::http {

namespace {

struct bridge_state {
  /// The deadlines of the requests its tasks have in flight.
  deadlines pending;
  static inline const char* name = "http.bridge";
};

using bridge_actor_type = caf::stateful_actor<bridge_state>;

caf::behavior bridge_actor(bridge_actor_type* self) {
  return {
      [self](expire_atom) {
        on_expiry_tick(self, self->state.pending, expire_atom::value);
      },
      [self](bridge_task& t) {
        try {
          t.fn(self);
        } catch (const std::exception& e) {
          log::get(log::subsystem::http)
              ->error("bridge task threw: {}", e.what());
        } catch (...) {
          log::get(log::subsystem::http)->error("bridge task threw");
        }
      },
  };
}

} // namespace

struct bridge::impl {
  caf::actor_system* sys = nullptr;
  std::vector<caf::actor> actors;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stopped{false};
};

bridge::bridge(caf::actor_system& sys, std::size_t actors)
    : impl_(std::make_unique<impl>()) {
  impl_->sys = &sys;
  if (actors == 0)
    actors = 1;
  for (std::size_t i = 0; i < actors; ++i)
    impl_->actors.push_back(spawn_local(sys, bridge_actor));
}

bridge::~bridge() {
  stop();
}

void bridge::post(task t) {
  if (impl_->stopped.load())
    return;
  auto i = impl_->next.fetch_add(1, std::memory_order_relaxed)
           % impl_->actors.size();
  caf::anon_send(impl_->actors[i], bridge_task{std::move(t)});
}

void bridge::stop() {
  if (impl_->stopped.exchange(true))
    return;
  for (auto& a : impl_->actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  // Late replies run on these actors and reach the gateway's services:
  // they must be gone before the gateway is.
  caf::scoped_actor self{*impl_->sys};
  for (auto& a : impl_->actors)
    self->wait_for(a);
}

struct bridge_deadline::state {
  deadlines* table = nullptr;
  deadlines::handle h;
  std::shared_ptr<request_context> ctx;
};

bridge_deadline::bridge_deadline(caf::event_based_actor* self,
                                 std::chrono::milliseconds timeout,
                                 std::shared_ptr<request_context> ctx)
    : st_(std::make_shared<state>()) {
  // Tasks run on bridge actors only (see bridge::post).
  auto* bridge_self = static_cast<bridge_actor_type*>(self);
  auto& table = bridge_self->state.pending;
  st_->table = &table;
  st_->ctx = std::move(ctx);
  std::weak_ptr<state> weak = st_;
  st_->h = table.add(self->clock().now() + timeout, [weak, timeout] {
    if (auto st = weak.lock())
      if (auto c = std::move(st->ctx)) {
        // Which request waited on what, so that a 504 can be traced.
        log::get(log::subsystem::http)
            ->warn("504: {} {} had no answer from {} within {} ms",
                   c->req().method, c->req().target, c->waiting_on(),
                   timeout.count());
        c->fail(504, "timeout",
                "the runtime (" + c->waiting_on() + ") did not answer in time");
      }
  });
  arm_expiry(bridge_self, table, expire_atom::value);
}

std::shared_ptr<request_context> bridge_deadline::settle() const {
  if (!st_->table->settle(st_->h))
    return nullptr;
  return std::move(st_->ctx);
}

void fail_with(request_context& ctx, const caf::error& err) {
  auto msg = describe(err);
  switch (runtime_code(err)) {
  case runtime_errc::version_conflict:
    ctx.fail(409, "version_conflict", msg);
    return;
  case runtime_errc::conflict:
    ctx.fail(409, "conflict", msg);
    return;
  case runtime_errc::not_found:
    ctx.fail(404, "not_found", msg);
    return;
  case runtime_errc::invalid_argument: {
    // Aggregates report "field: problem; field: problem".
    field_errors fields;
    std::string_view rest = msg;
    while (!rest.empty()) {
      auto end = rest.find("; ");
      auto part = rest.substr(0, end);
      if (auto colon = part.find(": "); colon != std::string_view::npos)
        fields.emplace(std::string{part.substr(0, colon)},
                       std::string{part.substr(colon + 2)});
      if (end == std::string_view::npos)
        break;
      rest.remove_prefix(end + 2);
    }
    ctx.fail(422, "invalid_fields", msg, fields);
    return;
  }
  case runtime_errc::unavailable:
  case runtime_errc::closed:
    ctx.fail(503, "unavailable", msg);
    return;
  case runtime_errc::timeout:
    ctx.fail(504, "timeout", msg);
    return;
  case runtime_errc::disk_full:
    ctx.fail(507, "disk_full", msg);
    return;
  case runtime_errc::storage_unavailable:
    ctx.fail(503, "storage_unavailable", msg, {}, {{"Retry-After", "1"}});
    return;
  case runtime_errc::none:
    if (err == caf::sec::request_timeout) {
      ctx.fail(504, "timeout", "the runtime did not answer in time");
      return;
    }
    if (err == caf::sec::request_receiver_down) {
      ctx.fail(503, "unavailable", "the runtime is shutting down");
      return;
    }
    break;
  default:
    break;
  }
  ctx.fail(500, "internal", msg);
}

} // namespace switchboard::app::http
