#pragma once

// Commits an actor submits to the writer thread directly: the op goes onto
// the writer's queue and its end comes back to the actor as one
// (done, token, error) message, instead of a request to the store writer
// actor (three messages: the request, the writer's completion to that
// actor, its answer). The actor keeps what to do next by token:
//
//     st.commits.submit(*writer, self_handle, op, iso, [=](caf::error e) {..});
//     ...
//     [=](done_atom, std::uint64_t token, caf::error& e) {
//       st.commits.finish(token, std::move(e));
//     }
//
// Not thread-safe: it lives in one actor's state.

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>

#include <caf/error.hpp>
#include <caf/send.hpp>

#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <store/writer.hpp>

namespace switchboard {

class commit_table {
public:
  using then_fn = std::function<void(caf::error)>;

  /// Submits `op` to `w`; `me` (the actor owning this table) is told when
  /// it ends, and `finish` then runs `then`.
  template <class Handle>
  void submit(store::writer& w, const Handle& me, store::writer::op_fn op,
              store::isolation iso, then_fn then) {
    auto token = next_++;
    pending_.emplace(token, std::move(then));
    w.submit(
        std::move(op),
        [me, token](const store::result<void>& r) {
          caf::anon_send(me, done_atom::value, token,
                         r ? caf::error{} : to_caf_error(r.error()));
        },
        iso);
  }

  /// Runs what waits for commit `token` (an unknown token is ignored).
  void finish(std::uint64_t token, caf::error err) {
    auto i = pending_.find(token);
    if (i == pending_.end())
      return;
    auto then = std::move(i->second);
    pending_.erase(i);
    then(std::move(err));
  }

  /// Commits in flight.
  std::size_t size() const noexcept {
    return pending_.size();
  }

private:
  std::unordered_map<std::uint64_t, then_fn> pending_;
  std::uint64_t next_ = 1;
};

} // namespace switchboard
