#pragma once

// The bridge from the gateway's Asio threads into CAF: a small pool of
// actors that run tasks posted by route handlers. A task gets the bridge
// actor as `self` and may `self->request(handle, timeout, ...).then(...)`;
// the callbacks answer through the request context, whose `respond` posts
// the answer back onto the connection's strand. Posting never blocks and
// no scoped_actor is made per request.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace caf {
class actor_system;
class event_based_actor;
class error;
} // namespace caf

namespace switchboard::app::http {

class request_context;

/// A pool of bridge actors.
class bridge {
public:
  /// A unit of work run on a bridge actor.
  using task = std::function<void(caf::event_based_actor*)>;

  /// Spawns `actors` bridge actors (at least 1) in `sys`.
  bridge(caf::actor_system& sys, std::size_t actors);

  /// Stops the actors (tasks not yet run are dropped; their contexts
  /// answer 500).
  ~bridge();

  bridge(const bridge&) = delete;
  bridge& operator=(const bridge&) = delete;

  /// Sends `t` to the next actor of the pool (round robin). Thread-safe,
  /// never blocks. A task that throws is logged; its context answers 500
  /// when dropped.
  void post(task t);

  /// Stops the actors; later posts are dropped. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The deadline of one request a task sends: kept in the running bridge
/// actor's deadline table, which has one tick in flight for the earliest
/// deadline, instead of a CAF request timeout per request (each of which
/// costs two trips through CAF's clock thread and a late message):
///
///     bridge_deadline d{self, 30s, ctx};
///     self->request(dest, caf::infinite, ...).then(
///         [d](reply r) { if (auto ctx = d.settle()) ... },
///         [d](caf::error& e) { if (auto ctx = d.settle()) fail_with(*ctx, e);
///         });
///
/// The deadline holds the context, not the callbacks: when it passes
/// first, the context answers 504 and is released at once (the
/// connection with it), and the reply, if it comes, is dropped. Only for
/// tasks run by the bridge (`self` is a bridge actor); callbacks run on
/// that actor, so no locking.
class bridge_deadline {
public:
  bridge_deadline(caf::event_based_actor* self,
                  std::chrono::milliseconds timeout,
                  std::shared_ptr<request_context> ctx);

  /// The request's context for the first of the answer and the timeout
  /// (go on with it); null once the timeout has answered.
  std::shared_ptr<request_context> settle() const;

private:
  struct state;
  std::shared_ptr<state> st_;
};

/// Answers `ctx` with an error an actor reported: the runtime's codes map
/// to statuses (version_conflict and conflict 409, not_found 404,
/// invalid_argument 422, unavailable and closed 503, timeout and
/// request_timeout 504, others 500).
void fail_with(request_context& ctx, const caf::error& err);

} // namespace switchboard::app::http
