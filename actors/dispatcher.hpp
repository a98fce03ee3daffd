#pragma once

#include <map>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include <actors/clock.hpp>
#include <actors/commit_feed.hpp>
#include <actors/deadlines.hpp>
#include <actors/direct_commit.hpp>
#include <actors/interfaces.hpp>
#include <actors/listener_registry.hpp>

namespace switchboard::store {
struct job;
class event_store;
class job_queue;
class audit_log;
class trace_index;
} // namespace switchboard::store

namespace switchboard {

/// What the dispatcher needs, handed over at spawn.
struct dispatcher_deps {
  std::shared_ptr<const listener_registry> registry;
  store::event_store* events = nullptr;
  store::job_queue* jobs = nullptr;
  /// When set, the audit record of each event that has the AuditLogger
  /// among its sync listeners is written in the event's transaction (the
  /// AuditLogger then only confirms it): one commit per dispatch.
  store::audit_log* audit = nullptr;
  /// The writer thread each dispatch's commit goes to; its end comes back
  /// as (done, token, error) (direct_commit.hpp).
  store::writer* writer = nullptr;
  /// Deterministic tests: each commit ends before the call that submits
  /// it returns (direct_commit.hpp).
  bool inline_commits = false;
  std::map<std::string, sync_listener_actor> sync_listeners;
  std::map<std::string, queue_supervisor_actor> queues;
  clock_fn clock;
  /// When set, the events of each commit go to it after the commit.
  std::shared_ptr<const commit_feed> feed;
  /// When set, each event is recorded under its correlation id in the
  /// commit of the event (the causation trace).
  store::trace_index* traces = nullptr;
};

/// Counters of the dispatcher.
struct dispatcher_counters {
  std::uint64_t dispatched = 0;    ///< Events committed.
  std::uint64_t rejected = 0;      ///< Requests refused (input, conflict).
  std::uint64_t sync_failures = 0; ///< Sync listener errors.
  std::uint64_t sync_timeouts = 0; ///< Sync listener timeouts.
  std::uint64_t jobs_enqueued = 0;
};

struct dispatcher_state {
  dispatcher_deps deps;
  dispatcher_counters counters;
  /// Deadlines of the sync listener calls in flight.
  deadlines calls;
  /// Commits submitted to `deps.writer`.
  commit_table commits;
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "dispatcher";
};

/// The job of the queued listener `spec` for the event `ev`, created at
/// `now` (due after the listener's delay), with the listener's retries.
store::job listener_job(const queued_listener_spec& spec, const envelope& ev,
                        timestamp_ms now);

/// The dispatcher: for each request, one write transaction holds the
/// events, their indexes, one job per queued listener of each event (the
/// transactional outbox) and their audit records; then the sync listeners run
/// by request/response, each with its timeout, and never fail the dispatch;
/// then the caller gets the sequences and the listeners' outcomes and the
/// queues are woken.
dispatcher_actor::behavior_type
dispatcher(dispatcher_actor::stateful_pointer<dispatcher_state> self,
           dispatcher_deps deps);

} // namespace switchboard
