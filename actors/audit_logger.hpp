#pragma once

#include <actors/interfaces.hpp>

namespace switchboard::store {
class audit_log;
} // namespace switchboard::store

namespace switchboard {

/// The AuditLogger sync listener: makes sure each event has its audit
/// record (audited types) and the audit checkpoint has passed it, and
/// answers once that is committed. The dispatcher writes the record in the
/// event's own transaction, so the logger usually only confirms it with
/// one read; a record that is missing (an event stored by another path) is
/// written through the store writer, its checkpoint in the same
/// transaction.
sync_listener_actor::behavior_type
audit_logger(sync_listener_actor::pointer self, store::audit_log* log,
             store_writer_actor writer);

} // namespace switchboard
