#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>

#include <store/error.hpp>

namespace switchboard {

/// Errors of the actor layer, carried in `caf::error` with the category
/// atom "switchbrd" and a message string as context.
enum class runtime_errc : std::uint8_t {
  none = 0,
  version_conflict, ///< An append's expected version did not match.
  not_found,
  invalid_argument,
  storage,         ///< LMDB or the writer failed.
  timeout,         ///< A listener or a request did not answer in time.
  listener_failed, ///< A listener reported an error.
  unavailable,     ///< A dependency (node, provider) is down.
  conflict,        ///< A state conflict, e.g. a slot already taken.
  closed,          ///< The runtime is shutting down.
  /// Refused for good (e.g. a provider answered 4xx): a queued job that
  /// fails with it goes to failed jobs at once, without further tries.
  rejected,
  /// The store has no room: the disk is full or the LMDB map reached
  /// `store.max_map_size_mb`. Nothing was stored (HTTP 507).
  disk_full,
  /// The disk failed a write or a sync (EIO): the write is not known to
  /// be durable and must be retried (HTTP 503).
  storage_unavailable,
};

/// The category atom of runtime errors.
caf::atom_value runtime_error_category();

/// Builds a runtime error with a human-readable message.
caf::error make_runtime_error(runtime_errc code, std::string message);

/// A runtime error that asks not to be retried before `retry_after_ms`
/// from now (a provider's `Retry-After`); the queue waits at least that
/// long before the next try.
caf::error make_runtime_error(runtime_errc code, std::string message,
                              std::int64_t retry_after_ms);

/// The wait `err` asks for before a retry (see above); 0 when none.
std::int64_t retry_after_ms(const caf::error& err);

/// Converts a store error (keeping its message and, for version conflicts,
/// the actual version in the text).
caf::error to_caf_error(const store::error& err);

/// The runtime code of `err`, or `none` when it is not a runtime error.
runtime_errc runtime_code(const caf::error& err);

/// A one-line description of any error: the runtime message when there is
/// one, else CAF's rendering (e.g. "request_timeout").
std::string describe(const caf::error& err);

/// Renders runtime errors for `caf::actor_system::render`.
std::string render_runtime_error(std::uint8_t code, caf::atom_value,
                                 const caf::message& context);

} // namespace switchboard
