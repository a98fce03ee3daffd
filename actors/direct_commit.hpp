#pragma once

// The commits of an actor that may submit them to the writer thread
// directly: the op goes onto the writer's queue and its end comes back to
// the actor as one (done, token, error) message, instead of a request to
// the store writer actor (three messages: the request, the writer's
// completion to that actor, its answer). Without a direct writer (a
// blocking writer, in deterministic tests) the same call makes that
// request. The actor keeps what to do next by token:
//
//     st.commits.commit(self, st.deps.direct_writer, st.deps.writer, op, iso,
//                       store::lane::foreground,
//                       [=](caf::error e) { ... });
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

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/send.hpp>

#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <store/writer.hpp>

namespace switchboard {

class commit_table {
public:
  using then_fn = std::function<void(caf::error)>;

  /// Commits `op` in lane `ln` for `self` (the actor owning this table)
  /// and runs `then(error or none)` on it when the commit has ended:
  /// through `direct` when set, else by a request to `via`.
  template <class Self>
  void commit(Self* self, store::writer* direct, const store_writer_actor& via,
              store::writer::op_fn op, store::isolation iso, store::lane ln,
              then_fn then) {
    if (direct == nullptr) {
      self->request(via, caf::infinite, write_atom::value,
                    make_write_op(std::move(op), iso, ln))
          .then(
              [then](ok_atom) {
                then(caf::error{});
              },
              [then](caf::error& err) {
                then(std::move(err));
              });
      return;
    }
    auto token = next_++;
    pending_.emplace(token, std::move(then));
    direct->submit(
        std::move(op),
        [me = caf::actor_cast<caf::actor>(self),
         token](const store::result<void>& r) {
          caf::anon_send(me, done_atom::value, token,
                         r ? caf::error{} : to_caf_error(r.error()));
        },
        iso, ln);
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

private:
  std::unordered_map<std::uint64_t, then_fn> pending_;
  std::uint64_t next_ = 1;
};

} // namespace switchboard
