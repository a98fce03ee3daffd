#pragma once

// A store fixture with a job queue, for the job queue's tests.

#include "store/job_queue.hpp"

#include "fixture.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

namespace switchboard::store::test {

/// A store fixture with a job queue, opened with `lookup` (which answers
/// the migration of records of format v1; unset here).
struct job_queue_fixture : store_fixture {
  std::unique_ptr<job_queue> jobs;
  job_event_lookup lookup;

  job_queue_fixture() {
    open_jobs();
  }

  void open_jobs() {
    jobs = opened(job_queue::open(*env, *w, lookup));
  }

  /// Closes everything (as a process exit would) and opens it again.
  void reopen_all() {
    jobs.reset();
    reopen();
    open_jobs();
  }
};

} // namespace switchboard::store::test
