#include "actors/audit_logger.hpp"

#include <store/audit_log.hpp>

namespace switchboard {

sync_listener_actor::behavior_type
audit_logger(sync_listener_actor::pointer self, store::audit_log* log,
             store_writer_actor writer) {
  return {
      [self, log, writer](handle_atom,
                          const envelope& ev) -> caf::result<ok_atom> {
        // Written with the event (the dispatcher's transaction)?
        if (auto done = log->recorded(ev); done && *done)
          return ok_atom::value;
        auto rp = self->make_response_promise<ok_atom>();
        auto op = [log, ev](store::write_txn& txn) {
          return log->record_in(txn, ev);
        };
        self->request(writer, caf::infinite, write_atom::value,
                      make_write_op(op))
            .then(
                [rp](ok_atom) mutable {
                  rp.deliver(ok_atom::value);
                },
                [rp](caf::error& err) mutable {
                  rp.deliver(std::move(err));
                });
        return rp;
      },
  };
}

} // namespace switchboard
