#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace switchboard {

/// The deadlines of the requests an actor has in flight. The actor sends
/// its requests without a CAF request timeout (each of which costs two
/// trips through CAF's clock thread) and keeps one tick message in flight
/// for the earliest deadline instead:
///
///     auto h = d.add(now + timeout, [=] { on_error(timeout_error); });
///     self->request(dest, caf::infinite, ...).then(
///         [=](reply r) { if (d.settle(h)) on_reply(r); },
///         [=](caf::error e) { if (d.settle(h)) on_error(e); });
///     if (auto at = d.tick_needed()) self->delayed_send(self, *at - now,
///     tick);
///
/// and on the tick: `d.tick_fired(); d.expire(now);` and the same
/// `tick_needed` check. Not thread-safe: it lives in one actor's state.
///
/// Deadlines are kept where code the runtime does not control runs (sync
/// and queued listeners) and at the HTTP edge. Requests between the
/// runtime's own actors carry none: each of them answers every request,
/// and CAF answers with an error for one that has died.
class deadlines {
public:
  using time_point = std::chrono::steady_clock::time_point;
  struct entry;
  using handle = std::shared_ptr<entry>;

  /// Adds a deadline; `on_timeout` runs from `expire` unless `settle`
  /// comes first.
  handle add(time_point at, std::function<void()> on_timeout);

  /// Settles a call that answered. Returns false when it has timed out
  /// already: drop the answer.
  bool settle(const handle& h);

  /// Times out every call with a deadline at or before `now`.
  void expire(time_point now);

  /// When a tick must be scheduled (after `add` or `expire`): the earliest
  /// deadline, unless a tick in flight fires at or before it.
  std::optional<time_point> tick_needed();

  /// Call when the tick arrives, before `expire`.
  void tick_fired() noexcept {
    tick_pending_ = false;
  }

  /// Calls in flight.
  std::size_t size() const noexcept {
    return calls_.size();
  }

private:
  std::multimap<time_point, handle> calls_;
  time_point tick_at_{};
  bool tick_pending_ = false;
};

struct deadlines::entry {
  bool done = false;
  std::function<void()> on_timeout;
  std::multimap<time_point, handle>::iterator at;
};

inline deadlines::handle deadlines::add(time_point at,
                                        std::function<void()> on_timeout) {
  auto h = std::make_shared<entry>();
  h->on_timeout = std::move(on_timeout);
  h->at = calls_.emplace(at, h);
  return h;
}

inline bool deadlines::settle(const handle& h) {
  if (h->done)
    return false;
  h->done = true;
  calls_.erase(h->at);
  h->on_timeout = nullptr;
  return true;
}

inline void deadlines::expire(time_point now) {
  while (!calls_.empty() && calls_.begin()->first <= now) {
    auto h = calls_.begin()->second;
    calls_.erase(calls_.begin());
    h->done = true;
    auto fn = std::move(h->on_timeout);
    h->on_timeout = nullptr;
    if (fn)
      fn();
  }
}

inline std::optional<deadlines::time_point> deadlines::tick_needed() {
  if (calls_.empty())
    return std::nullopt;
  auto first = calls_.begin()->first;
  if (tick_pending_ && tick_at_ <= first)
    return std::nullopt;
  tick_pending_ = true;
  tick_at_ = first;
  return first;
}

/// Sends `self` the tick `atom` for the earliest deadline of `d`, unless a
/// tick in flight fires before it.
template <class Self, class Atom>
void arm_expiry(Self* self, deadlines& d, Atom atom) {
  if (auto at = d.tick_needed()) {
    auto now = self->clock().now();
    auto wait = *at > now ? *at - now : decltype(*at - now){0};
    self->delayed_send(self, wait, atom);
  }
}

/// Handles the tick: times out what is due and sets the next tick.
template <class Self, class Atom>
void on_expiry_tick(Self* self, deadlines& d, Atom atom) {
  d.tick_fired();
  d.expire(self->clock().now());
  arm_expiry(self, d, atom);
}

} // namespace switchboard
