// A real node for the crash test: dispatches customer.created events and
// runs a "work" listener on its own queue, printing each acknowledged
// dispatch and each processed job. The test kills it with SIGKILL while
// jobs are leased, restarts it in resume mode, and checks that every job
// ran exactly once.
//
// usage: queue_child <dir> produce <n> | queue_child <dir> resume

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include <caf/scoped_actor.hpp>

#include <actors/errors.hpp>
#include <actors/node.hpp>
#include <actors/queue_supervisor.hpp>
#include <actors/runtime.hpp>
#include <messages/json.hpp>
#include <store/event_store.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>

using namespace switchboard;

namespace {

constexpr const char* work_counter = "test/work/done";

listener_binding work_listener() {
  listener_binding b;
  b.names = {"work"};
  b.spawn = [](caf::actor_system& sys, const listener_context& ctx) {
    return sys.spawn([ctx](queued_listener_actor::pointer self)
                         -> queued_listener_actor::behavior_type {
      return {
          [self, ctx](handle_atom,
                      const job_request& req) -> caf::result<ok_atom> {
            // Slow enough that a kill finds jobs leased.
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
            auto rp = self->make_response_promise<ok_atom>();
            auto* processed = ctx.processed;
            auto* proj = ctx.projections;
            auto id = req.event.id;
            auto company = req.event.company_id;
            auto op = [processed, proj, id,
                       company](store::write_txn& txn) -> store::result<void> {
              auto fresh = processed->mark_in(txn, company, "work", id);
              if (!fresh)
                return make_unexpected(fresh.error());
              if (!*fresh)
                return {};
              return proj->add_in(txn, work_counter, 1);
            };
            self->request(ctx.writer, caf::infinite, write_atom::value,
                          make_write_op(op, store::isolation::nested))
                .then(
                    [rp, id](ok_atom) mutable {
                      std::printf("done %s\n", id.c_str());
                      std::fflush(stdout);
                      rp.deliver(ok_atom::value);
                    },
                    [rp](caf::error& e) mutable {
                      rp.deliver(std::move(e));
                    });
            return rp;
          },
          [](failed_atom, const job_request&, const std::string&) {},
      };
    });
  };
  return b;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: queue_child <dir> produce <n> | resume\n";
    return 2;
  }
  std::string dir = argv[1];
  std::string mode = argv[2];
  int n = argc > 3 ? std::atoi(argv[3]) : 0;
  runtime_config cfg{2};
  caf::actor_system sys{cfg};
  node_options opts;
  opts.store.path = dir;
  opts.store.map_size = std::size_t{256} << 20;
  opts.concurrency["work"] = 8;
  opts.tick = std::chrono::milliseconds(200);
  opts.configure = [](listener_registry& reg) {
    queued_listener_spec spec;
    spec.name = "work";
    spec.queue = "work";
    spec.retry.tries = 3;
    spec.retry.backoff_s = {1};
    return reg.listen_queued<customer_created>(spec);
  };
  opts.extra_listeners.push_back({work_listener(), "work"});
  auto started = node::start(sys, opts);
  if (!started) {
    std::cerr << "cannot start: " << started.error() << '\n';
    return 1;
  }
  auto& nd = **started;
  if (mode == "produce") {
    caf::scoped_actor self{sys};
    for (int i = 0; i < n; ++i) {
      auto id = "cu" + std::to_string(i);
      customer c;
      c.id = id;
      c.company_id = "c1";
      c.name = "Customer " + std::to_string(i);
      dispatch_request req;
      req.events.push_back(
          make_envelope(customer_created{c, customer_source::web}, id, 0, "c1",
                        nd.clock()(), {}));
      auto event_id = req.events[0].id;
      self->request(nd.dispatcher(), std::chrono::seconds(30),
                    dispatch_atom::value, req)
          .receive(
              [&](const dispatch_result&) {
                std::printf("dispatched %s\n", event_id.c_str());
                std::fflush(stdout);
              },
              [&](caf::error& e) {
                std::fprintf(stderr, "dispatch failed: %s\n",
                             describe(e).c_str());
              });
    }
  }
  // Run until every stored customer.created event has been worked.
  for (;;) {
    auto stored = nd.store().events->read_by(store::event_index::type,
                                             "customer.created", 1, 1000000);
    auto done = nd.store().projections->counter(work_counter);
    if (stored && done && static_cast<std::size_t>(*done) >= stored->size()
        && (mode == "resume" || static_cast<int>(stored->size()) >= n)) {
      std::printf("all done %lld\n", static_cast<long long>(*done));
      std::fflush(stdout);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  nd.stop();
  return 0;
}
