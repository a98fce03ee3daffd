// The process's open-file limit: raising the soft limit to the hard one
// at start, and the budget of connections the limit leaves the server
// (declared in app/http/server.hpp).
#include "app/http/server.hpp"

#include <algorithm>

#include <sys/resource.h>

#include <actors/log.hpp>

namespace switchboard::app::http {

void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
    return;
  auto before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (rl.rlim_max == RLIM_INFINITY)
    rl.rlim_cur = 1 << 20; // the kernel's usual nr_open
  if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
    log::get(log::subsystem::http)
        ->info("open-file limit raised from {} to {}",
               static_cast<std::uint64_t>(before),
               static_cast<std::uint64_t>(rl.rlim_cur));
}

std::optional<fd_budget> connection_fd_budget() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return std::nullopt;
  fd_budget b;
  b.limit = static_cast<std::size_t>(rl.rlim_cur);
  b.kept = std::max<std::size_t>(64, b.limit / 8);
  b.connections = b.limit > b.kept ? b.limit - b.kept : 1;
  return b;
}

} // namespace switchboard::app::http
