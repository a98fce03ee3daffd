#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include <actors/interfaces.hpp>
#include <store/writer.hpp>

namespace switchboard {

/// A background op waiting to go to the writer inside a group.
struct coalesced_op {
  std::shared_ptr<store::writer::op_fn> fn;
  store::isolation iso = store::isolation::validated;
  caf::typed_response_promise<ok_atom> rp;
};

/// A group of background ops submitted as one writer op, and each one's
/// outcome (written on the writer thread before the group's completion
/// message is sent, read by the actor after it arrives).
struct coalesced_group {
  std::vector<coalesced_op> ops;
  std::shared_ptr<std::vector<store::result<void>>> results;
};

/// State of the store writer actor: the promises of ops in flight, and
/// the background ops it groups.
struct store_writer_state {
  store::writer* writer = nullptr;
  std::uint64_t next_token = 1;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<ok_atom>>
      pending;
  /// Most background ops in one group; 0 or 1: no grouping.
  std::size_t max_group = 0;
  std::vector<coalesced_op> waiting;
  std::unordered_map<std::uint64_t, coalesced_group> groups;
  static inline const char* name = "store_writer";
};

/// Groups in flight at once: as many as the writer takes background ops
/// per commit by default, so that a new op waits for a place in the next
/// commit, not for a group ahead of it to end.
constexpr std::size_t max_groups_in_flight = 4;

/// Wraps the group-commit writer thread `w`, which must outlive the actor.
/// Ops run on the writer thread; their completion comes back to this actor
/// as a message, so no scheduler thread waits for LMDB. With `blocking`
/// set (deterministic tests on the test coordinator) the actor waits for
/// each commit instead, so that every answer is sent within the handler.
///
/// Background ops (the queued listeners' effects, most of all) are
/// grouped: up to `max_group` of them go to the writer as one op, each in
/// a nested transaction of its own with its own answer, while up to
/// `max_groups_in_flight` groups are in flight. The writer takes only a
/// few background ops besides the requests' writes per commit
/// (store.background_ops_per_commit), so a group carries many jobs' effects
/// in one of those places. A group that fails as a whole (an error that
/// loses the transaction) is split: each op is submitted alone, so that
/// only the culprit fails.
store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self,
             store::writer* w, bool blocking = false,
             std::size_t max_group = 0);

} // namespace switchboard
