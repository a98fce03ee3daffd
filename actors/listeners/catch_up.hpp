#pragma once

// Catch-up listeners: a queued listener that takes every event of its
// types in log order, and whose effect is a write to the store, needs no
// job per event. It keeps one checkpoint, the last sequence of the log it
// applied (a projection value written in the same commit as its effects),
// and reads the log after it a batch at a time; a batch's counters are
// summed in memory, and they and its other effects (outbox messages,
// projection values, jobs) are written in one commit with the new
// checkpoint. The checkpoint is the exactly-once
// boundary: a crash before that commit reads the same events again, one
// after it never does. An event whose effect is not a write (a call to a
// provider, with retries of its own) or fails (its data does not decode)
// becomes a job of the listener in that commit, with the listener's
// tries, backoff and failed(), and the checkpoint moves past it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <spdlog/logger.h>

#include <actors/listeners/context.hpp>
#include <actors/local_only.hpp>

namespace switchboard::store {
class writer;
} // namespace switchboard::store

namespace switchboard {

/// What a catch-up listener adds to its counters for one event: (key,
/// delta) pairs, empty for an event it does not count.
using counter_deltas = std::vector<std::pair<std::string, std::int64_t>>;

/// A write of a catch-up listener's, in the batch's transaction.
using catch_up_write = std::function<store::result<void>(store::write_txn&)>;

/// What a catch-up listener does with one event.
struct catch_up_effect {
  counter_deltas counters;
  /// Written to the outbox (`queue_call_in`, with their marks if any).
  std::vector<outbound_call> calls;
  /// Other writes (projections, jobs), in the order of their events.
  std::vector<catch_up_write> writes;
  /// The event goes to the listener's job path too, for what the above
  /// does not cover.
  bool as_job = false;

  /// Nothing to write in the batch's commit (a job may still be due).
  bool writes_nothing() const {
    return counters.empty() && calls.empty() && writes.empty();
  }
};

/// Computes the effect of one event; runs on the listener's actor.
/// Errors: the event's data does not decode (it becomes a job).
using fold_fn
    = std::function<expected<catch_up_effect, decode_error>(const envelope&)>;

/// The projection value that holds the checkpoint of catch-up listener
/// `listener` ("checkpoint/<listener>": no company segment, so a company's
/// forget leaves it and a replay's clear of "analytics/" too).
std::string checkpoint_key(std::string_view listener);

/// The checkpoint of `listener` as of the last commit; none before its
/// first start. Errors: LMDB errors, `corrupt`.
store::result<std::optional<std::uint64_t>>
read_checkpoint(const store::projections& proj, std::string_view listener);

/// The checkpoint `listener` was given at its first start (the log's end
/// then): the events up to it had jobs of their own, those after it are
/// the reader's. None before its first start.
store::result<std::optional<std::uint64_t>>
read_first_checkpoint(const store::projections& proj,
                      std::string_view listener);

/// The checkpoint inside `txn` (a writer op's).
store::result<std::optional<std::uint64_t>>
read_checkpoint_in(store::write_txn& txn, const store::projections& proj,
                   std::string_view listener);

/// Sets the checkpoint inside `txn`.
store::result<void> write_checkpoint_in(store::write_txn& txn,
                                        store::projections& proj,
                                        std::string_view listener,
                                        std::uint64_t seq);

/// At the node's start, before anything appends: a listener without a
/// checkpoint gets one (kept too as its first checkpoint): at the log's
/// last event when its listener ran per-event jobs until now (they still
/// count the events they were made for), or before the log's first event
/// when `from_start` (nothing was counted yet: a new store, or one that
/// only imported events). Returns the checkpoint.
store::result<std::uint64_t> settle_checkpoint(store::writer& writer,
                                               store::projections& proj,
                                               const store::event_store& events,
                                               std::string_view listener,
                                               bool from_start);

/// Marks `event`, brought into this store from elsewhere (a company moved
/// from another member, `switchboard import`), inside `txn`: the
/// dispatcher gives such an event no job, and the readers of the
/// catch-up listeners that act on new events only (`skips_brought_in`:
/// messages, reminders) step over it; those that count history (the
/// analytics) take it. Errors: LMDB errors.
store::result<void> mark_brought_in_in(store::write_txn& txn,
                                       store::processed_set& processed,
                                       const envelope& event);

/// How far a reader has read, as it last told (any thread reads it).
struct catch_up_progress {
  /// The last sequence read.
  std::atomic<std::uint64_t> read_through{0};
  /// The first sequence of the events it holds whose delay is not over
  /// (they run through `read_through`); 0: none.
  std::atomic<std::uint64_t> delayed_from{0};
};

/// The progress of a node's readers, by listener name.
class catch_up_board {
public:
  /// The progress of `listener`'s reader, made at the first ask.
  std::shared_ptr<catch_up_progress> of(const std::string& listener);

  /// The progress of `listener`'s reader, if it has one.
  std::shared_ptr<const catch_up_progress>
  find(const std::string& listener) const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::shared_ptr<catch_up_progress>> readers_;
};

/// Where a catch-up listener stands: its checkpoint and the log's last
/// sequence, read one after the other, and the events its reader holds
/// for their delay.
struct catch_up_position {
  std::string listener;
  std::string queue;
  std::uint64_t checkpoint = 0;
  std::uint64_t last = 0;
  /// The listener's delay: its events are due that long after they are
  /// read, and wait meanwhile without being behind.
  std::int64_t delay_ms = 0;
  /// The sequences past the checkpoint its reader holds while their
  /// delay is not over: [delayed_from, delayed_through] (none when
  /// `delayed_from` is 0).
  std::uint64_t delayed_from = 0;
  std::uint64_t delayed_through = 0;

  /// Whether `seq`, past the checkpoint, is held for its delay.
  bool is_delayed(std::uint64_t seq) const {
    return delayed_from != 0 && seq >= delayed_from && seq <= delayed_through;
  }

  /// The sequences held for their delay.
  std::uint64_t delayed() const {
    return delayed_from == 0 ? 0 : delayed_through - delayed_from + 1;
  }

  /// The sequences past the checkpoint that are not held for their delay:
  /// those due and not applied yet, and those not read yet.
  std::uint64_t behind() const {
    auto past = last > checkpoint ? last - checkpoint : 0;
    return past > delayed() ? past - delayed() : 0;
  }
};

/// The positions of the catch-up listeners of `reg`, with what their
/// readers told `board` (none: nothing is counted as held). Errors: LMDB
/// errors, `corrupt`.
store::result<std::vector<catch_up_position>>
catch_up_positions(const listener_registry& reg, const store::projections& proj,
                   const store::event_store& events,
                   const catch_up_board* board = nullptr);

/// What a catch-up listener's actor is given.
struct catch_up_deps {
  listener_context ctx;
  /// Its name, queue (of the jobs of its events that need one) and
  /// retries; its delay: an event is applied (folded, then written) no
  /// sooner than that after it was read, while the reader reads on.
  queued_listener_spec spec;
  /// The event types it takes; the others it steps over.
  std::set<std::string, std::less<>> types;
  fold_fn fold;
  /// The queues its writes may enqueue jobs on, woken after a commit.
  std::vector<std::string> wake;
  /// It steps over the events brought in from elsewhere
  /// (`mark_brought_in_in`).
  bool skips_brought_in = false;
  /// Where it tells how far it read; null: nowhere.
  std::shared_ptr<catch_up_progress> progress;
  /// Most events read, and applied, per batch.
  std::size_t max_batch = 4096;
  /// Most events read and waiting for the delay.
  std::size_t max_held = 65536;
  /// The wait after a batch that did not fill; the wait after an empty
  /// read doubles from it up to `idle`.
  std::chrono::milliseconds busy{100};
  std::chrono::milliseconds idle{500};
};

/// The request a job of listener `spec` for `ev` would carry: what a
/// reader's fold hands to the code it shares with the listener's job path.
job_request reader_request(const queued_listener_spec& spec,
                           const envelope& ev);

/// The deps of the reader of catch-up listener `spec`: the event types it
/// listens to in `reg`, and `fold`.
catch_up_deps catch_up_deps_of(const listener_context& ctx,
                               const queued_listener_spec& spec,
                               const listener_registry& reg, fold_fn fold);

/// One batch read from the log: each company's summed deltas and outbox
/// messages (with the last sequence of the company in it, which tells at
/// the commit whether a forget took the company meanwhile) and the events
/// that become jobs.
struct catch_up_batch {
  struct company_part {
    std::uint64_t last_seq = 0;
    std::vector<std::pair<std::string, std::int64_t>> sums;
    std::vector<outbound_call> calls;
    std::vector<catch_up_write> writes;
  };
  std::uint64_t after = 0;   ///< The checkpoint it was read after.
  std::uint64_t through = 0; ///< The last sequence read.
  std::size_t read = 0;      ///< Events read (applied or stepped over).
  std::vector<std::pair<std::string, company_part>> companies;
  std::vector<envelope> jobs;
};

/// Events of a reader's types read from the log after some sequence, up
/// to `through`.
struct catch_up_read {
  std::uint64_t through = 0; ///< The last sequence read.
  std::size_t read = 0;      ///< Events read (taken or stepped over).
  std::vector<envelope> events;
};

struct catch_up_state {
  catch_up_deps deps;
  /// The checkpoint as this actor last committed or read it.
  std::uint64_t position = 0;
  /// The last sequence read (at or after `position`).
  std::uint64_t read_through = 0;
  /// The events of its types after `position` up to `read_through`, in
  /// log order, each with when it was read (the actor clock).
  std::deque<std::pair<envelope, caf::actor_clock::time_point>> held;
  /// The last read filled `max_batch`: more is waiting in the log.
  bool full = false;
  bool writing = false;
  std::chrono::milliseconds wait{0};
  std::shared_ptr<spdlog::logger> log;
  static inline const char* name = "catch_up";
};

/// The actor of a catch-up listener: reads, folds and commits batches
/// one at a time, on its own timer (see `catch_up_deps`).
catch_up_actor::behavior_type
catch_up_listener(catch_up_actor::stateful_pointer<catch_up_state> self,
                  catch_up_deps deps);

/// The `spawn_catch_up` of a listener whose reader is given what `Deps`
/// makes.
template <catch_up_deps (*Deps)(const listener_context&,
                                const queued_listener_spec&,
                                const listener_registry&)>
catch_up_actor spawn_reader(caf::actor_system& sys, const listener_context& ctx,
                            const queued_listener_spec& spec,
                            const listener_registry& reg) {
  return spawn_local(sys, catch_up_listener, Deps(ctx, spec, reg));
}

/// Reads the log after `after`, at most `max` events: those of `types`
/// (with `brought_in`, but those marked there as brought in). Any thread.
store::result<catch_up_read>
read_events(const store::event_store& events, std::uint64_t after,
            std::size_t max, const std::set<std::string, std::less<>>& types,
            const store::processed_set* brought_in = nullptr);

/// Folds `events` (read after `after`, through `through`) into a batch:
/// their effects per company (deltas summed), and those that become
/// jobs. Any thread.
catch_up_batch fold_events(std::uint64_t after, std::uint64_t through,
                           std::vector<envelope> events, const fold_fn& fold);

} // namespace switchboard
