#pragma once

#include <messages/fields.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <messages/envelope.hpp>

/// Requests and replies between the runtime's actors: dispatching events,
/// delivering queued jobs to listeners, queue statistics. Plain data; the
/// behaviour lives in actors/.

/// Lists the request and reply types of the runtime's actors as X(type), for
/// the CAF type-ID block (messages/type_ids.hpp) and the round-trip tests.
#define SWITCHBOARD_COMMAND_TYPES(X)                                           \
  X(dispatch_request)                                                          \
  X(listener_outcome)                                                          \
  X(dispatch_result)                                                           \
  X(job_request)                                                               \
  X(queue_stats)                                                               \
  X(cache_lookup)                                                              \
  X(cache_stats)                                                               \
  X(outbound_call)                                                             \
  X(aggregate_command)                                                         \
  X(command_result)

namespace switchboard {

#define SWITCHBOARD_COUNT_COMMAND(...) +1
/// Number of request and reply types.
inline constexpr std::size_t command_type_count
    = 0 SWITCHBOARD_COMMAND_TYPES(SWITCHBOARD_COUNT_COMMAND);
#undef SWITCHBOARD_COUNT_COMMAND

/// How an append checks the stream's current version.
enum class expect_kind : std::uint8_t {
  any,       ///< No check.
  no_stream, ///< The stream must not exist yet.
  exact,     ///< The stream must be at `expected_version`.
};

constexpr std::array<std::string_view, 3> enum_names(expect_kind) {
  return {"any", "no_stream", "exact"};
}

/// Events of one aggregate to store and dispatch. The envelopes carry id,
/// type, aggregate, company, occurred_at, metadata and data; the store sets
/// version and sequence.
struct dispatch_request {
  std::vector<envelope> events;
  expect_kind expect = expect_kind::any;
  std::uint64_t expected_version = 0;
  /// Set by the runtime's aggregates, whose event data is serialized
  /// from typed structs: the dispatcher skips decoding it again. Events
  /// from outside (POST /api/events, imports) leave it false.
  bool typed = false;
  /// Events may span several streams, each a run of consecutive events of
  /// one aggregate, all appended in one transaction: the first run at
  /// `expect`, run i + 1 at exactly `linked_versions[i]` (a customer merge
  /// writes the primary and the tombstone of the customer merged away).
  std::vector<std::uint64_t> linked_versions;
};

/// What one synchronous listener did with one event.
struct listener_outcome {
  std::string listener;
  std::string event_id;
  bool ok = true;
  std::string error; ///< Empty when ok.
  std::uint32_t elapsed_us = 0;
};

/// The answer to a dispatch: the events' sequence numbers (and versions),
/// every synchronous listener's outcome, and how many queued jobs the
/// outbox holds for these events.
struct dispatch_result {
  std::vector<std::uint64_t> sequences;
  std::vector<std::uint64_t> versions;
  std::vector<listener_outcome> sync_outcomes;
  std::uint32_t jobs_enqueued = 0;
};

/// One attempt of one queued job, as a listener actor receives it.
struct job_request {
  std::uint64_t job_id = 0;
  std::string queue;
  std::string listener;
  std::uint32_t attempt = 0; ///< 1 for the first attempt.
  std::uint32_t max_tries = 1;
  envelope event;      ///< The event that caused the job.
  std::string payload; ///< Listener-specific JSON ("" for none).
};

/// Counts of one queue, Horizon-style.
struct queue_stats {
  std::string queue;
  std::uint64_t ready = 0;
  std::uint64_t delayed = 0;
  std::uint64_t leased = 0;
  std::uint64_t failed = 0;
  std::uint64_t processed = 0; ///< Jobs acked (kept in LMDB, all time).
  std::uint64_t retried = 0;   ///< Attempts that failed and were retried.
  /// Jobs moved to the failed jobs (kept in LMDB, all time).
  std::uint64_t failed_since_start = 0;
  std::uint32_t in_flight = 0;
  std::uint32_t concurrency = 0;
};

} // namespace switchboard

namespace switchboard {

/// The answer of the tagged cache to a lookup.
struct cache_lookup {
  bool found = false;
  std::string value;
};

/// Counters of the tagged cache.
struct cache_stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t flushes = 0;         ///< Flush requests.
  std::uint64_t flushed_entries = 0; ///< Entries removed by flushes.
  std::uint64_t entries = 0;         ///< Entries held now.
  std::uint64_t bytes = 0;           ///< Their size (keys, values, tags).
  std::uint64_t evicted = 0;         ///< Removed to stay within max_bytes.
  std::uint64_t expired = 0;         ///< Removed after their TTL.
};

/// A command for one aggregate (customer, staff, service, appointment,
/// call), as the gateway and the webhooks send it to the router. `payload`
/// is a JSON object whose fields depend on `name`; the aggregate decodes
/// it and names the field of any problem.
struct aggregate_command {
  std::string aggregate_type;
  std::string aggregate_id; ///< Empty on create: the aggregate assigns one.
  std::string company_id;
  std::string name; ///< e.g. "create", "update", "book", "cancel".
  std::string payload;
  event_metadata metadata;
  bool check_version = false; ///< Optimistic concurrency (If-Match).
  std::uint64_t expected_version = 0;
};

/// What a command did: the aggregate's id, version and state after it.
struct command_result {
  std::string aggregate_id;
  std::uint64_t version = 0;
  std::vector<std::uint64_t> sequences; ///< Empty when nothing changed.
  std::string state;                    ///< JSON of the aggregate.
  bool created = false;
};

/// One call to an external service (Cal.com, a CRM). The daemon connects
/// real HTTP providers behind the endpoint interface that takes these.
struct outbound_call {
  std::string target;          ///< "calcom" or "crm".
  std::string operation;       ///< e.g. "booking.create", "customer.upsert".
  std::string idempotency_key; ///< The event id (plus the step).
  std::string body;            ///< JSON.
  /// When not empty, the processed mark (listener + "." + step) that the
  /// call completes for `mark_event`: an endpoint that only writes the
  /// call to the outbox writes the mark in the same transaction, so that
  /// the message is queued exactly when the step is marked done.
  std::string mark = {};
  std::string mark_event = {}; ///< The event id the mark is for.
  /// The company whose event the call is for (the outbox keeps it, so
  /// that the company reads its own calls and they move with it).
  std::string company_id = {};
};

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(dispatch_request, SB_FIELD(events), SB_FIELD(expect),
          SB_FIELD(expected_version), SB_FIELD(typed),
          SB_FIELD(linked_versions))

SB_FIELDS(listener_outcome, SB_FIELD(listener), SB_FIELD(event_id),
          SB_FIELD(ok), SB_FIELD(error), SB_FIELD(elapsed_us))

SB_FIELDS(dispatch_result, SB_FIELD(sequences), SB_FIELD(versions),
          SB_FIELD(sync_outcomes), SB_FIELD(jobs_enqueued))

SB_FIELDS(job_request, SB_FIELD(job_id), SB_FIELD(queue), SB_FIELD(listener),
          SB_FIELD(attempt), SB_FIELD(max_tries), SB_FIELD(event),
          SB_FIELD(payload))

SB_FIELDS(queue_stats, SB_FIELD(queue), SB_FIELD(ready), SB_FIELD(delayed),
          SB_FIELD(leased), SB_FIELD(failed), SB_FIELD(processed),
          SB_FIELD(retried), SB_FIELD(failed_since_start), SB_FIELD(in_flight),
          SB_FIELD(concurrency))

SB_FIELDS(cache_lookup, SB_FIELD(found), SB_FIELD(value))

SB_FIELDS(cache_stats, SB_FIELD(hits), SB_FIELD(misses), SB_FIELD(flushes),
          SB_FIELD(flushed_entries), SB_FIELD(entries), SB_FIELD(bytes),
          SB_FIELD(evicted), SB_FIELD(expired))

SB_FIELDS(outbound_call, SB_FIELD(target), SB_FIELD(operation),
          SB_FIELD(idempotency_key), SB_FIELD(body), SB_FIELD(mark),
          SB_FIELD(mark_event), SB_FIELD(company_id))

SB_FIELDS(aggregate_command, SB_FIELD(aggregate_type), SB_FIELD(aggregate_id),
          SB_FIELD(company_id), SB_FIELD(name), SB_FIELD(payload),
          SB_FIELD(metadata), SB_FIELD(check_version),
          SB_FIELD(expected_version))

SB_FIELDS(command_result, SB_FIELD(aggregate_id), SB_FIELD(version),
          SB_FIELD(sequences), SB_FIELD(state), SB_FIELD(created))

} // namespace switchboard
