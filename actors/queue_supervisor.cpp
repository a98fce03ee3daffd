#include "actors/queue_supervisor.hpp"

#include <algorithm>

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <actors/errors.hpp>
#include <actors/listeners/pause.hpp>
#include <actors/log.hpp>
#include <actors/metrics.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>

namespace switchboard {

namespace {

using self_ptr
    = queue_supervisor_actor::stateful_pointer<queue_supervisor_state>;

/// Extra time a lease outlives the attempt's timeout, so that a slow
/// answer is still acked by this process before another takes the job.
constexpr timestamp_ms lease_margin_ms = 30000;

/// Ack commits one supervisor keeps in flight: one fills the writer's next
/// transaction while the other is being synced; acks arriving meanwhile
/// wait and go together into the next.
constexpr std::uint32_t max_ack_commits = 2;

void spawn_binding(self_ptr self, std::size_t index) {
  auto& st = self->state;
  auto handle = st.deps.listeners[index].spawn(self->system(), st.deps.context);
  self->monitor(handle);
  (*st.actors)[index] = handle;
}

timestamp_ms lease_span_ms(const queue_supervisor_state& st) {
  timestamp_ms longest = 0;
  for (const auto& name : st.deps.registry->queued_listener_names())
    if (const auto* spec = st.deps.registry->find_queued(name);
        spec != nullptr && spec->queue == st.deps.queue)
      longest = std::max<timestamp_ms>(longest, spec->retry.timeout.count());
  return std::max<timestamp_ms>(longest, 60000) + lease_margin_ms;
}

/// Answers the drain requests once nothing runs any more.
void check_drained(self_ptr self) {
  auto& st = self->state;
  if (!st.draining || st.in_flight != 0 || st.leasing)
    return;
  for (auto& rp : st.drain_promises)
    rp.deliver(ok_atom::value);
  st.drain_promises.clear();
}

void job_ended(self_ptr self) {
  auto& st = self->state;
  --st.in_flight;
  if (st.draining) {
    check_drained(self);
    return;
  }
  self->send(self, wake_atom::value);
}

/// Commits `op` (direct_commit.hpp); then runs `ended(error or none)`.
void submit(self_ptr self, store::writer::op_fn op, store::isolation iso,
            commit_table::then_fn ended) {
  auto& st = self->state;
  // The queue's own writes yield to requests (store::lane).
  st.commits.commit(self, *st.deps.writer, st.deps.inline_commits,
                    std::move(op), iso, store::lane::background,
                    std::move(ended));
}

/// Commits `op`; then runs `then(committed)` (after logging a failure).
template <class Then>
void commit(self_ptr self, store::writer::op_fn op, std::string what,
            Then then) {
  submit(self, std::move(op), store::isolation::validated,
         [self, what, then](caf::error err) mutable {
           if (err)
             self->state.log->error("{} on queue {}: {}", what,
                                    self->state.deps.queue, describe(err));
           then(!err);
         });
}

job_request to_request(const store::job& j, envelope ev) {
  job_request req;
  req.job_id = j.id;
  req.queue = j.queue;
  req.listener = j.listener;
  req.attempt = j.attempts;
  req.max_tries = j.max_tries;
  req.event = std::move(ev);
  req.payload = j.payload;
  return req;
}

/// Moves the job to failed jobs, then runs the failed() hook once.
void fail_job(self_ptr self, const store::job& j, job_request req,
              std::string reason) {
  auto* jobs = self->state.deps.jobs;
  auto now = self->state.deps.clock();
  auto id = j.id;
  commit(
      self,
      [jobs, id, reason, now](store::write_txn& txn) {
        return jobs->fail_in(txn, id, reason, now);
      },
      "failing job " + std::to_string(id),
      [self, req = std::move(req), reason](bool committed) mutable {
        auto& st = self->state;
        if (!committed) {
          // Still leased: it comes back when its lease expires, and the
          // failed() hook runs when the move to failed jobs commits.
          job_ended(self);
          return;
        }
        ++st.failed;
        st.log->warn("job {} ({}) failed for good after {} attempt(s): {}",
                     req.job_id, req.listener, req.attempt, reason);
        if (auto b = st.binding_of.find(req.listener); b != st.binding_of.end())
          self->send((*st.actors)[b->second], failed_atom::value,
                     std::move(req), reason);
        job_ended(self);
      });
}

void on_attempt_failed(self_ptr self, const store::job& j, job_request req,
                       const caf::error& err) {
  auto& st = self->state;
  auto reason = describe(err);
  // An error answer or a crash counts towards max_exceptions; a timeout
  // does not (Laravel counts only thrown exceptions).
  bool is_exception = err != caf::sec::request_timeout;
  auto now = st.deps.clock();
  retry_policy policy;
  if (const auto* spec = st.deps.registry->find_queued(j.listener))
    policy = spec->retry;
  policy.tries = j.max_tries;
  policy.backoff_s = j.backoff_s;
  policy.backoff_ms = j.backoff_ms;
  // A refusal (a provider's 4xx) does not get better by retrying.
  if (runtime_code(err) == runtime_errc::rejected
      || store::will_exceed_max_attempts(j, now, is_exception)) {
    fail_job(self, j, std::move(req), reason);
    return;
  }
  double unit = st.deps.random ? st.deps.random() : 1.0;
  auto due = now + retry_delay_ms(policy, j.attempts, unit);
  // A provider's Retry-After: not before it asks, whatever the backoff.
  if (auto wait = retry_after_ms(err); wait > 0)
    due = std::max<timestamp_ms>(due, now + wait);
  auto* jobs = st.deps.jobs;
  auto id = j.id;
  st.log->info("job {} ({}) attempt {}/{} failed: {}; next try in {} ms", id,
               j.listener, j.attempts, j.max_tries, reason, due - now);
  commit(
      self,
      [jobs, id, due, reason, is_exception, now](store::write_txn& txn) {
        return jobs->retry_in(txn, id, due, reason, is_exception, now);
      },
      "retrying job " + std::to_string(id),
      [self, due, company = j.company_id](bool) {
        auto& st = self->state;
        ++st.retried;
        metrics().queue_retries.with({st.deps.queue}).inc();
        per_company_metrics()
            .queue_retries.with({company, st.deps.queue})
            .inc();
        auto wait = std::max<timestamp_ms>(0, due - st.deps.clock());
        self->delayed_send(self, std::chrono::milliseconds(wait),
                           wake_atom::value);
        job_ended(self);
      });
}

void flush_acks(self_ptr self);

void run_job(self_ptr self, store::job j) {
  auto& st = self->state;
  auto& m = metrics();
  auto waited = static_cast<double>(
                    std::max<timestamp_ms>(0, st.deps.clock() - j.due_at))
                / 1000.0;
  m.queue_wait.with({st.deps.queue}).observe(waited);
  per_company_metrics()
      .queue_wait.with({j.company_id, st.deps.queue})
      .observe(waited);
  if (store::exceeds_max_attempts(j, st.deps.clock())) {
    // Its lease expired on the last try (the process died or hung): it
    // has had every attempt it may have.
    fail_job(self, j, to_request(j, envelope{}),
             "max attempts exceeded (lease expired on the last try)");
    return;
  }
  auto ev = st.deps.events->read_event(j.event_seq);
  job_request req = to_request(j, ev ? std::move(*ev) : envelope{});
  if (!ev) {
    fail_job(self, j, std::move(req),
             "event " + std::to_string(j.event_seq)
                 + " cannot be read: " + ev.error().message);
    return;
  }
  auto b = st.binding_of.find(j.listener);
  if (b == st.binding_of.end()) {
    fail_job(self, j, std::move(req),
             "no listener named " + j.listener + " runs on queue "
                 + st.deps.queue);
    return;
  }
  auto timeout
      = std::chrono::milliseconds(std::max<std::uint32_t>(j.timeout_ms, 1));
  // The job's timeout: a deadline (one tick for the earliest), not a CAF
  // request timeout per job.
  auto attempt = st.attempts.add(self->clock().now() + timeout, [=]() mutable {
    on_attempt_failed(self, j, std::move(req),
                      caf::make_error(caf::sec::request_timeout));
  });
  arm_expiry(self, st.attempts, expire_atom::value);
  auto started = std::chrono::steady_clock::now();
  auto ran = [self, started, listener = j.listener,
              company = j.company_id](bool ok) {
    auto& m = metrics();
    const auto& queue = self->state.deps.queue;
    m.queue_runtime.with({queue}).observe_since(started);
    m.listener_runs.with({listener, "queued"}).inc();
    m.listener_duration.with({listener, "queued"}).observe_since(started);
    if (!ok)
      m.listener_failures.with({listener, "queued"}).inc();
    auto& c = per_company_metrics();
    c.queue_runtime.with({company, queue}).observe_since(started);
    c.listener_runs.with({company, listener}).inc();
    c.listener_duration.with({company, listener}).observe_since(started);
    if (!ok)
      c.listener_failures.with({company, listener}).inc();
  };
  self->request((*st.actors)[b->second], caf::infinite, handle_atom::value, req)
      .then(
          [self, attempt, ran, id = j.id](ok_atom) {
            auto& st = self->state;
            ran(true);
            if (!st.attempts.settle(attempt))
              return; // timed out already
            st.pending_acks.push_back(id);
            if (st.acks_in_flight < max_ack_commits)
              flush_acks(self);
          },
          [self, attempt, ran, j, req](caf::error& err) mutable {
            ran(false);
            if (self->state.attempts.settle(attempt))
              on_attempt_failed(self, j, std::move(req), err);
          });
}

void arm_timer(self_ptr self) {
  auto& st = self->state;
  auto due = st.deps.jobs->next_due(st.deps.queue);
  if (!due)
    return;
  // One timer at a time: a wake already set for this due time or earlier
  // (and not yet past) will lease the job.
  auto now = st.deps.clock();
  if (st.timer_due > now && st.timer_due <= *due)
    return;
  st.timer_due = *due;
  auto wait = std::max<timestamp_ms>(0, *due - now);
  self->delayed_send(self, std::chrono::milliseconds(wait), wake_atom::value);
}

/// What a lease commit found: runs the jobs, then leases again, waits for
/// the next due job or answers the drain requests.
void leased_jobs(self_ptr self, std::vector<store::job>& leased,
                 std::size_t slots) {
  auto& st = self->state;
  st.leasing = false;
  st.in_flight += static_cast<std::uint32_t>(leased.size());
  for (auto& j : leased)
    run_job(self, std::move(j));
  if (st.draining)
    check_drained(self);
  else if (leased.size() == slots || st.rewake)
    self->send(self, wake_atom::value);
  else
    arm_timer(self);
}

/// Whether the queue is paused: no lease then (the tick tries again).
bool paused(const queue_supervisor_state& st) {
  return st.deps.context.pause && st.deps.context.pause->paused(st.deps.queue);
}

void lease(self_ptr self) {
  auto& st = self->state;
  if (st.draining || paused(st))
    return;
  if (st.leasing) {
    st.rewake = true;
    return;
  }
  if (st.in_flight >= st.deps.concurrency)
    return;
  auto slots = st.deps.concurrency - st.in_flight;
  st.leasing = true;
  st.rewake = false;
  auto now = st.deps.clock();
  auto until = now + lease_span_ms(st);
  auto* jobs = st.deps.jobs;
  auto queue = st.deps.queue;
  auto leased = std::make_shared<std::vector<store::job>>();
  commit(
      self,
      [=](store::write_txn& txn) -> store::result<void> {
        auto got = jobs->lease_in(txn, queue, now, slots, until);
        if (!got)
          return make_unexpected(got.error());
        *leased = std::move(*got);
        return {};
      },
      "leasing",
      [self, leased, slots](bool committed) {
        // A lease that did not commit leased nothing.
        if (!committed)
          leased->clear();
        leased_jobs(self, *leased, slots);
      });
}

/// Acks every job that succeeded and is not being acked yet in one writer
/// op; when no lease is in flight, the same transaction leases the next
/// jobs into the slots the acks free. A job is gone only once the commit
/// is synced; a failed ack leaves it leased until its lease expires.
void flush_acks(self_ptr self) {
  auto& st = self->state;
  if (st.pending_acks.empty())
    return;
  auto ids = std::make_shared<std::vector<std::uint64_t>>();
  ids->swap(st.pending_acks);
  ++st.acks_in_flight;
  bool and_lease = !st.draining && !st.leasing && !paused(st);
  std::size_t slots = 0;
  if (and_lease) {
    st.leasing = true;
    st.rewake = false;
    slots = st.deps.concurrency - (st.in_flight - ids->size());
  }
  auto now = st.deps.clock();
  auto until = now + lease_span_ms(st);
  auto* jobs = st.deps.jobs;
  auto queue = st.deps.queue;
  struct outcome {
    std::uint64_t acked = 0;
    std::vector<std::uint64_t> missing;
    std::vector<store::job> leased;
  };
  auto out = std::make_shared<outcome>();
  auto finish = [self, ids, out, and_lease, slots](bool committed) {
    auto& st = self->state;
    if (!committed) {
      // Nothing of the op stays: the jobs stay leased (their leases
      // expire) and nothing was leased.
      out->acked = 0;
      out->missing.clear();
      out->leased.clear();
    }
    for (auto id : out->missing)
      st.log->error("acking job {} on queue {}: no such pending or leased "
                    "job",
                    id, st.deps.queue);
    st.processed += out->acked;
    st.in_flight -= static_cast<std::uint32_t>(ids->size());
    --st.acks_in_flight;
    if (and_lease)
      leased_jobs(self, out->leased, slots);
    else if (st.draining)
      check_drained(self);
    else
      self->send(self, wake_atom::value);
    if (!st.pending_acks.empty() && st.acks_in_flight < max_ack_commits)
      flush_acks(self);
  };
  auto op = [=](store::write_txn& txn) -> store::result<void> {
    out->acked = 0;
    out->missing.clear();
    out->leased.clear();
    for (auto id : *ids) {
      auto r = jobs->ack_in(txn, id);
      if (r)
        ++out->acked;
      else if (r.error().code == store::errc::not_found)
        out->missing.push_back(id); // wrote nothing; the others go on
      else
        return r;
    }
    if (slots > 0) {
      auto got = jobs->lease_in(txn, queue, now, slots, until);
      if (!got)
        return make_unexpected(got.error());
      out->leased = std::move(*got);
    }
    return {};
  };
  // Nested: an error after some acks must not leave them written.
  submit(self, std::move(op), store::isolation::nested,
         [self, finish, n = ids->size()](caf::error err) {
           if (err)
             self->state.log->error("acking {} job(s) on queue {}: {}", n,
                                    self->state.deps.queue, describe(err));
           finish(!err);
         });
}

} // namespace

queue_supervisor_actor::behavior_type queue_supervisor(
    queue_supervisor_actor::stateful_pointer<queue_supervisor_state> self,
    queue_deps deps) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.log = log::get(log::subsystem::queue);
  if (st.deps.actors)
    st.actors = st.deps.actors;
  st.actors->resize(st.deps.listeners.size());
  for (std::size_t i = 0; i < st.deps.listeners.size(); ++i) {
    for (const auto& name : st.deps.listeners[i].names)
      st.binding_of[name] = i;
    spawn_binding(self, i);
  }
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (std::size_t i = 0; i < st.actors->size(); ++i) {
      if ((*st.actors)[i].address() == dm.source) {
        ++st.restarts;
        st.log->warn("listener actor for {} on queue {} stopped ({}); "
                     "restarting it",
                     st.deps.listeners[i].names.front(), st.deps.queue,
                     describe(dm.reason));
        spawn_binding(self, i);
        return;
      }
    }
  });
  // Listener actors end with their supervisor.
  self->attach_functor([actors = st.actors] {
    for (auto& a : *actors)
      if (a)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  });
  self->send(self, tick_atom::value);
  return {
      [self](wake_atom) {
        lease(self);
      },
      [self](done_atom, std::uint64_t token, caf::error& err) {
        self->state.commits.finish(token, std::move(err));
      },
      [self](expire_atom) {
        on_expiry_tick(self, self->state.attempts, expire_atom::value);
      },
      [self](tick_atom) {
        auto& st = self->state;
        if (st.draining)
          return;
        auto* jobs = st.deps.jobs;
        auto now = st.deps.clock();
        commit(
            self,
            [jobs, now](store::write_txn& txn) -> store::result<void> {
              auto n = jobs->release_expired_in(txn, now);
              if (!n)
                return make_unexpected(n.error());
              return {};
            },
            "releasing expired leases",
            [self](bool) {
              lease(self);
            });
        self->delayed_send(self, st.deps.tick, tick_atom::value);
      },
      [self](stats_atom) -> queue_stats {
        auto& st = self->state;
        queue_stats out;
        out.queue = st.deps.queue;
        if (auto c = st.deps.jobs->counts(st.deps.queue, st.deps.clock())) {
          out.ready = c->ready;
          out.delayed = c->delayed;
          out.leased = c->leased;
          out.failed = c->failed;
        }
        // The counters are kept in LMDB: they survive restarts.
        if (auto rows = st.deps.jobs->counters(st.deps.queue, "")) {
          for (const auto& r : *rows) {
            out.processed += r.processed;
            out.retried += r.retried;
            out.failed_since_start += r.failed;
          }
        } else {
          out.processed = st.processed;
          out.retried = st.retried;
          out.failed_since_start = st.failed;
        }
        out.in_flight = st.in_flight;
        out.concurrency = st.deps.concurrency;
        return out;
      },
      [self](drain_atom) -> caf::result<ok_atom> {
        auto& st = self->state;
        st.draining = true;
        if (st.in_flight == 0 && !st.leasing)
          return ok_atom::value;
        auto rp = self->make_response_promise<ok_atom>();
        st.drain_promises.push_back(rp);
        return rp;
      },
  };
}

} // namespace switchboard
