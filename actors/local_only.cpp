#include <actors/local_only.hpp>

#include <atomic>

#include <caf/node_id.hpp>

#include <actors/log.hpp>

namespace switchboard {

namespace {

std::atomic<std::uint64_t> dropped{0};

} // namespace

std::uint64_t foreign_messages_dropped() noexcept {
  return dropped.load(std::memory_order_relaxed);
}

void detail::drop_foreign(const caf::node_id& node) noexcept {
  auto n = dropped.fetch_add(1, std::memory_order_relaxed) + 1;
  // The first one, then one line per 1,000: a flood must not flood the log.
  if (n == 1 || n % 1000 == 0) {
    try {
      log::get(log::subsystem::cluster)
          ->warn("dropped a message from node {} to an internal actor "
                 "({} so far)",
                 to_string(node), n);
    } catch (...) {
      // Logging is best effort here.
    }
  }
}

} // namespace switchboard
