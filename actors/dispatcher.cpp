#include "actors/dispatcher.hpp"

#include <chrono>
#include <functional>
#include <set>

#include <caf/typed_response_promise.hpp>

#include <actors/errors.hpp>
#include <actors/listeners.hpp>
#include <actors/log.hpp>
#include <actors/metrics.hpp>
#include <messages/ids.hpp>
#include <store/audit_log.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/traces.hpp>

namespace switchboard {

namespace {

using self_ptr = dispatcher_actor::stateful_pointer<dispatcher_state>;

/// The progress of one dispatch through its sync listeners.
struct dispatch_job {
  std::vector<envelope> events; ///< As committed (version, sequence set).
  dispatch_result result;
  std::set<std::string> queues; ///< Queues that got jobs.
  caf::typed_response_promise<dispatch_result> promise;
  std::size_t event_index = 0;
  std::size_t listener_index = 0;
  /// The AuditLogger's records went into the events' commit: its outcome
  /// is known without asking it.
  bool audited_in_commit = false;
  std::chrono::steady_clock::time_point started;
};

store::expected_version to_store(const dispatch_request& req) {
  switch (req.expect) {
  case expect_kind::no_stream:
    return store::expected_version::no_stream();
  case expect_kind::exact:
    return store::expected_version::exact(req.expected_version);
  case expect_kind::any:
    break;
  }
  return store::expected_version::any();
}

/// Appends `events` in `txn`, a run of consecutive events of one stream
/// at a time (the first at the request's expectation, the others at
/// `linked_versions`), setting their versions and sequences.
/// `already_stored` is set when every run was stored before (a retry).
store::result<void>
append_runs(store::write_txn& txn, store::event_store& store,
            std::vector<envelope>& events, const dispatch_request& req,
            const std::vector<store::listing>& listings, bool& already_stored) {
  already_stored = true;
  std::size_t run = 0;
  for (std::size_t begin = 0; begin < events.size(); ++run) {
    auto end = begin + 1;
    while (end < events.size()
           && events[end].aggregate_type == events[begin].aggregate_type
           && events[end].aggregate_id == events[begin].aggregate_id)
      ++end;
    auto expected = to_store(req);
    if (run > 0) {
      if (run > req.linked_versions.size())
        return make_unexpected(store::error{
            store::errc::invalid_argument,
            "append: a run of another stream without a linked version"});
      expected = store::expected_version::exact(req.linked_versions[run - 1]);
    }
    std::vector<envelope> part(std::make_move_iterator(events.begin() + begin),
                               std::make_move_iterator(events.begin() + end));
    bool stored = false;
    auto seqs = store.append_in(txn, part, expected, &stored,
                                listings.data() + begin);
    std::move(part.begin(), part.end(), events.begin() + begin);
    if (!seqs)
      return make_unexpected(seqs.error());
    already_stored = already_stored && stored;
    begin = end;
  }
  return {};
}

/// Checks what the store does not: registered types with valid payloads.
caf::error validate(const dispatch_request& req) {
  if (req.events.empty())
    return make_runtime_error(runtime_errc::invalid_argument,
                              "events: at least one event is required");
  for (std::size_t i = 0; i < req.events.size(); ++i) {
    const auto& ev = req.events[i];
    auto at = "events[" + std::to_string(i) + "]";
    const auto* info = find_event_type(ev.type);
    if (info == nullptr)
      return make_runtime_error(runtime_errc::invalid_argument,
                                at + ".type: unknown event type \"" + ev.type
                                    + "\"");
    if (ev.aggregate_type != info->aggregate_type)
      return make_runtime_error(runtime_errc::invalid_argument,
                                at + ".aggregate_type: " + ev.type
                                    + " belongs to "
                                    + std::string{info->aggregate_type});
    if (req.typed)
      continue; // serialized from a typed event by the runtime itself
    if (auto ok = info->validate(ev.data); !ok)
      return make_runtime_error(runtime_errc::invalid_argument,
                                at + ".data." + ok.error().field + ": "
                                    + ok.error().message);
  }
  return {};
}

bool has_sync_listener(const listener_registry& reg, std::string_view type,
                       std::string_view name) {
  for (const auto& spec : reg.sync_for(type))
    if (spec.name == name)
      return true;
  return false;
}

void run_next_listener(self_ptr self, std::shared_ptr<dispatch_job> job);

void finish(self_ptr self, std::shared_ptr<dispatch_job> job) {
  for (const auto& q : job->queues) {
    auto i = self->state.deps.queues.find(q);
    if (i != self->state.deps.queues.end())
      self->send(i->second, wake_atom::value);
  }
  metrics().dispatch_duration.observe_since(job->started);
  job->promise.deliver(std::move(job->result));
}

void run_next_listener(self_ptr self, std::shared_ptr<dispatch_job> job) {
  auto& st = self->state;
  while (job->event_index < job->events.size()) {
    const auto& ev = job->events[job->event_index];
    const auto& listeners = st.deps.registry->sync_for(ev.type);
    if (job->listener_index >= listeners.size()) {
      ++job->event_index;
      job->listener_index = 0;
      continue;
    }
    const auto& spec = listeners[job->listener_index++];
    if (job->audited_in_commit && spec.name == listener_names::audit_logger) {
      job->result.sync_outcomes.push_back({spec.name, ev.id, true, {}, 0});
      continue;
    }
    auto handle = st.deps.sync_listeners.find(spec.name);
    if (handle == st.deps.sync_listeners.end()) {
      job->result.sync_outcomes.push_back(
          {spec.name, ev.id, false, "listener not running", 0});
      ++st.counters.sync_failures;
      continue;
    }
    auto started = std::chrono::steady_clock::now();
    auto elapsed = [started] {
      return static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::steady_clock::now() - started)
              .count());
    };
    auto name = spec.name;
    auto event_id = ev.id;
    auto company = ev.company_id;
    // The outcome, once: from the reply or from the deadline.
    auto settle = [=](caf::error err) {
      auto& st = self->state;
      auto& m = metrics();
      m.listener_runs.with({name, "sync"}).inc();
      m.listener_duration.with({name, "sync"}).observe_since(started);
      if (err)
        m.listener_failures.with({name, "sync"}).inc();
      auto& c = per_company_metrics();
      c.listener_runs.with({company, name}).inc();
      c.listener_duration.with({company, name}).observe_since(started);
      if (err)
        c.listener_failures.with({company, name}).inc();
      if (!err) {
        job->result.sync_outcomes.push_back(
            {name, event_id, true, {}, elapsed()});
      } else {
        auto text = describe(err);
        if (err == caf::sec::request_timeout)
          ++st.counters.sync_timeouts;
        else
          ++st.counters.sync_failures;
        st.log->warn("sync listener {} failed on event {}: {}", name, event_id,
                     text);
        job->result.sync_outcomes.push_back(
            {name, event_id, false, text, elapsed()});
      }
      run_next_listener(self, job);
    };
    auto call = st.calls.add(self->clock().now() + spec.timeout, [=] {
      settle(caf::make_error(caf::sec::request_timeout));
    });
    arm_expiry(self, st.calls, expire_atom::value);
    auto reply = [=](caf::error err) {
      if (self->state.calls.settle(call))
        settle(std::move(err));
    };
    self->request(handle->second, caf::infinite, handle_atom::value, ev)
        .then(
            [=](ok_atom) {
              reply(caf::error{});
            },
            [=](caf::error& err) {
              reply(std::move(err));
            });
    return;
  }
  finish(self, job);
}

} // namespace

store::job listener_job(const queued_listener_spec& spec, const envelope& ev,
                        timestamp_ms now) {
  store::job j;
  j.queue = spec.queue;
  j.listener = spec.name;
  j.event_id = ev.id;
  j.correlation_id = ev.metadata.correlation_id;
  j.event_seq = ev.sequence;
  j.company_id = ev.company_id;
  j.event_type = ev.type;
  j.created_at = now;
  j.due_at = now + spec.first_delay_ms();
  j.max_tries = spec.retry.tries;
  j.backoff_s = spec.retry.backoff_s;
  j.backoff_ms = spec.retry.backoff_ms;
  j.timeout_ms = static_cast<std::uint32_t>(spec.retry.timeout.count());
  if (spec.retry.retry_until_s > 0)
    j.retry_until
        = now + static_cast<timestamp_ms>(spec.retry.retry_until_s) * 1000;
  j.max_exceptions = spec.retry.max_exceptions;
  return j;
}

dispatcher_actor::behavior_type
dispatcher(dispatcher_actor::stateful_pointer<dispatcher_state> self,
           dispatcher_deps deps) {
  self->state.deps = std::move(deps);
  self->state.log = log::get(log::subsystem::dispatcher);
  return {
      [=](expire_atom) {
        on_expiry_tick(self, self->state.calls, expire_atom::value);
      },
      [=](done_atom, std::uint64_t token, caf::error& err) {
        self->state.commits.finish(token, std::move(err));
      },
      [=](dispatch_atom,
          dispatch_request& req) -> caf::result<dispatch_result> {
        auto& st = self->state;
        auto now = st.deps.clock();
        for (auto& ev : req.events) {
          if (ev.id.empty())
            ev.id = new_event_id();
          if (ev.occurred_at == 0)
            ev.occurred_at = now;
          // Nothing caused it that we know of: it starts a correlation.
          if (ev.metadata.correlation_id.empty())
            ev.metadata.correlation_id = req.events.front().id;
        }
        if (auto err = validate(req)) {
          ++st.counters.rejected;
          return err;
        }
        auto job = std::make_shared<dispatch_job>();
        job->started = std::chrono::steady_clock::now();
        job->promise = self->make_response_promise<dispatch_result>();
        // The outbox: everything the op computes lives in `out`, rebuilt on
        // each run because the writer may redo a batch.
        struct outcome {
          std::vector<envelope> events;
          std::uint32_t jobs = 0;
          std::set<std::string> queues;
          bool audited = false; ///< Audit records written by this op.
          bool fresh = false;   ///< Stored now (not an idempotent retry).
        };
        auto out = std::make_shared<outcome>();
        auto input = std::make_shared<dispatch_request>(std::move(req));
        auto registry = st.deps.registry;
        auto* events = st.deps.events;
        // Sorted-list entries are computed here, off the writer thread.
        auto listings = std::make_shared<std::vector<store::listing>>();
        listings->reserve(input->events.size());
        for (const auto& ev : input->events)
          listings->push_back(events->listing_of(ev));
        auto* jobs = st.deps.jobs;
        auto* audit = st.deps.audit;
        auto* traces = st.deps.traces;
        // The trace keys, computed here rather than on the writer thread.
        std::vector<std::string> trace_keys;
        if (traces != nullptr)
          for (const auto& ev : input->events)
            trace_keys.push_back(
                store::trace_index::event_prefix(ev.metadata.correlation_id));
        auto op = [=](store::write_txn& txn) -> store::result<void> {
          out->events = input->events;
          out->jobs = 0;
          out->queues.clear();
          out->audited = false;
          out->fresh = false;
          bool already_stored = false;
          if (auto r = append_runs(txn, *events, out->events, *input, *listings,
                                   already_stored);
              !r)
            return r;
          if (already_stored)
            return {}; // An idempotent retry: its jobs exist already.
          out->fresh = true;
          for (std::size_t i = 0; i < trace_keys.size(); ++i)
            if (auto r = traces->event_in(txn.handle(), trace_keys[i],
                                          out->events[i].company_id,
                                          out->events[i].sequence);
                !r)
              return r;
          for (const auto& ev : out->events) {
            for (const auto& spec : registry->queued_for(ev.type)) {
              // A catch-up listener reads the log itself.
              if (spec.catch_up)
                continue;
              auto added = jobs->enqueue_in(txn, listener_job(spec, ev, now));
              if (!added)
                return make_unexpected(added.error());
              ++out->jobs;
              out->queues.insert(spec.queue);
            }
          }
          // The AuditLogger's record, in the events' commit: durable with
          // the events, so the dispatch does not ask the logger again.
          if (audit != nullptr) {
            for (const auto& ev : out->events)
              if (has_sync_listener(*registry, ev.type,
                                    listener_names::audit_logger))
                if (auto r = audit->record_in(txn, ev); !r)
                  return r;
            out->audited = true;
          }
          return {};
        };
        auto committed = [=](caf::error err) {
          if (err) {
            ++self->state.counters.rejected;
            job->promise.deliver(std::move(err));
            return;
          }
          auto& st = self->state;
          st.counters.dispatched += out->events.size();
          st.counters.jobs_enqueued += out->jobs;
          job->events = std::move(out->events);
          if (out->fresh)
            for (const auto& ev : job->events) {
              metrics().appended.with({ev.type}).inc();
              per_company_metrics()
                  .appended.with({ev.company_id, ev.type})
                  .inc();
            }
          // Durable now: the broadcaster may tell the browsers.
          if (out->fresh && st.deps.feed)
            st.deps.feed->publish(job->events);
          for (const auto& ev : job->events) {
            job->result.sequences.push_back(ev.sequence);
            job->result.versions.push_back(ev.version);
          }
          job->result.jobs_enqueued = out->jobs;
          job->queues = std::move(out->queues);
          // An idempotent retry wrote no record: the logger checks.
          job->audited_in_commit = out->audited;
          run_next_listener(self, job);
        };
        // Appends to several streams check each stream as they go: the
        // op's own nested transaction undoes the first when a later one
        // conflicts.
        auto iso = input->linked_versions.empty() ? store::isolation::validated
                                                  : store::isolation::nested;
        st.commits.commit(self, *st.deps.writer, st.deps.inline_commits,
                          std::move(op), iso, store::lane::foreground,
                          std::move(committed));
        return job->promise;
      },
  };
}

} // namespace switchboard
