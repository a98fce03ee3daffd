#pragma once

// Reads that may touch many records (listings), run off the gateway's
// Asio threads on a few threads of their own, fairly between companies
// and each with a deadline.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <app/http/context.hpp>

namespace switchboard::app::http {

/// When a read must have answered; a read checks it between batches.
class read_deadline {
public:
  explicit read_deadline(std::chrono::steady_clock::time_point at) : at_(at) {}

  /// True once the deadline has passed.
  bool passed() const noexcept {
    return std::chrono::steady_clock::now() >= at_;
  }

private:
  std::chrono::steady_clock::time_point at_;
};

/// Threads that run reads. Reads wait in one queue per company and the
/// threads take the companies in turn, so that one company's listings
/// wait behind each other, never in front of another company's; a
/// company runs reads on at most half the threads (at least one), so that
/// the others stay free for other companies. A read still waiting at its
/// deadline answers 504 without running.
class read_pool {
public:
  /// A read: answers its request through the context it captured.
  using task = std::function<void(const read_deadline&)>;

  /// Starts `threads` threads (at least 1); a company may have
  /// `max_queued` reads waiting.
  read_pool(std::size_t threads, std::size_t max_queued);

  /// Stops (see `stop`).
  ~read_pool();

  read_pool(const read_pool&) = delete;
  read_pool& operator=(const read_pool&) = delete;

  /// What `post` did.
  enum class posted { queued, company_full, stopped };

  /// Queues `t` for `company`; it must answer `ctx`. Past `timeout`
  /// from now a read not yet started answers 504. Runs nothing when the
  /// company has `max_queued` reads waiting or the pool has stopped.
  /// Thread-safe, never blocks.
  posted post(const std::string& company, context_ptr ctx,
              std::chrono::milliseconds timeout, task t);

  /// Reads waiting now (all companies).
  std::size_t queued() const;

  /// Stops the threads after the reads running now; those waiting answer
  /// 503. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Runs `t` on the gateway's read pool as a read of `company`, with the
/// configured deadline: 504 when it passes, 429 with Retry-After when the
/// company has too many reads waiting. A listing passes its page size as
/// `rows`: it is charged to the company's `limits.rows_per_second` first
/// (429 "rows_rate_limited" with Retry-After when over; admins and reads
/// of no company are not charged). Without a pool (a table driven without
/// the gateway) runs it at once.
void run_read(const context_ptr& ctx, const std::string& company,
              read_pool::task t, std::uint64_t rows = 0);

} // namespace switchboard::app::http
