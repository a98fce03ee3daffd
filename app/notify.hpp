#pragma once

// Readiness notification to the service manager: `switchboard serve` tells
// systemd (a unit of Type=notify) when it is ready and when it stops.

#include <string>

#include <messages/expected.hpp>

namespace switchboard::app {

/// Whether this build can notify a service manager (it was built with
/// libsystemd).
bool can_notify_service_manager() noexcept;

/// Sends `state` to the service manager that started the process, as
/// sd_notify(3) does: newline-separated assignments such as `READY=1`,
/// `STOPPING=1` and `STATUS=text`, in one datagram to the socket named by
/// $NOTIFY_SOCKET. Returns true when it was sent, false when no manager
/// waits for it ($NOTIFY_SOCKET unset); the error says why it could not be
/// sent (a build without libsystemd, a socket that refused it).
expected<bool, std::string> notify_service_manager(const std::string& state);

} // namespace switchboard::app
