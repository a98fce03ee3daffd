#include "app/notify.hpp"

#include <cstdlib>
#include <cstring>

#ifdef SWITCHBOARD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace switchboard::app {

bool can_notify_service_manager() noexcept {
#ifdef SWITCHBOARD_HAVE_SYSTEMD
  return true;
#else
  return false;
#endif
}

expected<bool, std::string> notify_service_manager(const std::string& state) {
#ifdef SWITCHBOARD_HAVE_SYSTEMD
  // The environment stays set: the stop is notified too.
  auto rc = sd_notify(0, state.c_str());
  if (rc < 0) {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    return make_unexpected(std::string{"cannot send to "}
                           + (socket != nullptr ? socket : "$NOTIFY_SOCKET")
                           + ": " + std::strerror(-rc));
  }
  return rc > 0;
#else
  if (std::getenv("NOTIFY_SOCKET") == nullptr)
    return false;
  return make_unexpected(
      std::string{"$NOTIFY_SOCKET is set but this build has no systemd support "
                  "(libsystemd-dev was missing when it was built): a unit of "
                  "Type=notify waits in vain"});
#endif
}

} // namespace switchboard::app
