#pragma once

// The request/response anchors' client loop: an actor keeps a number of
// requests in flight until told to stop, and the last one to come back
// after that says so and quits.

#include <atomic>

namespace switchboard::bench {

/// What a client actor of a request loop keeps besides its own state.
struct rr_loop {
  std::atomic<bool>* stop = nullptr;
  std::atomic<int>* finished = nullptr;
  int in_flight = 0;
};

/// True when the loop is to stop: `self` sends no further request, and
/// the last request in flight counts the client in `finished` and quits.
template <class Self>
bool rr_stopping(Self* self, rr_loop& loop) {
  if (!loop.stop->load(std::memory_order_relaxed))
    return false;
  if (--loop.in_flight == 0) {
    ++*loop.finished;
    self->quit();
  }
  return true;
}

} // namespace switchboard::bench
