#pragma once

#include <actors/interfaces.hpp>

namespace switchboard::store {
class audit_log;
} // namespace switchboard::store

namespace switchboard {

/// The AuditLogger sync listener: writes an audit record for each audited
/// event through the store writer (its checkpoint in the same
/// transaction) and answers once it is committed. Events of types that are
/// not audited only advance the checkpoint.
sync_listener_actor::behavior_type
audit_logger(sync_listener_actor::pointer self, store::audit_log* log,
             store_writer_actor writer);

} // namespace switchboard
