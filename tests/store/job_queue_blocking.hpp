#pragma once

// The job queue's changes in blocking form, for tests: each runs the
// `*_in` form as one writer operation and waits for its commit. The daemon
// composes the `*_in` forms into its own commits (leases, acks and effects
// of many jobs in one) and never waits like this.

#include "store/job_queue.hpp"
#include "store/job_queue_detail.hpp"
#include "store/traces.hpp"

#include "tests/store/fixture.hpp"

#include <boost/test/unit_test.hpp>

namespace switchboard::store {

/// Let Boost.Test print a job's state and a run's outcome.
inline std::ostream& operator<<(std::ostream& os, job_state s) {
  return os << to_string(s);
}

inline std::ostream& operator<<(std::ostream& os, job_outcome o) {
  return os << to_string(o);
}

} // namespace switchboard::store

namespace switchboard::store::test {

inline result<enqueue_outcome> enqueue(job_queue& q, const job& j) {
  return job_detail::run_blocking<enqueue_outcome>(
      q.get_writer(), "enqueue", [&](write_txn& txn) {
        return q.enqueue_in(txn, j);
      });
}

/// Enqueues `j`, which must make a new job; returns its id.
inline std::uint64_t enqueue_new(job_queue& q, const job& j) {
  auto res = enqueue(q, j);
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_REQUIRE(res->created);
  return res->id;
}

inline result<std::vector<job>> lease(job_queue& q, std::string_view queue,
                                      timestamp_ms now, std::size_t max,
                                      timestamp_ms lease_until) {
  return job_detail::run_blocking<std::vector<job>>(
      q.get_writer(), "lease", [&](write_txn& txn) {
        return q.lease_in(txn, queue, now, max, lease_until);
      });
}

inline result<void> ack(job_queue& q, std::uint64_t id) {
  return job_detail::run_blocking<void>(q.get_writer(), "ack",
                                        [&](write_txn& txn) {
                                          return q.ack_in(txn, id);
                                        });
}

inline result<void> retry(job_queue& q, std::uint64_t id, timestamp_ms due_at,
                          std::string_view error, bool counts_as_exception,
                          timestamp_ms now = 0) {
  return job_detail::run_blocking<void>(
      q.get_writer(), "retry", [&](write_txn& txn) {
        return q.retry_in(txn, id, due_at, error, counts_as_exception, now);
      });
}

inline result<void> fail(job_queue& q, std::uint64_t id, std::string_view error,
                         timestamp_ms now) {
  return job_detail::run_blocking<void>(q.get_writer(), "fail",
                                        [&](write_txn& txn) {
                                          return q.fail_in(txn, id, error, now);
                                        });
}

inline result<bool> cancel_by_key(job_queue& q, std::string_view key) {
  return job_detail::run_blocking<bool>(q.get_writer(), "cancel_by_key",
                                        [&](write_txn& txn) {
                                          return q.cancel_by_key_in(txn, key);
                                        });
}

inline result<std::size_t> release_expired(job_queue& q, timestamp_ms now) {
  return job_detail::run_blocking<std::size_t>(
      q.get_writer(), "release_expired", [&](write_txn& txn) {
        return q.release_expired_in(txn, now);
      });
}

} // namespace switchboard::store::test
