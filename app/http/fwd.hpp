#pragma once

// Declarations for the headers that take the daemon's settings or an
// upgraded connection by reference and need neither definition.

namespace switchboard::app {
class config;
} // namespace switchboard::app

namespace switchboard::app::http {
/// A request to upgrade a connection to a WebSocket (app/http/upgrade.hpp
/// defines it; it carries the socket, so the server lets go of it).
struct upgrade;
} // namespace switchboard::app::http
