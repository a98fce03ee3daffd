#include "actors/node.hpp"

#include <algorithm>
#include <optional>
#include <random>

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <actors/aggregates.hpp>
#include <actors/audit_logger.hpp>
#include <actors/cache.hpp>
#include <actors/call_workflow.hpp>
#include <actors/dispatcher.hpp>
#include <actors/errors.hpp>
#include <actors/listeners/catch_up.hpp>
#include <actors/listeners/pause.hpp>
#include <actors/listeners/seed.hpp>
#include <actors/local_only.hpp>
#include <actors/log.hpp>
#include <actors/metrics.hpp>
#include <actors/queue_supervisor.hpp>
#include <actors/stats_recorder.hpp>
#include <actors/store_writer.hpp>
#include <messages/registry.hpp>
#include <store/audit_log.hpp>
#include <store/cluster_state.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>
#include <store/stats.hpp>
#include <store/tenants.hpp>
#include <store/traces.hpp>
#include <store/writer.hpp>

namespace switchboard {

namespace ln = listener_names;

node_store::~node_store() {
  if (writer)
    writer->stop();
  cluster.reset();
  stats.reset();
  tenants.reset();
  outbox.reset();
  traces.reset();
  projections.reset();
  audit.reset();
  processed.reset();
  jobs.reset();
  events.reset();
  writer.reset();
  env.reset();
}

expected<std::unique_ptr<node_store>, std::string>
node_store::open(const store::options& opts, bool rebuild_stream_index) {
  auto out = std::make_unique<node_store>();
  auto env = store::environment::open(opts);
  if (!env)
    return make_unexpected(store::to_string(env.error()));
  out->env = std::move(*env);
  out->writer = std::make_unique<store::writer>(*out->env);
  // Once per fault, not per refused request (they are counted in
  // switchboard_store_write_faults_total).
  out->writer->on_fault([](const store::error& cause, bool recovered) {
    auto lg = log::get(log::subsystem::store);
    if (recovered)
      lg->warn("the disk takes writes again; writes are accepted");
    else
      lg->error("the disk refused a write ({}); writes answer {} until it "
                "takes them again, reads go on",
                store::to_string(cause),
                cause.code == store::errc::io_error ? 503 : 507);
  });
  auto fail = [](const store::error& e) {
    return make_unexpected(store::to_string(e));
  };
  store::event_store_config ecfg;
  ecfg.rebuild_stream_index = rebuild_stream_index;
  // Appointments by the Cal.com booking uids they had.
  ecfg.refs = appointment_refs;
  // Appointments by start time, per company, staff member and customer:
  // GET /api/appointments reads one page of one list, and a calendar its
  // staff member's scheduled ones.
  ecfg.lists = appointment_lists;
  // Written behind the log, a batch per transaction (event_store.hpp).
  ecfg.lists_behind = true;
  ecfg.stream_index_batch = opts.stream_index_batch;
  auto events = store::event_store::open(*out->env, *out->writer, ecfg);
  if (!events)
    return fail(events.error());
  out->events = std::move(*events);
  // Jobs of format v1 learn their company and event type from the event.
  auto* ev_store = out->events.get();
  auto jobs = store::job_queue::open(
      *out->env, *out->writer,
      [ev_store](std::uint64_t seq, std::string& company, std::string& type) {
        auto ev = ev_store->read_event(seq);
        if (!ev)
          return false;
        company = ev->company_id;
        type = ev->type;
        return true;
      });
  if (!jobs)
    return fail(jobs.error());
  out->jobs = std::move(*jobs);
  auto processed = store::processed_set::open(*out->env);
  if (!processed)
    return fail(processed.error());
  out->processed
      = std::make_unique<store::processed_set>(std::move(*processed));
  // Keeps a part that opened in `to`, else its error in `failed`.
  std::optional<store::error> failed;
  auto keep = [&failed](auto& to, auto opened) {
    if (!opened) {
      failed = opened.error();
      return false;
    }
    to = std::move(*opened);
    return true;
  };
  auto audited = [](std::string_view type) {
    const auto* info = find_event_type(type);
    return info != nullptr && info->audited;
  };
  auto& parts_env = *out->env;
  if (!keep(out->audit,
            store::audit_log::open(parts_env, *out->events, audited))
      || !keep(out->projections, store::projections::open(parts_env))
      || !keep(out->outbox, store::message_outbox::open(parts_env))
      || !keep(out->tenants, store::tenants::open(parts_env))
      || !keep(out->stats, store::stats_store::open(parts_env))
      || !keep(out->traces, store::trace_index::open(parts_env))
      || !keep(out->cluster, store::cluster_state::open(parts_env)))
    return fail(*failed);
  out->jobs->trace_into(out->traces.get());
  out->outbox->trace_into(out->traces.get());
  return out;
}

namespace {

/// The first event type `listener` listens to, for error messages.
std::string first_type_of(const listener_registry& reg,
                          std::string_view listener) {
  for (const auto& info : all_event_types())
    if (reg.is_listening(info.wire_name, listener))
      return std::string{info.wire_name};
  return {};
}

/// Refuses a registry with a listener that no actor would run: a sync
/// listener not in `sync_actors`, or a queued listener that no binding
/// serves on its own queue. Without this, its events would be dropped or
/// its jobs would wait forever.
registration_result check_served(
    const listener_registry& reg, const std::vector<std::string>& sync_actors,
    const std::vector<std::pair<listener_binding, std::string>>& bindings) {
  for (const auto& name : reg.sync_listener_names())
    if (std::find(sync_actors.begin(), sync_actors.end(), name)
        == sync_actors.end())
      return make_unexpected(registration_error{
          registration_errc::unknown_listener, name, first_type_of(reg, name),
          "no sync listener actor has that name"});
  for (const auto& name : reg.queued_listener_names()) {
    const auto* spec = reg.find_queued(name);
    const std::string* served_on = nullptr;
    for (const auto& [b, q] : bindings)
      if (std::find(b.names.begin(), b.names.end(), name) != b.names.end())
        served_on = &q;
    if (served_on == nullptr)
      return make_unexpected(registration_error{
          registration_errc::unknown_listener, name, first_type_of(reg, name),
          "no queued listener actor serves it"});
    if (spec != nullptr && *served_on != spec->queue)
      return make_unexpected(registration_error{
          registration_errc::unknown_queue, name, first_type_of(reg, name),
          "it is registered on queue '" + spec->queue
              + "' but its actor runs on queue '" + *served_on + "'"});
  }
  return {};
}

} // namespace

endpoint_actor spawn_outbox_endpoint(caf::actor_system& sys,
                                     store::message_outbox* outbox,
                                     store::processed_set* processed,
                                     store_writer_actor writer,
                                     clock_fn clock) {
  return spawn_local(
      sys,
      [outbox, processed, writer,
       clock](endpoint_actor::pointer self) -> endpoint_actor::behavior_type {
        return {
            [=](sync_atom,
                const outbound_call& call) -> caf::result<std::string> {
              auto rp = self->make_response_promise<std::string>();
              auto op = [outbox, processed, call,
                         now = clock()](store::write_txn& txn) {
                return queue_call_in(txn, *outbox, *processed, call, now);
              };
              // Called by queued listeners: their writes yield to requests.
              self->request(writer, caf::infinite, write_atom::value,
                            make_write_op(op, store::isolation::validated,
                                          store::lane::background))
                  .then(
                      [rp](ok_atom) mutable {
                        rp.deliver(std::string{});
                      },
                      [rp](caf::error& e) mutable {
                        rp.deliver(std::move(e));
                      });
              return rp;
            },
        };
      });
}

expected<std::unique_ptr<node>, std::string> node::start(caf::actor_system& sys,
                                                         node_options opts) {
  auto lg = log::get(log::subsystem::node);
  std::unique_ptr<node> n{new node(sys)};
  auto st = node_store::open(opts.store);
  if (!st)
    return make_unexpected(st.error());
  n->store_ = std::move(*st);
  auto& s = *n->store_;
  n->clock_ = opts.clock ? opts.clock : make_clock(sys);
  auto now = n->clock_();
  // Jobs leased by a previous process run again.
  if (auto released = s.jobs->release_all_leases(now); !released)
    return make_unexpected("releasing leases: "
                           + store::to_string(released.error()));
  else if (*released > 0)
    lg->info("{} job(s) leased by a previous process are due again", *released);
  // The audit log catches up with events committed before a crash.
  if (auto caught = s.audit->catch_up(*s.writer); !caught)
    return make_unexpected("audit catch-up: "
                           + store::to_string(caught.error()));
  else if (*caught > 0)
    lg->info("audit log caught up {} event(s)", *caught);
  n->registry_ = std::make_shared<listener_registry>();
  // The caller logs the text (serve: one line naming the listener).
  auto refused = [](const registration_error& err) {
    return make_unexpected(to_string(err));
  };
  if (auto ok = register_seed_listeners(*n->registry_); !ok)
    return refused(ok.error());
  if (opts.configure)
    if (auto ok = opts.configure(*n->registry_); !ok)
      return refused(ok.error());
  for (const auto& [name, o] : opts.listener_overrides) {
    if (!n->registry_->override_queued(name, o)) {
      std::string known;
      for (const auto& l : n->registry_->queued_listener_names())
        known += (known.empty() ? "" : ", ") + l;
      return make_unexpected("[listener." + name
                             + "]: no queued listener is named " + name
                             + " (known: " + known + ")");
    }
    lg->info("listener {}: settings from the configuration", name);
  }
  std::shared_ptr<const listener_registry> reg = n->registry_;
  // A catch-up listener without a checkpoint gets one before anything
  // appends: at the log's end (the events before had their jobs), or at
  // the log's start when it keeps counters and has none yet.
  std::vector<const queued_listener_component*> catch_ups;
  for (const auto& c : queued_listeners()) {
    const auto* spec = reg->find_queued(c.spec.name);
    if (c.spawn_catch_up == nullptr || spec == nullptr || !spec->catch_up)
      continue;
    bool from_start = false;
    if (!c.counters_prefix.empty()) {
      auto counted = s.projections->counters(c.counters_prefix, 1);
      if (!counted)
        return make_unexpected("counters of " + spec->name + ": "
                               + store::to_string(counted.error()));
      from_start = counted->empty();
    }
    auto at = settle_checkpoint(*s.writer, *s.projections, *s.events,
                                spec->name, from_start);
    if (!at)
      return make_unexpected("checkpoint of " + spec->name + ": "
                             + store::to_string(at.error()));
    catch_ups.push_back(&c);
  }
  // The endpoint is spawned below, before any supervisor spawns a
  // listener.
  auto endpoint = std::make_shared<endpoint_actor>();
  // Which actor serves which listener names, on which queue.
  std::vector<std::pair<listener_binding, std::string>> bindings;
  for (const auto& c : queued_listeners()) {
    listener_binding b;
    b.names = c.served_in(*reg);
    b.spawn = [spawn = c.spawn, endpoint](caf::actor_system& sys,
                                          const listener_context& ctx) {
      return spawn(sys, ctx, *endpoint);
    };
    bindings.emplace_back(std::move(b), c.spec.queue);
  }
  for (auto& extra : opts.extra_listeners)
    bindings.push_back(extra);
  if (auto ok
      = check_served(*reg, {ln::audit_logger, ln::cache_invalidator}, bindings);
      !ok)
    return refused(ok.error());
  n->writer_ = spawn_local(sys, store_writer, s.writer.get(),
                           opts.blocking_writer, opts.store.background_group);
  auto clock = n->clock_;
  cache_options copts;
  copts.max_bytes = opts.cache_max_bytes;
  n->cache_ = spawn_local(sys, switchboard::cache, clock, copts);
  n->sync_[ln::audit_logger]
      = spawn_local(sys, audit_logger, s.audit.get(), n->writer_);
  n->sync_[ln::cache_invalidator]
      = spawn_local(sys, cache_invalidator, n->cache_);
  listener_context ctx;
  ctx.events = s.events.get();
  ctx.jobs = s.jobs.get();
  ctx.processed = s.processed.get();
  ctx.projections = s.projections.get();
  ctx.outbox = s.outbox.get();
  ctx.tenants = s.tenants.get();
  ctx.writer = n->writer_;
  ctx.clock = clock;
  ctx.readers = std::make_shared<catch_up_board>();
  ctx.pause = std::make_shared<listener_pause>(s.projections.get());
  auto with_providers = opts.providers.configured();
  if (!opts.endpoint || !with_providers.empty())
    n->outbox_endpoint_ = spawn_outbox_endpoint(
        sys, s.outbox.get(), s.processed.get(), n->writer_, clock);
  if (!opts.endpoint)
    ctx.provider_targets
        = std::make_shared<const std::set<std::string>>(with_providers);
  if (!with_providers.empty()) {
    // Blocking curl calls run on detached workers, except under the test
    // coordinator, where they run inline.
    n->provider_endpoint_ = spawn_provider_endpoint(
        sys, opts.providers, n->outbox_endpoint_, clock, !opts.blocking_writer);
    ctx.messenger = n->provider_endpoint_;
    for (const char* ch : {"sms", "email", "whatsapp"})
      if (with_providers.count(ch) > 0)
        ctx.provider_channels.emplace(ch);
  }
  n->endpoint_ = opts.endpoint           ? opts.endpoint(sys)
                 : n->provider_endpoint_ ? n->provider_endpoint_
                                         : n->outbox_endpoint_;
  n->deterministic_ = opts.blocking_writer;
  metrics(); // the families of /metrics, listed before any activity
  *endpoint = n->endpoint_;
  std::map<std::string, std::vector<listener_binding>> by_queue;
  for (auto& [b, q] : bindings)
    by_queue[q].push_back(b);
  for (const auto& q : reg->queues())
    by_queue[q];
  auto random = opts.random;
  if (!random) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    random = [rng] {
      return std::uniform_real_distribution<double>{0.0, 1.0}(*rng);
    };
  }
  for (auto& [q, list] : by_queue) {
    queue_deps d;
    d.queue = q;
    auto c = opts.concurrency.find(q);
    d.concurrency = c != opts.concurrency.end() ? c->second : 4;
    d.registry = reg;
    d.events = s.events.get();
    d.jobs = s.jobs.get();
    d.writer = s.writer.get();
    d.inline_commits = opts.blocking_writer;
    d.listeners = std::move(list);
    d.context = ctx;
    d.clock = clock;
    d.tick = opts.tick;
    d.random = random;
    d.actors = std::make_shared<std::vector<queued_listener_actor>>();
    n->listeners_.push_back(d.actors);
    n->queues_[q] = spawn_local(sys, queue_supervisor, std::move(d));
  }
  *ctx.queues = n->queues_;
  dispatcher_deps dd;
  dd.registry = reg;
  dd.events = s.events.get();
  dd.jobs = s.jobs.get();
  dd.audit = s.audit.get();
  dd.writer = s.writer.get();
  dd.inline_commits = opts.blocking_writer;
  dd.sync_listeners = n->sync_;
  dd.queues = n->queues_;
  dd.clock = clock;
  dd.feed = n->feed_;
  dd.traces = s.traces.get();
  n->dispatcher_ = spawn_local(sys, switchboard::dispatcher, std::move(dd));
  aggregate_deps ad;
  ad.dispatcher = n->dispatcher_;
  ad.cache = n->cache_;
  ad.events = s.events.get();
  ad.tenants = s.tenants.get();
  ad.clock = clock;
  ad.idle_timeout = opts.aggregate_idle;
  ad.children = n->aggregates_;
  ad.max_live = std::max<std::size_t>(1, opts.max_live_aggregates);
  ad.live = n->live_aggregates_;
  n->router_ = spawn_local(sys, switchboard::router, std::move(ad));
  *ctx.router = n->router_;
  n->listener_ctx_ = ctx;
  for (const auto* c : catch_ups)
    n->catch_ups_.push_back(
        c->spawn_catch_up(sys, ctx, *reg->find_queued(c->spec.name), *reg));
  if (opts.stats_interval.count() > 0 && !n->deterministic_) {
    stats_recorder_deps rd;
    rd.writer = s.writer.get();
    rd.stats = s.stats.get();
    rd.clock = clock;
    rd.interval = opts.stats_interval;
    n->stats_ = spawn_local(sys, stats_recorder, std::move(rd));
  }
  lg->info("node started: {} queue(s), {} sync listener(s)", n->queues_.size(),
           n->sync_.size());
  return n;
}

void node::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  auto lg = log::get(log::subsystem::node);
  if (!writer_) {
    // The start failed before any actor was spawned.
    store_.reset();
    return;
  }
  if (deterministic_) {
    // Under the test coordinator nothing may block: the test runs the
    // exits after this returns.
    for (const auto& h : {caf::actor_cast<caf::actor>(router_),
                          caf::actor_cast<caf::actor>(dispatcher_),
                          caf::actor_cast<caf::actor>(cache_),
                          caf::actor_cast<caf::actor>(writer_)})
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    for (auto& [name, q] : queues_)
      caf::anon_send_exit(q, caf::exit_reason::user_shutdown);
    for (auto& [name, h] : sync_)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    for (auto& h : catch_ups_)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    for (const auto& h : {endpoint_, outbox_endpoint_, provider_endpoint_})
      if (h)
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    store_.reset();
    return;
  }
  {
    caf::scoped_actor self{sys_};
    for (auto& [name, q] : queues_) {
      self->request(q, std::chrono::seconds(30), drain_atom::value)
          .receive([](ok_atom) {},
                   [&, name = name](caf::error& err) {
                     lg->warn("queue {} did not drain: {}", name,
                              describe(err));
                   });
    }
    auto kill = [&](const auto& h) {
      if (h)
        self->send_exit(h, caf::exit_reason::user_shutdown);
    };
    // The last interval's activity, before the writer goes.
    if (stats_) {
      self->request(stats_, std::chrono::seconds(5), flush_atom::value)
          .receive([](ok_atom) {},
                   [&](caf::error& err) {
                     lg->warn("stats not recorded at stop: {}", describe(err));
                   });
      kill(stats_);
      self->wait_for(stats_);
    }
    // The aggregates first, while the dispatcher still answers: a calendar
    // awaiting its dispatch handles nothing else, its exit included.
    kill(router_);
    self->wait_for(router_);
    for (const auto& [addr, h] : *aggregates_)
      self->wait_for(h);
    kill(dispatcher_);
    for (auto& h : catch_ups_)
      kill(h);
    for (auto& [name, q] : queues_)
      kill(q);
    for (auto& [name, h] : sync_)
      kill(h);
    kill(cache_);
    kill(endpoint_);
    kill(provider_endpoint_);
    kill(outbox_endpoint_);
    kill(writer_);
    self->wait_for(dispatcher_);
    for (auto& h : catch_ups_)
      self->wait_for(h);
    for (auto& [name, q] : queues_)
      self->wait_for(q);
    for (auto& [name, h] : sync_)
      self->wait_for(h);
    // The supervisors' children end after them (their exit hooks); none
    // may outlive the store.
    for (const auto& list : listeners_)
      for (const auto& h : *list)
        if (h)
          self->wait_for(h);
    self->wait_for(writer_);
  }
  store_.reset();
  lg->info("node stopped; store closed");
}

node::~node() {
  stop();
}

} // namespace switchboard
