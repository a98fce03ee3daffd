#pragma once

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

inline bool operator==(const listener_outcome& a, const listener_outcome& b) {
  return a.listener == b.listener && a.event_id == b.event_id && a.ok == b.ok
         && a.error == b.error && a.elapsed_us == b.elapsed_us;
}

inline bool operator==(const dispatch_request& a, const dispatch_request& b) {
  return a.events == b.events && a.expect == b.expect
         && a.expected_version == b.expected_version && a.typed == b.typed
         && a.linked_versions == b.linked_versions;
}

inline bool operator==(const dispatch_result& a, const dispatch_result& b) {
  return a.sequences == b.sequences && a.versions == b.versions
         && a.sync_outcomes == b.sync_outcomes
         && a.jobs_enqueued == b.jobs_enqueued;
}

inline bool operator==(const job_request& a, const job_request& b) {
  return a.job_id == b.job_id && a.queue == b.queue && a.listener == b.listener
         && a.attempt == b.attempt && a.max_tries == b.max_tries
         && a.event == b.event && a.payload == b.payload;
}

inline bool operator==(const queue_stats& a, const queue_stats& b) {
  return a.queue == b.queue && a.ready == b.ready && a.delayed == b.delayed
         && a.leased == b.leased && a.failed == b.failed
         && a.processed == b.processed && a.retried == b.retried
         && a.failed_since_start == b.failed_since_start
         && a.in_flight == b.in_flight && a.concurrency == b.concurrency;
}

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

inline bool operator==(const aggregate_command& a, const aggregate_command& b) {
  return a.aggregate_type == b.aggregate_type
         && a.aggregate_id == b.aggregate_id && a.company_id == b.company_id
         && a.name == b.name && a.payload == b.payload
         && a.metadata == b.metadata && a.check_version == b.check_version
         && a.expected_version == b.expected_version;
}

inline bool operator==(const command_result& a, const command_result& b) {
  return a.aggregate_id == b.aggregate_id && a.version == b.version
         && a.sequences == b.sequences && a.state == b.state
         && a.created == b.created;
}

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
};

inline bool operator==(const outbound_call& a, const outbound_call& b) {
  return a.target == b.target && a.operation == b.operation
         && a.idempotency_key == b.idempotency_key && a.body == b.body
         && a.mark == b.mark && a.mark_event == b.mark_event;
}

inline bool operator==(const cache_lookup& a, const cache_lookup& b) {
  return a.found == b.found && a.value == b.value;
}

inline bool operator==(const cache_stats& a, const cache_stats& b) {
  return a.hits == b.hits && a.misses == b.misses && a.flushes == b.flushes
         && a.flushed_entries == b.flushed_entries && a.entries == b.entries
         && a.bytes == b.bytes && a.evicted == b.evicted
         && a.expired == b.expired;
}

} // namespace switchboard
