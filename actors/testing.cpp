#include "actors/testing.hpp"

#include <cstdlib>
#include <stdexcept>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <actors/clock.hpp>

namespace switchboard::testing {

event_fake::event_fake(caf::actor_system& sys,
                       std::shared_ptr<const listener_registry> registry)
    : registry_(std::move(registry)) {
  if (!registry_) {
    auto reg = std::make_shared<listener_registry>();
    if (auto ok = register_seed_listeners(*reg); !ok)
      throw std::runtime_error(to_string(ok.error()));
    registry_ = reg;
  }
  auto sh = shared_;
  handle_ = sys.spawn(
      [sh](dispatcher_actor::pointer) -> dispatcher_actor::behavior_type {
        return {
            [sh](dispatch_atom, dispatch_request& req) -> dispatch_result {
              std::lock_guard<std::mutex> guard{sh->mtx};
              dispatch_result res;
              std::uint64_t version
                  = req.expect == expect_kind::exact ? req.expected_version : 0;
              for (auto& ev : req.events) {
                ev.sequence = sh->next_seq++;
                ev.version = ++version;
                res.sequences.push_back(ev.sequence);
                res.versions.push_back(ev.version);
                sh->events.push_back(ev);
              }
              return res;
            },
            [](expire_atom) {
              // The fake runs no sync listeners, so it sets no deadlines.
            },
            [](done_atom, std::uint64_t, const caf::error&) {
              // The fake commits nothing.
            },
        };
      });
}

std::vector<envelope> event_fake::dispatched() const {
  std::lock_guard<std::mutex> guard{shared_->mtx};
  return shared_->events;
}

deterministic_node::deterministic_node(
    std::function<void(node_options&)> customize, timestamp_ms start_time) {
  char tmpl[] = "/tmp/switchboard-node-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  cfg_ = std::make_unique<runtime_config>(1);
  cfg_->set("scheduler.policy", caf::atom("testing"));
  cfg_->set("middleman.network-backend", caf::atom("testing"));
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  node_options opts;
  opts.store.path = dir_;
  opts.store.sync = store::options::sync_mode::none;
  opts.store.map_size = std::size_t{64} << 20;
  opts.blocking_writer = true;
  opts.clock = make_clock(*sys_, start_time);
  opts.random = [] {
    return 0.5;
  };
  // Due times have exact timers; the periodic poll only reclaims expired
  // leases, so it may be slow in simulated time.
  opts.tick = std::chrono::seconds(60);
  if (customize)
    customize(opts);
  auto n = switchboard::node::start(*sys_, std::move(opts));
  if (!n) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    [[maybe_unused]] auto rc = std::system(cmd.c_str());
    throw std::runtime_error("node did not start: " + n.error());
  }
  node_ = std::move(*n);
  run();
}

deterministic_node::~deterministic_node() {
  node_->stop();
  run();
  node_.reset();
  sched_->run();
  sys_.reset();
  std::string cmd = "rm -rf '" + dir_ + "'";
  [[maybe_unused]] auto rc = std::system(cmd.c_str());
}

std::size_t deterministic_node::run() {
  return sched_->run();
}

void deterministic_node::advance(std::chrono::milliseconds d) {
  // Jump from timer to timer, running what each one triggers, so that
  // timers armed on the way fire at their own time.
  auto& clk = sched_->clock();
  auto target = clk.now() + d;
  for (;;) {
    run();
    const auto& pending = clk.schedule();
    if (pending.empty() || pending.begin()->first > target)
      break;
    auto next = pending.begin()->first;
    auto step
        = next > clk.now() ? next - clk.now() : decltype(next - clk.now()){0};
    clk.advance_time(step);
  }
  if (target > clk.now())
    clk.advance_time(target - clk.now());
  run();
}

expected<dispatch_result, caf::error>
deterministic_node::dispatch(dispatch_request req) {
  return call<dispatch_result>(node_->dispatcher(), dispatch_atom::value,
                               std::move(req));
}

} // namespace switchboard::testing
