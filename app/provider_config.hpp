#pragma once

// The `[providers]` options of the configuration, as the node takes them:
// read by `switchboard serve` and by the Twilio status webhook's signature
// check (its auth token).

#include <actors/providers.hpp>
#include <app/config.hpp>

namespace switchboard::app {

/// The `[providers]` options as the node takes them.
provider_options provider_options_from(const config& cfg);

} // namespace switchboard::app
