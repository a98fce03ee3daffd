#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include <actors/clock.hpp>
#include <actors/commit_feed.hpp>
#include <actors/interfaces.hpp>
#include <actors/listener_registry.hpp>
#include <actors/listeners.hpp>
#include <actors/providers.hpp>
#include <actors/queue_supervisor.hpp>
#include <store/environment.hpp>

namespace switchboard::store {
class writer;
class event_store;
class job_queue;
class processed_set;
class audit_log;
class tenants;
class projections;
class message_outbox;
class stats_store;
class trace_index;
class cluster_state;
} // namespace switchboard::store

namespace switchboard {

/// How a node starts.
struct node_options {
  store::options store;
  /// Concurrency per queue; queues not named get 4.
  std::map<std::string, std::uint32_t> concurrency
      = {{"notifications", 64}, {"analytics", 32}, {"default", 64}};
  /// Wait for each commit inside the store writer actor (deterministic
  /// tests on the test coordinator).
  bool blocking_writer = false;
  /// The clock; empty: the actor system's clock anchored at now.
  clock_fn clock;
  /// Jitter source for exponential backoff; empty: a seeded RNG.
  std::function<double()> random;
  /// How often queues reclaim expired leases and poll.
  std::chrono::milliseconds tick{1000};
  /// Spawns the endpoint of external services (Cal.com, CRM); empty:
  /// calls go to the outbox.
  std::function<endpoint_actor(caf::actor_system&)> endpoint;
  /// Real providers (Cal.com, CRM, SMS, WhatsApp, SMTP); targets without
  /// one go to the outbox. `endpoint`, when set, still serves Cal.com and
  /// CRM.
  provider_options providers;
  /// Extra registrations (tests add listeners) before the actors start;
  /// a refusal stops the start.
  std::function<registration_result(listener_registry&)> configure;
  /// config.ini's `[listener.NAME]` sections, applied after `configure`;
  /// a name that is no queued listener or subscriber stops the start.
  std::map<std::string, listener_override> listener_overrides;
  /// Aggregate actors stop after this long without a message.
  std::chrono::milliseconds aggregate_idle{std::chrono::minutes(5)};
  /// Most aggregate and calendar actors alive at once (least recently
  /// used passivated past it).
  std::size_t max_live_aggregates = 10000;
  /// How often the stats recorder writes the minute buckets (0: never).
  std::chrono::milliseconds stats_interval{10000};
  /// Most bytes the tagged cache holds (least recently used evicted).
  std::size_t cache_max_bytes = std::size_t{64} << 20;
  /// Extra listener actors, each with the queue whose supervisor runs it.
  std::vector<std::pair<listener_binding, std::string>> extra_listeners;
};

/// The store of one node: the LMDB environment and every module on it.
struct node_store {
  std::unique_ptr<store::environment> env;
  std::unique_ptr<store::writer> writer;
  std::unique_ptr<store::event_store> events;
  std::unique_ptr<store::job_queue> jobs;
  std::unique_ptr<store::processed_set> processed;
  std::unique_ptr<store::audit_log> audit;
  std::unique_ptr<store::projections> projections;
  std::unique_ptr<store::message_outbox> outbox;
  /// Companies (their time zones) and tokens.
  std::unique_ptr<store::tenants> tenants;
  /// Minute buckets of events, listeners and queues (7 days).
  std::unique_ptr<store::stats_store> stats;
  /// Events, jobs and outbox messages by correlation id (the trace).
  std::unique_ptr<store::trace_index> traces;
  /// The cluster's placement table and the jobs of moving companies.
  std::unique_ptr<store::cluster_state> cluster;

  /// Opens the environment and every module. Errors: the store's.
  /// `rebuild_stream_index` false leaves the event store's in-memory
  /// stream index empty (no log replay at open): for `switchboard check`,
  /// which reads the databases itself and must open a damaged store.
  static expected<std::unique_ptr<node_store>, std::string>
  open(const store::options& opts, bool rebuild_stream_index = true);

  ~node_store();
};

/// One Switchboard node: its store, and the actors of the event system
/// (store writer, dispatcher, sync listeners, tagged cache, queue
/// supervisors with their listeners).
class node {
public:
  /// Opens the store, releases the leases of a previous process, lets the
  /// audit log catch up, and spawns every actor.
  static expected<std::unique_ptr<node>, std::string>
  start(caf::actor_system& sys, node_options opts);

  ~node();

  /// Drains the queues (running jobs end), stops every actor, stops the
  /// writer and closes LMDB. Idempotent.
  void stop();

  dispatcher_actor dispatcher() const {
    return dispatcher_;
  }
  cache_actor cache() const {
    return cache_;
  }
  router_actor router() const {
    return router_;
  }
  store_writer_actor writer() const {
    return writer_;
  }
  /// What the node's queued listeners were given at spawn.
  const listener_context& listener_ctx() const {
    return listener_ctx_;
  }
  /// How far the catch-up listeners' readers read.
  const catch_up_board* catch_up_readers() const {
    return listener_ctx_.readers.get();
  }
  const std::map<std::string, queue_supervisor_actor>& queues() const {
    return queues_;
  }
  const listener_registry& registry() const {
    return *registry_;
  }
  node_store& store() const {
    return *store_;
  }
  const clock_fn& clock() const {
    return clock_;
  }
  /// Aggregate and calendar actors alive now.
  std::size_t live_aggregates() const {
    return live_aggregates_->load();
  }
  /// The events of each commit of the dispatcher, after the commit.
  commit_feed& commits() const {
    return *feed_;
  }

private:
  node(caf::actor_system& sys) : sys_(sys) {}
  caf::actor_system& sys_;
  std::unique_ptr<node_store> store_;
  std::shared_ptr<listener_registry> registry_;
  clock_fn clock_;
  std::shared_ptr<commit_feed> feed_ = std::make_shared<commit_feed>();
  store_writer_actor writer_;
  listener_context listener_ctx_;
  dispatcher_actor dispatcher_;
  cache_actor cache_;
  router_actor router_;
  stats_recorder_actor stats_;
  endpoint_actor endpoint_;
  endpoint_actor outbox_endpoint_;
  endpoint_actor provider_endpoint_;
  std::map<std::string, sync_listener_actor> sync_;
  /// The readers of the log of the catch-up listeners.
  std::vector<catch_up_actor> catch_ups_;
  std::map<std::string, queue_supervisor_actor> queues_;
  /// The actors that the router and the supervisors spawn, so that stop
  /// can wait for them before the store closes.
  std::shared_ptr<std::map<caf::actor_addr, routed_actor>> aggregates_
      = std::make_shared<std::map<caf::actor_addr, routed_actor>>();
  std::vector<std::shared_ptr<std::vector<queued_listener_actor>>> listeners_;
  std::shared_ptr<std::atomic<std::size_t>> live_aggregates_
      = std::make_shared<std::atomic<std::size_t>>(0);
  bool stopped_ = false;
  bool deterministic_ = false;
};

/// The embedded default endpoint: each call is written to the message
/// outbox (channel = target), so nothing is lost with no provider set. A
/// call with a `mark` marks its step processed in the same transaction
/// (and, when the step was marked already, writes nothing).
endpoint_actor spawn_outbox_endpoint(caf::actor_system& sys,
                                     store::message_outbox* outbox,
                                     store::processed_set* processed,
                                     store_writer_actor writer, clock_fn clock);

} // namespace switchboard
