#pragma once

// The gateway: the HTTP server, the route table with authentication, and
// the bridge into CAF, wired to one node.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <app/http/broadcasting.hpp>
#include <app/http/event_stream.hpp>
#include <app/http/fwd.hpp>
#include <app/http/limits.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/router.hpp>
#include <app/http/server.hpp>
#include <app/http/sessions.hpp>
#include <app/http/state_cache.hpp>
#include <messages/expected.hpp>

namespace caf {
class actor_system;
} // namespace caf

namespace switchboard {
class node;
class cluster_view;
struct envelope;
} // namespace switchboard

namespace switchboard::app::http {

/// How the gateway starts.
struct gateway_options {
  server_options server;
  std::size_t bridge_actors = 2; ///< Actors of the CAF bridge pool.
  std::size_t read_threads = 2;  ///< Threads of the read pool.
  /// How long a listing may take, waiting included (then 504).
  std::chrono::milliseconds read_deadline{10000};
  /// Listings a company may have waiting for the read pool (then 429).
  std::size_t reads_queued_per_company = 64;
  /// Access log: 0 off, 1 every request, N one request in N.
  std::uint32_t access_log_sample = 0;
  /// Peers whose X-Forwarded-For is believed (http.trusted_proxies).
  std::vector<std::string> trusted_proxies;
  limits_options limits;          ///< Per company ([limits]).
  std::string limits_per_company; ///< `[limits] per_company`, unparsed.
  /// /ready fails while a write transaction has been going this long.
  std::chrono::milliseconds ready_commit_stall{5000};
  event_stream_options event_streams; ///< GET /admin/events/stream.
  broadcast_options broadcasting;     ///< Off unless app_id is set.
  /// Set when [broadcasting] is inconsistent: start refuses with it.
  std::string broadcasting_error;
  /// [metrics]: a port of its own where GET /metrics needs no token
  /// (0: none; /metrics is then served on the main port to admin tokens).
  std::string metrics_host = "127.0.0.1";
  std::uint16_t metrics_port = 0;
  /// The cluster, when this node is a member of one (null: a single
  /// node), and how a request reaches the member owning its company.
  std::shared_ptr<switchboard::cluster_view> cluster;
  std::function<void(const context_ptr&, const std::string&)> forward;
  /// Moves a company to another member (app/http/cluster.hpp).
  std::function<void(const context_ptr&, const std::string&,
                     const std::string&)>
      move;
  /// How the gateway asks a member for something of its own (services).
  decltype(services::ask_member) ask_member;
};

/// Reads [http] and [broadcasting] of the configuration.
gateway_options gateway_options_from(const config& cfg);

/// The running gateway. Stop it before the node.
class gateway {
public:
  /// Builds the route table (add_routes), spawns the bridge, opens the
  /// tenants on the node's store, starts the server and, when enabled,
  /// the broadcaster (fed by the node's commits). Errors: the server's
  /// (address in use, ...), the store's, the broadcasting configuration's.
  static expected<std::unique_ptr<gateway>, std::string>
  start(caf::actor_system& sys, switchboard::node& n, gateway_options opts);

  ~gateway();

  /// The port of the metrics listener (0 when there is none).
  std::uint16_t metrics_port() const noexcept;

  /// The port the server listens on.
  std::uint16_t port() const noexcept;

  /// Stops taking connections, finishes in-flight requests, stops the
  /// bridge. Idempotent.
  void stop();

  const router& routes() const noexcept {
    return router_;
  }
  const services& svc() const noexcept {
    return services_;
  }

  /// The broadcaster, or null when broadcasting is off.
  broadcaster* broadcasting() const noexcept {
    return broadcaster_.get();
  }

  /// Sets who else hears of the node's commits, besides the broadcaster
  /// (the cluster's members); empty: nobody.
  void on_commits(std::function<void(const std::vector<envelope>&)> fn);

  /// Routes one request: 404/405, authentication (401/403), then the
  /// handler. Public for tests that drive the table without sockets.
  static void dispatch(const router& r, const services& svc,
                       const context_ptr& ctx);

private:
  gateway() = default;
  router router_;
  services services_;
  std::unique_ptr<store::tenants> tenants_;
  std::unique_ptr<http::bridge> bridge_;
  std::unique_ptr<read_pool> reads_;
  std::unique_ptr<state_cache> states_;
  std::unique_ptr<company_limits> limits_;
  /// Reads how far behind each company's queued work is (backpressure).
  class lag_sampler;
  std::unique_ptr<lag_sampler> lag_sampler_;
  std::unique_ptr<session_table> sessions_;
  /// Before the server: it outlives the connections the server's threads
  /// hold.
  std::unique_ptr<broadcaster> broadcaster_;
  std::unique_ptr<event_streams> streams_;
  std::unique_ptr<server> server_;
  /// GET /metrics without a token, when metrics.port is set.
  router metrics_router_;
  std::unique_ptr<server> metrics_server_;
  switchboard::node* node_ = nullptr;
};

} // namespace switchboard::app::http
