#pragma once

#include <chrono>
#include <cstdint>

namespace switchboard {

/// Stops an actor after a quiet period with one self-message per period,
/// instead of CAF's receive timeout, which re-arms a timer through the
/// clock thread after every message the actor handles. The actor calls
/// `touch` when it is used, counts the replies it awaits in `in_flight`,
/// and on `idle_atom` asks `check`: zero means stop now, otherwise it is
/// the wait before the next check.
struct idle_watch {
  using clock = std::chrono::steady_clock;

  clock::duration timeout{};
  clock::time_point last_used{};
  std::uint32_t in_flight = 0;

  void touch(clock::time_point now) noexcept {
    last_used = now;
  }

  /// Zero: idle for `timeout` with nothing in flight; stop. Otherwise the
  /// time until it could be.
  clock::duration check(clock::time_point now) const noexcept {
    auto quiet = now - last_used;
    if (quiet >= timeout)
      return in_flight == 0 ? clock::duration::zero() : timeout;
    return timeout - quiet;
  }
};

/// Starts watching: the timeout, used now, the first check after it.
template <class Self, class Atom, class Duration>
void start_idle_watch(Self* self, idle_watch& w, Atom atom, Duration timeout) {
  w.timeout = timeout;
  w.touch(self->clock().now());
  self->delayed_send(self, w.timeout, atom);
}

/// Handles an `idle_atom`: stops `self` when `w` says so and `may_stop`
/// agrees, or schedules the next check.
template <class Self, class Atom, class MayStop>
void on_idle_check(Self* self, idle_watch& w, Atom atom, MayStop may_stop) {
  auto wait = w.check(self->clock().now());
  if (wait == idle_watch::clock::duration::zero()) {
    if (may_stop()) {
      self->quit();
      return;
    }
    wait = w.timeout;
  }
  self->delayed_send(self, wait, atom);
}

} // namespace switchboard
