#pragma once

#include <string>
#include <vector>

namespace switchboard::app {

/// `switchboard tenant add|list|token`: companies and API tokens. Opens the
/// store of [store] directly (LMDB allows several processes on one
/// environment), so it works while the daemon runs; each change is one
/// short write transaction of its own, synced before the command returns.
/// A missing store is an error unless `tenant add --create`.
/// Returns the process exit code.
int run_tenant(const std::vector<std::string>& args);

} // namespace switchboard::app
