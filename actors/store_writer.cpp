#include "actors/store_writer.hpp"

#include <caf/send.hpp>

#include <actors/errors.hpp>

namespace switchboard {

store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self,
             store::writer* w, bool blocking) {
  self->state.writer = w;
  return {
      [=](write_atom, write_op& op) -> caf::result<ok_atom> {
        if (!op.fn)
          return make_runtime_error(runtime_errc::invalid_argument,
                                    "write_op without a function");
        if (blocking) {
          auto res = self->state.writer->execute(*op.fn, op.iso, op.lane);
          if (!res)
            return to_caf_error(res.error());
          return ok_atom::value;
        }
        auto token = self->state.next_token++;
        auto rp = self->make_response_promise<ok_atom>();
        self->state.pending.emplace(token, rp);
        store_writer_actor me = self;
        self->state.writer->submit(
            *op.fn,
            [me, token](const store::result<void>& res) {
              caf::anon_send(me, done_atom::value, token,
                             res ? caf::error{} : to_caf_error(res.error()));
            },
            op.iso, op.lane);
        return rp;
      },
      [=](done_atom, std::uint64_t token, caf::error& err) {
        auto i = self->state.pending.find(token);
        if (i == self->state.pending.end())
          return;
        if (err)
          i->second.deliver(std::move(err));
        else
          i->second.deliver(ok_atom::value);
        self->state.pending.erase(i);
      },
  };
}

} // namespace switchboard
