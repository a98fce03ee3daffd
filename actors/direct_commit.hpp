#pragma once

// The commits of an actor that submits them to the writer thread
// directly: the op goes onto the writer's queue and its end comes back to
// the actor as one (done, token, error) message, instead of a request to
// the store writer actor (three messages: the request, the writer's
// completion to that actor, its answer). The actor keeps what to do next
// by token:
//
//     st.commits.commit(self, *st.deps.writer, st.deps.inline_commits, op,
//                       iso, store::lane::foreground,
//                       [=](caf::error e) { ... });
//     ...
//     [=](done_atom, std::uint64_t token, caf::error& e) {
//       st.commits.finish(token, std::move(e));
//     }
//
// Deterministic tests (the test coordinator runs every actor on the test's
// thread) commit inline: the op runs to its commit before `commit`
// returns, and its (done, token, error) is then already in the actor's
// mailbox. It is the same path, message for message, that the daemon
// runs, only without the wait for the writer thread's answer.
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
  /// through `writer`, and runs `then(error or none)` on it when the
  /// commit has ended; `inline_commit`: the op commits before this
  /// returns (deterministic tests).
  template <class Self>
  void commit(Self* self, store::writer& writer, bool inline_commit,
              store::writer::op_fn op, store::isolation iso, store::lane ln,
              then_fn then) {
    auto token = next_++;
    pending_.emplace(token, std::move(then));
    auto ended = [me = caf::actor_cast<caf::actor>(self),
                  token](const store::result<void>& r) {
      caf::anon_send(me, done_atom::value, token,
                     r ? caf::error{} : to_caf_error(r.error()));
    };
    if (inline_commit)
      ended(writer.execute(std::move(op), iso, ln));
    else
      writer.submit(std::move(op), std::move(ended), iso, ln);
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
