#pragma once

#include "store/writer.hpp"

namespace switchboard::store {

/// Runs one writer operation inside `txn` as the writer does: directly
/// when `iso` is `validated`, else in a nested transaction aborted when it
/// fails; an exception it throws becomes an error (`out_of_memory` or
/// `internal`, both `poisons_txn`). For code that runs several operations
/// inside one writer operation, each with its own outcome.
result<void> run_isolated(write_txn& txn, const writer::op_fn& op,
                          isolation iso);

} // namespace switchboard::store
