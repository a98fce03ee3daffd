#pragma once

// The events of each commit, handed to whoever listens once they are
// durable (the gateway's broadcaster). Plain C++, no CAF.

#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <messages/envelope.hpp>

namespace switchboard {

/// One listener at most, set and cleared from any thread. The dispatcher
/// calls `publish` on its own thread after each commit (never before, and
/// not for an idempotent retry that stored nothing); the listener must not
/// block.
class commit_feed {
public:
  using listener_fn = std::function<void(const std::vector<envelope>&)>;

  /// Sets (or, with an empty function, clears) the listener. A publish
  /// under way may still call the previous one.
  void set(listener_fn fn) {
    auto p = fn ? std::make_shared<const listener_fn>(std::move(fn)) : nullptr;
    std::lock_guard<std::mutex> g{mtx_};
    fn_ = std::move(p);
  }

  /// Hands `events` (as committed) to the listener, if any.
  void publish(const std::vector<envelope>& events) const {
    std::shared_ptr<const listener_fn> fn;
    {
      std::lock_guard<std::mutex> g{mtx_};
      fn = fn_;
    }
    if (fn)
      (*fn)(events);
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const listener_fn> fn_;
};

} // namespace switchboard
