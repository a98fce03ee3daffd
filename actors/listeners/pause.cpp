#include "actors/listeners/pause.hpp"

#include <store/projections.hpp>

namespace switchboard {

namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

store::result<bool> read_paused(const store::projections& proj) {
  auto v = proj.get(paused_key);
  if (!v) {
    if (v.error().code == store::errc::not_found)
      return false;
    return make_unexpected(v.error());
  }
  return *v == "1";
}

store::result<void> write_paused_in(store::write_txn& txn,
                                    store::projections& proj, bool paused) {
  if (paused)
    return proj.put_in(txn, paused_key, "1");
  if (auto gone = proj.erase_in(txn, paused_key); !gone)
    return make_unexpected(gone.error());
  return {};
}

listener_pause::listener_pause(const store::projections* proj,
                               std::chrono::milliseconds refresh)
    : proj_(proj),
      refresh_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(refresh)
                      .count()) {}

bool listener_pause::paused() const {
  auto now = steady_ns();
  auto next = next_read_.load(std::memory_order_relaxed);
  if (proj_ != nullptr && now >= next
      && next_read_.compare_exchange_strong(next, now + refresh_ns_,
                                            std::memory_order_relaxed)) {
    auto before = state_.load(std::memory_order_acquire);
    if (auto p = read_paused(*proj_)) {
      auto read = (before & ~std::uint64_t{1}) | (*p ? 1u : 0u);
      state_.compare_exchange_strong(before, read, std::memory_order_acq_rel);
    }
  }
  return (state_.load(std::memory_order_acquire) & 1u) != 0;
}

void listener_pause::set(bool paused) {
  auto cur = state_.load(std::memory_order_acquire);
  std::uint64_t next;
  do {
    next = (((cur >> 1) + 1) << 1) | (paused ? 1u : 0u);
  } while (!state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel));
  next_read_.store(steady_ns() + refresh_ns_, std::memory_order_relaxed);
}

} // namespace switchboard
