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
  /// A flush message is on its way to this actor.
  bool flush_pending = false;
  std::unordered_map<std::uint64_t, coalesced_group> groups;
  static inline const char* name = "store_writer";
};

/// Most groups in flight at once: as many as the writer takes background
/// ops per commit by default. Ops that arrive meanwhile wait here and go
/// in the next groups, so a group grows with the load (up to max_group)
/// instead of the writer's queue growing with small ones.
constexpr std::size_t max_groups_in_flight = 4;

/// The token of the actor's own flush message (op tokens start at 1).
constexpr std::uint64_t flush_token = 0;

/// Wraps the group-commit writer thread `w`, which must outlive the actor.
/// Ops run on the writer thread; their completion comes back to this actor
/// as a message, so no scheduler thread waits for LMDB. With `blocking`
/// set (deterministic tests on the test coordinator) the actor waits for
/// each commit instead, so that every answer is sent within the handler.
///
/// Background ops (the queued listeners' effects, most of all) are
/// grouped: the ops that arrive together (those in the mailbox when the
/// first of them is handled: a flush message sent to itself comes after
/// them) go to the writer as groups of up to `max_group` ops, one writer
/// op each, every op in a nested transaction of its own with its own
/// answer. The writer takes only a few background ops besides the
/// requests' writes per commit (store.background_ops_per_commit), so a
/// group carries many jobs' effects in one of those places. A group that fails
/// as a whole (an error that loses the transaction) is split: each op is
/// submitted alone, so that only the culprit fails.
store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self,
             store::writer* w, bool blocking = false,
             std::size_t max_group = 0);

} // namespace switchboard
