#pragma once

#include <cstdint>
#include <unordered_map>

#include <caf/typed_response_promise.hpp>

#include <actors/interfaces.hpp>
#include <store/writer.hpp>

namespace switchboard {

/// State of the store writer actor: the promises of ops in flight.
struct store_writer_state {
  store::writer* writer = nullptr;
  std::uint64_t next_token = 1;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<ok_atom>>
      pending;
  static inline const char* name = "store_writer";
};

/// Wraps the group-commit writer thread `w`, which must outlive the actor.
/// Ops run on the writer thread; their completion comes back to this actor
/// as a message, so no scheduler thread waits for LMDB. With `blocking`
/// set (deterministic tests on the test coordinator) the actor waits for
/// each commit instead, so that every answer is sent within the handler.
store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self,
             store::writer* w, bool blocking = false);

} // namespace switchboard
