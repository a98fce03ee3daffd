#pragma once

// The cluster actor: one per node, published on the cluster port
// (`[cluster] port`). It joins the configured members by a mutual
// HMAC handshake (a fresh, timed proof from the joiner, answered by the
// member's proof over the joiner's nonce), watches them (CAF monitors and
// heartbeats), forwards HTTP requests for companies owned elsewhere to their
// owner and runs those forwarded here, carries committed events, presence
// members and channel frames to every member, and replicates the tenants.
//
// Trust: CAF delivers a message from a connected node to any actor whose
// handle has crossed the wire; only this actor's does. It answers nothing
// but the handshake to a node that has not joined, and drops what such a
// node sends (no answer at all). See docs/design.md, "Cluster".

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <actors/cluster_view.hpp>
#include <actors/interfaces.hpp>

namespace caf {
class actor_system;
} // namespace caf

namespace switchboard::store {
class audit_log;
class cluster_state;
class event_store;
class job_queue;
class message_outbox;
class processed_set;
class tenants;
} // namespace switchboard::store

namespace switchboard {

/// Runs a forwarded HTTP request on this node and calls `done` once with
/// its answer (from any thread).
using local_http_fn = std::function<void(
    forward_request, std::function<void(forward_response)> done)>;

/// What the cluster actor starts with.
struct cluster_deps {
  std::shared_ptr<cluster_view> view;
  std::vector<cluster_member> members; ///< Self included.
  std::string secret;
  /// The node's local key: local-only messages carry it.
  std::uint64_t local_key = 0;
  local_http_fn local_http;
  /// Events a member committed, for this node's subscribers.
  std::function<void(const std::vector<envelope>&)> remote_events;
  /// This node's presence members (channel, user id, user info triples),
  /// for the other members.
  std::function<std::vector<std::string>()> local_presence;
  /// A member's presence members (the same triples), replacing what it
  /// had; empty when it went down.
  std::function<void(const std::string& member,
                     const std::vector<std::string>& triples)>
      remote_presence;
  /// A frame a member published on a channel, for this node's subscribers.
  std::function<void(const channel_message&)> remote_publish;
  /// The node's tenants and its store writer (replication).
  store::tenants* tenants = nullptr;
  store_writer_actor writer;
  /// What a company's move reads and writes: its events (and their
  /// audit records), its jobs, its sent messages, and the placement table
  /// with the jobs of moving companies.
  store::event_store* events = nullptr;
  store::audit_log* audit = nullptr;
  store::job_queue* jobs = nullptr;
  store::message_outbox* outbox = nullptr;
  /// Where a moved event is marked handled by the listeners that do not
  /// take events brought in from elsewhere (`mark_brought_in_in`).
  store::processed_set* processed = nullptr;
  store::cluster_state* cluster_store = nullptr;
  /// The lowest checkpoint of the node's catch-up listeners (UINT64_MAX
  /// when it has none): a move waits until they are past the company's
  /// last event, so that what they write for it (messages, reminders,
  /// confirmations held for their delay) is written before its jobs and
  /// messages are taken. Errors: LMDB errors.
  std::function<store::result<std::uint64_t>()> readers_through;
  /// Wakes the queue supervisors (jobs were enqueued).
  std::function<void()> wake_queues;
  /// Drops what this node holds in memory of a company (live actors,
  /// cached answers) whose owner changed to or from this node.
  std::function<void(const std::string&)> release_company;
  /// How long a move waits for the company's writes and running jobs.
  std::chrono::milliseconds move_drain_timeout{30000};
  /// Heartbeat period; a member silent for `down_after` is down.
  std::chrono::milliseconds heartbeat{200};
  std::chrono::milliseconds down_after{1500};
  /// How long a forwarded request may take.
  std::chrono::milliseconds forward_timeout{30000};
};

/// HMAC-SHA256 of `text` with `key`, in hex.
std::string cluster_mac(std::string_view key, std::string_view text);

/// The text a member proves it knows the secret with: the prover's name,
/// the verifier's, the verifier's nonce and the prover's.
std::string cluster_proof_text(std::string_view prover,
                               std::string_view verifier,
                               std::string_view verifier_nonce,
                               std::string_view prover_nonce);

/// The key of the link a joiner's handshake opened, which the joiner's
/// messages to the member carry: both derive it from the secret and both
/// nonces of the handshake, so it never crosses the wire.
std::string cluster_link_key(std::string_view secret, std::string_view joiner,
                             std::string_view member,
                             std::string_view joiner_nonce,
                             std::string_view member_nonce);

/// Spawns the cluster actor and publishes it on `host:port`. Errors: the
/// middleman's (the port is in use, ...).
expected<cluster_actor, std::string> start_cluster(caf::actor_system& sys,
                                                   cluster_deps deps,
                                                   const std::string& host,
                                                   std::uint16_t port);

} // namespace switchboard
