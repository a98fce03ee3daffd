#pragma once

// Declarations for the headers that take the daemon's settings or an
// upgraded connection by reference and need neither definition.

namespace switchboard::app {
class config;
} // namespace switchboard::app

namespace switchboard::app::http {
struct upgrade;
} // namespace switchboard::app::http
