#include "actors/listeners/pause.hpp"

#include <store/projections.hpp>

namespace switchboard {

namespace {

/// The value of every queue's switch, and the prefix of those by name.
constexpr std::string_view all_key = "#listeners/paused";
constexpr std::string_view queue_prefix = "#listeners/paused/";

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

store::result<pause_state> read_pause(const store::projections& proj) {
  pause_state out;
  auto all = proj.get(all_key);
  if (all)
    out.all = *all == "1";
  else if (all.error().code != store::errc::not_found)
    return make_unexpected(all.error());
  auto named = proj.values(queue_prefix);
  if (!named)
    return make_unexpected(named.error());
  for (const auto& [key, value] : *named)
    if (value == "1")
      out.queues.emplace(key.substr(queue_prefix.size()));
  return out;
}

store::result<void> write_pause_in(store::write_txn& txn,
                                   store::projections& proj,
                                   std::string_view queue, bool paused) {
  std::string key{queue.empty() ? all_key : queue_prefix};
  key.append(queue);
  if (paused)
    return proj.put_in(txn, key, "1");
  if (auto gone = proj.erase_in(txn, key); !gone)
    return make_unexpected(gone.error());
  if (queue.empty())
    if (auto n = proj.clear_in(txn, queue_prefix); !n)
      return make_unexpected(n.error());
  return {};
}

listener_pause::listener_pause(const store::projections* proj,
                               std::chrono::milliseconds refresh)
    : proj_(proj),
      refresh_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(refresh)
                      .count()) {}

void listener_pause::refresh_if_due() const {
  auto now = steady_ns();
  auto next = next_read_.load(std::memory_order_relaxed);
  if (proj_ == nullptr || now < next
      || !next_read_.compare_exchange_strong(next, now + refresh_ns_,
                                             std::memory_order_relaxed))
    return;
  reload();
}

void listener_pause::reload() const {
  if (proj_ == nullptr)
    return;
  std::lock_guard<std::mutex> lock{mtx_};
  if (auto s = read_pause(*proj_)) {
    state_ = std::move(*s);
    any_.store(state_.all || !state_.queues.empty(), std::memory_order_relaxed);
  }
}

bool listener_pause::paused(std::string_view queue) const {
  refresh_if_due();
  if (!any_.load(std::memory_order_relaxed))
    return false;
  std::lock_guard<std::mutex> lock{mtx_};
  return state_.covers(queue);
}

pause_state listener_pause::state() const {
  refresh_if_due();
  std::lock_guard<std::mutex> lock{mtx_};
  return state_;
}

} // namespace switchboard
