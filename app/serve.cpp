// `switchboard serve`: the daemon's process.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <pthread.h>
#include <sys/resource.h>

#include <caf/actor_system.hpp>

#include <actors/log.hpp>
#include <actors/node.hpp>
#include <actors/runtime.hpp>
#include <app/cli.hpp>
#include <app/data_lock.hpp>
#include <app/http/cluster.hpp>
#include <app/http/gateway.hpp>
#include <app/http/server.hpp>
#include <app/http/webhooks.hpp>
#include <app/notify.hpp>
#include <app/provider_config.hpp>
#include <app/store_options.hpp>
#include <store/event_store.hpp>

namespace switchboard::app {

namespace {

constexpr const char* serve_usage
    = R"(usage: switchboard serve [--config FILE] [--set section.key=value]...

Runs the daemon until SIGTERM or SIGINT. Reads FILE, else the file named
by $SWITCHBOARD_CONFIG, else ./config.ini when present, over the embedded
defaults; each --set overrides one option. Holds an exclusive lock on the
data directory ([store] path, file switchboard.lock with its pid): a
second daemon on the same directory refuses to start, naming that pid.
)";

/// How much longer than http.shutdown_timeout_ms a stop may take.
constexpr std::chrono::seconds stop_margin{5};

/// Tells the service manager `state` (nothing without one); a failure is
/// logged, never fatal.
void notify(const std::shared_ptr<spdlog::logger>& lg,
            const std::string& state) {
  if (auto sent = notify_service_manager(state); !sent)
    lg->warn("cannot notify the service manager: {}", sent.error());
}

} // namespace

int run_serve(const std::vector<std::string>& args) {
  auto flags = parse_command_flags("serve", serve_usage, args, false);
  if (!flags)
    return flags.error();
  auto cfg = load_config(*flags);
  if (!cfg) {
    std::cerr << "switchboard serve: invalid configuration:\n"
              << to_string(cfg.error()) << '\n';
    return 2;
  }
  log::configure(cfg->get_string("log.level"),
                 cfg->get_string("log.format") == "json" ? log::format::json
                                                         : log::format::text);
  auto lg = log::get(log::subsystem::app);
  // As many connections as the hard limit allows (the gateway caps
  // http.max_connections below what is left).
  http::raise_fd_limit();
  // Block the stop signals in every thread; this one waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Each WebSocket subscriber holds a descriptor: take the hard limit
  // rather than the usual soft 1,024.
  if (rlimit nofile{}; getrlimit(RLIMIT_NOFILE, &nofile) == 0
                       && nofile.rlim_cur < nofile.rlim_max) {
    auto soft = nofile.rlim_cur;
    nofile.rlim_cur = nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &nofile) == 0)
      lg->info("open files limit raised from {} to {}", soft, nofile.rlim_max);
  }
  auto opts = store_options(*cfg);
  std::error_code ec;
  auto abs_path = std::filesystem::absolute(opts.path, ec).lexically_normal();
  // One daemon per data directory, locked before LMDB opens it and held
  // until it is closed (the lock is destroyed last).
  auto dir_lock = data_dir_lock::acquire(abs_path.string());
  if (!dir_lock) {
    lg->error("cannot start: {}", dir_lock.error());
    return 1;
  }
  runtime_config rcfg{
      static_cast<std::size_t>(cfg->get_int("scheduler.max_threads")),
      static_cast<std::size_t>(cfg->get_int("scheduler.sleeping_polls"))};
  notify(lg, "STATUS=opening the store at " + abs_path.string());
  caf::actor_system sys{rcfg};
  capture_caf_output(sys);
  node_options nopts;
  nopts.store = opts;
  nopts.providers = provider_options_from(*cfg);
  if (auto problem = nopts.providers.problem(); !problem.empty()) {
    lg->error("cannot start: {}", problem);
    return 1;
  }
  for (const auto& q : {"notifications", "analytics", "default"})
    nopts.concurrency[q] = static_cast<std::uint32_t>(
        cfg->get_int(std::string{"queues."} + q + "_concurrency"));
  for (auto& [name, s] : listener_settings_of(*cfg)) {
    listener_override o;
    o.tries = s.tries;
    o.backoff_ms = s.backoff_ms;
    o.delay_ms = s.delay_ms;
    o.timeout_ms = s.timeout_ms;
    o.poll_ms = s.poll_ms;
    nopts.listener_overrides.emplace(name, std::move(o));
  }
  nopts.max_live_aggregates
      = static_cast<std::size_t>(cfg->get_int("aggregates.max_live"));
  nopts.cache_max_bytes
      = static_cast<std::size_t>(cfg->get_int("cache.max_bytes"));
  nopts.stats_interval
      = std::chrono::milliseconds{cfg->get_int("metrics.stats_interval_ms")};
  auto n = node::start(sys, std::move(nopts));
  if (!n) {
    lg->error("cannot start with the store at {}: {}", abs_path.string(),
              n.error());
    return 1;
  }
  auto last = (*n)->store().events->last_sequence();
  lg->info("store open at {} (sync {}, last sequence {}; config {})",
           abs_path.string(), cfg->get_string("store.sync"), last ? *last : 0,
           find_config(*flags).label);
  http::configure_webhooks(http::webhook_options_from(*cfg));
  auto gw_opts = http::gateway_options_from(*cfg);
  // The cluster before the gateway: no request may be served before this
  // node knows which companies are its own.
  auto copts = http::cluster_options_from(*cfg);
  if (!copts) {
    lg->error("cannot start: {}", copts.error());
    (*n)->stop();
    return 1;
  }
  http::cluster_setup cluster;
  if (copts->enabled()) {
    auto c = http::start_cluster(sys, **n, *copts);
    if (!c) {
      lg->error("cannot start the cluster: {}", c.error());
      (*n)->stop();
      return 1;
    }
    cluster = std::move(*c);
    gw_opts.cluster = cluster.view;
    gw_opts.forward = http::make_forwarder(cluster);
    gw_opts.move = http::make_mover(cluster);
    gw_opts.ask_member = http::make_member_asker(cluster);
    lg->info("cluster member {} of {}", copts->node, copts->peers.size());
  }
  auto gw = http::gateway::start(sys, **n, std::move(gw_opts));
  if (!gw) {
    lg->error("cannot start the HTTP gateway: {}", gw.error());
    http::stop_cluster(cluster);
    (*n)->stop();
    return 1;
  }
  if (cluster.actor) {
    (*gw)->on_commits(http::make_event_relay(cluster));
    if (auto* b = (*gw)->broadcasting())
      b->set_cluster_hooks(http::make_broadcast_hooks(cluster));
    cluster.running->store(gw->get());
  }
  lg->info("serving; store at {}; http port {}; send SIGTERM to stop",
           abs_path.string(), (*gw)->port());
  // Ready only now: the store is open and every listener (HTTP, metrics,
  // cluster) accepts connections.
  auto status = "serving on " + cfg->get_string("http.host") + ":"
                + std::to_string((*gw)->port());
  if (auto mport = (*gw)->metrics_port(); mport != 0)
    status += "; metrics on " + cfg->get_string("metrics.host") + ":"
              + std::to_string(mport);
  if (copts->enabled())
    status += "; cluster member " + copts->node;
  notify(lg, "READY=1\nSTATUS=" + status);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  lg->info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  notify(lg, "STOPPING=1\nSTATUS=stopping: finishing the requests in flight");
  // The stop is bounded whatever the store does: a write transaction that
  // never ends (another process holding LMDB's write lock, a hung disk)
  // must not keep the process. What was acknowledged is committed, and
  // LMDB needs no clean close to stay consistent.
  auto limit
      = std::chrono::milliseconds{cfg->get_int("http.shutdown_timeout_ms")}
        + stop_margin;
  std::thread([limit, lg] {
    std::this_thread::sleep_for(limit);
    lg->error("stopping took more than {} ms (the store writer is stuck?); "
              "exiting without waiting further",
              limit.count());
    lg->flush();
    std::_Exit(1);
  }).detach();
  // Stop taking requests and finish those in flight, then drain the node.
  http::stop_cluster(cluster);
  (*gw)->stop();
  gw->reset();
  (*n)->stop();
  n->reset();
  lg->info("store closed");
  lg->flush();
  return 0;
}

} // namespace switchboard::app
