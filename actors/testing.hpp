#pragma once

// The test kit of the runtime, for the project's tests and for users: an
// event fake (Laravel's Event::fake) and a deterministic node on CAF's
// test coordinator.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <actors/interfaces.hpp>
#include <actors/listener_registry.hpp>
#include <actors/node.hpp>
#include <actors/runtime.hpp>
#include <messages/expected.hpp>
#include <messages/json.hpp>

namespace switchboard::testing {

/// Records dispatched events without storing them or running listeners.
/// Hand `handle()` to whatever dispatches (aggregates, the gateway) in
/// place of the real dispatcher.
class event_fake {
public:
  /// `registry` answers assert_listening; without one, the seed's
  /// listeners are registered.
  explicit event_fake(caf::actor_system& sys,
                      std::shared_ptr<const listener_registry> registry
                      = nullptr);

  /// The fake dispatcher. It answers each dispatch with made-up sequence
  /// numbers and versions and no listener outcomes.
  dispatcher_actor handle() const {
    return handle_;
  }

  /// Every envelope dispatched so far, in order.
  std::vector<envelope> dispatched() const;

  /// Events of type `E` dispatched so far, decoded.
  template <class E>
  std::vector<E> dispatched_of() const {
    std::vector<E> out;
    for (const auto& env : dispatched())
      if (env.type == event_traits<E>::wire_name)
        if (auto e = event_from<E>(env))
          out.push_back(std::move(*e));
    return out;
  }

  /// Event::assertDispatched: some event `E` was dispatched (and matches
  /// `pred` when given).
  template <class E>
  bool assert_dispatched(std::function<bool(const E&)> pred = {}) const {
    for (const auto& e : dispatched_of<E>())
      if (!pred || pred(e))
        return true;
    return false;
  }

  /// Event::assertDispatchedTimes.
  template <class E>
  bool assert_dispatched_times(std::size_t n) const {
    return dispatched_of<E>().size() == n;
  }

  /// Event::assertNotDispatched.
  template <class E>
  bool assert_not_dispatched() const {
    return dispatched_of<E>().empty();
  }

  /// Event::assertListening: `listener` is registered for `E`.
  template <class E>
  bool assert_listening(std::string_view listener) const {
    return registry_->is_listening<E>(listener);
  }

private:
  struct shared {
    std::mutex mtx;
    std::vector<envelope> events;
    std::uint64_t next_seq = 1;
  };
  std::shared_ptr<shared> shared_ = std::make_shared<shared>();
  std::shared_ptr<const listener_registry> registry_;
  dispatcher_actor handle_;
};

/// A node on CAF's test coordinator, in a temporary directory: messages run
/// only when the test calls run(), time moves only by advance(), and the
/// store writer answers within the handler. The clock starts at
/// `start_time` (2030-01-01T00:00:00Z by default).
class deterministic_node {
public:
  static constexpr timestamp_ms default_start = 1893456000000;

  /// Starts the node; `customize` may set listeners, queues, endpoint.
  explicit deterministic_node(std::function<void(node_options&)> customize = {},
                              timestamp_ms start_time = default_start);
  ~deterministic_node();

  deterministic_node(const deterministic_node&) = delete;
  deterministic_node& operator=(const deterministic_node&) = delete;

  caf::actor_system& sys() {
    return *sys_;
  }
  caf::scheduler::test_coordinator& sched() {
    return *sched_;
  }
  switchboard::node& node() {
    return *node_;
  }
  const std::string& dir() const {
    return dir_;
  }

  /// The simulated wall clock.
  timestamp_ms now() const {
    return node_->clock()();
  }

  /// Runs every enqueued message (not timers).
  std::size_t run();

  /// Moves simulated time forward, firing due timers, and runs.
  void advance(std::chrono::milliseconds d);

  /// Sends a request from a helper actor, runs, and returns the answer.
  template <class R, class Handle, class... Ts>
  expected<R, caf::error> call(const Handle& h, Ts... xs) {
    auto out = std::make_shared<std::optional<expected<R, caf::error>>>();
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(h, caf::infinite, xs...)
          .then(
              [out](R r) {
                out->emplace(std::move(r));
              },
              [out](caf::error& e) {
                out->emplace(make_unexpected(e));
              });
    });
    run();
    if (!out->has_value())
      return make_unexpected(caf::make_error(caf::sec::request_timeout));
    return std::move(**out);
  }

  /// Dispatches events through the node's dispatcher.
  expected<dispatch_result, caf::error> dispatch(dispatch_request req);

  /// Builds an envelope for `e` and dispatches it alone.
  template <class E>
  expected<dispatch_result, caf::error>
  dispatch_event(const E& e, std::string aggregate_id, std::string company_id,
                 event_metadata meta = {}) {
    dispatch_request req;
    req.events.push_back(make_envelope(e, std::move(aggregate_id), 0,
                                       std::move(company_id), now(),
                                       std::move(meta)));
    return dispatch(std::move(req));
  }

private:
  std::string dir_;
  std::unique_ptr<runtime_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::unique_ptr<switchboard::node> node_;
};

} // namespace switchboard::testing
