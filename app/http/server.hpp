#pragma once

// The HTTP/1.1 server of the gateway (Boost.Beast): keep-alive, limits,
// its own Asio threads, graceful stop. It knows nothing of routes: each
// complete request becomes a request_context handed to `on_request`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <app/http/context.hpp>
#include <messages/expected.hpp>

namespace switchboard::app::http {

/// Settings of the server ([http] in config.ini).
struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080; ///< 0: any free port (see server::port).
  std::size_t threads = 2;   ///< Asio threads.
  std::uint64_t body_limit = 1 << 20;
  std::uint32_t header_limit = 16 << 10;
  /// An idle keep-alive connection, or one sending a request this slowly,
  /// is closed after this long.
  std::chrono::milliseconds read_timeout{30000};
  /// Connections beyond this get a 503 and are closed.
  std::size_t max_connections = 1024;
  /// On stop, how long in-flight requests may take to finish.
  std::chrono::milliseconds drain_timeout{10000};
  /// After a 429, the connection's next request is read only this long
  /// later (at most its Retry-After): a client that ignores Retry-After
  /// is slowed down rather than answered 429 as fast as it can ask.
  /// Zero: read at once.
  std::chrono::milliseconds refusal_pause{1000};
};

/// Counters of the server.
struct server_stats {
  std::uint64_t connections = 0; ///< Open now.
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0; ///< Over max_connections.
  std::uint64_t requests = 0;
  std::uint64_t in_flight = 0; ///< Handed out, not yet answered.
};

/// How long the acceptor pauses after running out of file descriptors
/// (EMFILE, ENFILE) or memory before it accepts again.
constexpr std::chrono::milliseconds accept_backoff{100};

/// Raises the process's soft open-file limit to its hard limit (logged);
/// nothing when it cannot.
void raise_fd_limit();

/// What the open-file limit leaves for connections.
struct fd_budget {
  std::size_t limit = 0;       ///< RLIMIT_NOFILE (soft).
  std::size_t kept = 0;        ///< For the store, providers, logs, pipes.
  std::size_t connections = 0; ///< limit - kept: connections at most.
};

/// The budget under the current limit (kept: an eighth, at least 64);
/// none when unlimited. `server::start` lowers `max_connections` to it.
std::optional<fd_budget> connection_fd_budget();

/// An HTTP server on its own threads.
class server {
public:
  /// Called on an Asio thread for each complete request; must not block.
  using request_fn = std::function<void(const context_ptr&)>;
  /// Called on the connection's thread for a WebSocket upgrade request
  /// whose path starts with the prefix given to `start`; takes the
  /// connection over. Must not block.
  using upgrade_fn = std::function<void(upgrade&&)>;

  /// Binds `opts.host:opts.port`, starts the threads and accepts. When
  /// `on_upgrade` is set, upgrade requests for paths starting with
  /// `upgrade_prefix` go to it instead of `on_request`.
  /// Errors: the address cannot be resolved or bound (text names it).
  static expected<std::unique_ptr<server>, std::string>
  start(server_options opts, request_fn on_request, upgrade_fn on_upgrade = {},
        std::string upgrade_prefix = {});

  /// Calls `stop`.
  ~server();

  /// The port bound (useful with port 0).
  std::uint16_t port() const noexcept;

  /// Stops accepting, lets in-flight requests finish (at most
  /// `drain_timeout`; their connections close after the answer), closes
  /// every connection and joins the threads. Idempotent.
  void stop();

  server_stats stats() const;

  struct impl;

private:
  explicit server(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
};

} // namespace switchboard::app::http
