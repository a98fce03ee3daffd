#pragma once

#include <app/config.hpp>
#include <store/environment.hpp>

namespace switchboard::app {

/// The LMDB options of [store] in `cfg` (the daemon and every CLI command
/// that opens the store use the same).
store::options store_options(const config& cfg);

} // namespace switchboard::app
