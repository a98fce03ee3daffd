#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>
#include <spdlog/logger.h>

#include <actors/clock.hpp>
#include <actors/deadlines.hpp>
#include <actors/direct_commit.hpp>
#include <actors/interfaces.hpp>
#include <actors/listener_registry.hpp>
#include <actors/listeners.hpp>

namespace switchboard::store {
class event_store;
class job_queue;
} // namespace switchboard::store

namespace switchboard {

/// How a supervisor starts (and restarts) the actor behind some listener
/// names: a subscriber's handlers share one actor.
struct listener_binding {
  std::vector<std::string> names;
  std::function<queued_listener_actor(caf::actor_system&,
                                      const listener_context&)>
      spawn;
};

/// What a queue supervisor needs, handed over at spawn.
struct queue_deps {
  std::string queue;
  std::uint32_t concurrency = 1;
  std::shared_ptr<const listener_registry> registry;
  store::event_store* events = nullptr;
  store::job_queue* jobs = nullptr;
  /// The writer thread the supervisor's commits (leases, acks, retries) go
  /// to (direct_commit.hpp).
  store::writer* writer = nullptr;
  /// Deterministic tests: each commit ends before the call that submits
  /// it returns (direct_commit.hpp).
  bool inline_commits = false;
  std::vector<listener_binding> listeners;
  /// Handed to each listener actor the supervisor (re)starts.
  listener_context context;
  clock_fn clock;
  /// How often expired leases are reclaimed and the queue polled.
  std::chrono::milliseconds tick{1000};
  /// Draws jitter for exponential backoff; uniform in [0, 1).
  std::function<double()> random;
  /// Where the supervisor keeps its listener actors; the node waits for
  /// them at stop. Empty: the supervisor makes its own.
  std::shared_ptr<std::vector<queued_listener_actor>> actors;
};

struct queue_supervisor_state {
  queue_deps deps;
  /// Listener name → the index of its binding.
  std::map<std::string, std::size_t> binding_of;
  /// Binding index → its running actor; shared with the exit cleanup,
  /// which runs after the state is gone.
  std::shared_ptr<std::vector<queued_listener_actor>> actors
      = std::make_shared<std::vector<queued_listener_actor>>();
  std::uint32_t in_flight = 0;
  /// Deadlines of the jobs handed to listener actors (their timeouts).
  deadlines attempts;
  /// Commits submitted to `deps.writer`.
  commit_table commits;
  /// When the wake set by the last timer fires (0: none set).
  timestamp_ms timer_due = 0;
  /// Jobs whose listener answered ok, waiting for the next ack commit.
  std::vector<std::uint64_t> pending_acks;
  /// Ack commits in flight (at most `max_ack_commits`).
  std::uint32_t acks_in_flight = 0;
  bool leasing = false;
  bool rewake = false;
  bool draining = false;
  std::vector<caf::typed_response_promise<ok_atom>> drain_promises;
  std::uint64_t processed = 0;
  std::uint64_t retried = 0;
  std::uint64_t failed = 0;
  std::uint64_t restarts = 0;
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "queue_supervisor";
};

/// One supervisor per named queue. Leases due jobs from LMDB up to the
/// queue's concurrency and hands them to the listener actors' mailboxes. A
/// success acks the job; an error, a timeout or the listener dying
/// schedules the next try by the listener's backoff (Laravel's meaning),
/// and after the last try the job moves to failed jobs and the listener's
/// failed() hook runs once. A listener actor that dies is restarted; the
/// other jobs go on.
queue_supervisor_actor::behavior_type queue_supervisor(
    queue_supervisor_actor::stateful_pointer<queue_supervisor_state> self,
    queue_deps deps);

} // namespace switchboard
