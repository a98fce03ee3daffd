#pragma once

// Internal actors take messages from this process only.
//
// CAF delivers a message from a connected node to any actor whose id that
// node can name. The node's one cluster-facing actor (actors/cluster.hpp)
// checks who sends; every other actor is spawned with `spawn_local`, whose
// implementation drops a message whose sender lives on another node before
// it reaches the mailbox: no handler runs and nothing answers (a request
// of the other node times out). Messages without a sender (the writer
// thread's completions, anonymous sends inside the process) pass: a
// remote node's anonymous message cannot be told from them, which is why
// the cluster actor's local-only messages carry its local key.

#include <cstdint>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/detail/init_fun_factory.hpp>
#include <caf/infer_handle.hpp>
#include <caf/mailbox_element.hpp>

namespace switchboard {

/// Messages from other nodes dropped by local-only actors since start.
std::uint64_t foreign_messages_dropped() noexcept;

namespace detail {

/// Counts (and logs) one message from `node` that was dropped.
void drop_foreign(const caf::node_id& node) noexcept;

} // namespace detail

/// The implementation `Base` of an actor, dropping what another node sends.
template <class Base>
class local_only : public Base {
public:
  using Base::Base;

  void enqueue(caf::mailbox_element_ptr x, caf::execution_unit* eu) override {
    if (x != nullptr && x->sender != nullptr
        && x->sender->node() != this->home_system().node()) {
      detail::drop_foreign(x->sender->node());
      return;
    }
    Base::enqueue(std::move(x), eu);
  }
};

/// `sys.spawn<Os>(fun, xs...)` for an internal actor: the same actor,
/// local-only.
template <caf::spawn_options Os = caf::no_spawn_options, class F, class... Ts>
caf::infer_handle_from_fun_t<F> spawn_local(caf::actor_system& sys, F fun,
                                            Ts&&... xs) {
  using impl = caf::infer_impl_from_fun_t<F>;
  caf::actor_config cfg;
  caf::detail::init_fun_factory<impl, F> fac;
  cfg.init_fun = fac(std::move(fun), std::forward<Ts>(xs)...);
  return sys.spawn_impl<local_only<impl>, Os>(cfg);
}

} // namespace switchboard
