// The provider endpoint actor: a front that queues the calls of the
// configured targets for a pool of workers (each runs one call at a time,
// see `call_provider`) and hands the others to a fallback. The requests
// and their transport are in actors/providers.cpp.
#include "actors/providers.hpp"

#include <algorithm>
#include <deque>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <actors/errors.hpp>
#include <actors/local_only.hpp>
#include <actors/log.hpp>

namespace switchboard {

namespace {

/// A call waiting for a free worker.
struct pending_call {
  outbound_call call;
  caf::typed_response_promise<std::string> rp;
};

struct provider_front_state {
  std::vector<endpoint_actor> idle;
  std::deque<pending_call> waiting;
  static inline const char* name = "provider_endpoint";
};

using front_actor = endpoint_actor::stateful_pointer<provider_front_state>;

void pump(front_actor self) {
  auto& st = self->state;
  while (!st.idle.empty() && !st.waiting.empty()) {
    auto worker = st.idle.back();
    st.idle.pop_back();
    auto p = std::move(st.waiting.front());
    st.waiting.pop_front();
    // The worker's call ends by the provider's own timeout.
    self->request(worker, caf::infinite, sync_atom::value, p.call)
        .then(
            [self, worker, rp = p.rp](std::string& body) mutable {
              rp.deliver(std::move(body));
              self->state.idle.push_back(worker);
              pump(self);
            },
            [self, worker, rp = p.rp](caf::error& err) mutable {
              rp.deliver(std::move(err));
              self->state.idle.push_back(worker);
              pump(self);
            });
  }
}

endpoint_actor::behavior_type provider_worker(endpoint_actor::pointer,
                                              provider_options opts,
                                              clock_fn clock) {
  auto lg = log::get(log::subsystem::providers);
  return {
      [opts, clock, lg](sync_atom,
                        const outbound_call& call) -> caf::result<std::string> {
        provider_result r;
        try {
          r = call_provider(opts, call, clock());
        } catch (const std::exception& e) {
          r = {provider_outcome::retry,
               0,
               false,
               call.target + " call failed: " + e.what(),
               {}};
        }
        if (r.outcome == provider_outcome::delivered) {
          lg->debug("{} {} delivered ({})", call.target, call.idempotency_key,
                    r.status);
          return std::move(r.body);
        }
        lg->warn("{} {} not delivered: {}", call.target, call.idempotency_key,
                 r.message);
        return to_error(r);
      },
  };
}

endpoint_actor::behavior_type provider_front(front_actor self,
                                             provider_options opts,
                                             endpoint_actor fallback,
                                             clock_fn clock, bool detached) {
  auto n = std::max<std::uint32_t>(opts.workers, 1);
  for (std::uint32_t i = 0; i < n; ++i) {
    endpoint_actor w
        = detached ? spawn_local<caf::detached>(self->system(), provider_worker,
                                                opts, clock)
                   : spawn_local(self->system(), provider_worker, opts, clock);
    self->state.idle.push_back(w);
  }
  self->attach_functor([workers = self->state.idle] {
    for (const auto& w : workers)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  auto targets = opts.configured();
  return {
      [self, targets, fallback](
          sync_atom, const outbound_call& call) -> caf::result<std::string> {
        if (targets.count(call.target) == 0) {
          if (!fallback)
            return make_runtime_error(runtime_errc::rejected,
                                      "no provider for " + call.target);
          return self->delegate(fallback, sync_atom::value, call);
        }
        auto rp = self->make_response_promise<std::string>();
        self->state.waiting.push_back({call, rp});
        pump(self);
        return rp;
      },
  };
}

} // namespace

endpoint_actor spawn_provider_endpoint(caf::actor_system& sys,
                                       provider_options opts,
                                       endpoint_actor fallback, clock_fn clock,
                                       bool detached) {
  auto lg = log::get(log::subsystem::providers);
  for (const auto& t : opts.configured())
    lg->info("provider for {} configured", t);
  return spawn_local(sys, provider_front, std::move(opts), std::move(fallback),
                     std::move(clock), detached);
}

} // namespace switchboard
