#pragma once

// The daemon's side of a cluster (actors/cluster.hpp): `[cluster]` of the
// configuration, the cluster actor started beside the node, forwarding of
// requests to their company's owner, and GET /api/admin/cluster.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <actors/cluster.hpp>
#include <app/http/broadcasting.hpp>
#include <app/http/context.hpp>
#include <app/http/fwd.hpp>
#include <app/http/router.hpp>
#include <messages/expected.hpp>

namespace switchboard {
class node;
} // namespace switchboard

namespace switchboard::app::http {

class gateway;

/// `[cluster]`, checked.
struct cluster_options {
  std::string node;                  ///< This member's name.
  std::vector<cluster_member> peers; ///< Every member, this one included.
  std::string secret;
  std::uint16_t port = 0; ///< The cluster port (this member's).
  /// How long a request forwarded to its owner may take (then 504).
  std::chrono::milliseconds forward_timeout{30000};
  bool enabled() const noexcept {
    return !peers.empty();
  }
};

/// Reads `[cluster]`. Empty peers: no cluster. Errors name the option at
/// fault (a node not among the peers, a short secret, a port that is not
/// the node's own in peers, a malformed entry).
expected<cluster_options, std::string> cluster_options_from(const config& cfg);

/// A running cluster membership.
struct cluster_setup {
  std::shared_ptr<cluster_view> view;
  cluster_actor actor;
  std::uint64_t key = 0;
  /// The gateway that runs requests forwarded here; set once it runs
  /// (until then they answer 503).
  std::shared_ptr<std::atomic<gateway*>> running;
};

/// Spawns and publishes the cluster actor for node `n`.
expected<cluster_setup, std::string> start_cluster(caf::actor_system& sys,
                                                   switchboard::node& n,
                                                   const cluster_options& opts);

/// How the gateway sends a request to its owner through `c`.
std::function<void(const context_ptr&, const std::string&)>
make_forwarder(const cluster_setup& c);

/// How the move route asks the cluster actor to move a company.
std::function<void(const context_ptr&, const std::string&, const std::string&)>
make_mover(const cluster_setup& c);
/// How the gateway asks another member through `c` for something of its
/// own (services::ask_member).
decltype(services::ask_member) make_member_asker(const cluster_setup& c);

/// Hands the node's committed events to the cluster's members.
std::function<void(const std::vector<envelope>&)>
make_event_relay(const cluster_setup& c);

/// How the broadcaster hands presence changes and frames published here
/// to the cluster's members.
broadcaster::cluster_hooks make_broadcast_hooks(const cluster_setup& c);

/// Stops the cluster actor.
void stop_cluster(cluster_setup& c);

/// GET /api/admin/cluster, POST /api/admin/cluster/move and
/// POST /api/admin/cluster/forget.
void add_cluster_routes(router& r);

} // namespace switchboard::app::http
