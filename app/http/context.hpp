#pragma once

// One HTTP request as a route handler sees it, and the way it answers.
// Free of Beast and CAF: handlers that talk to actors include
// app/http/bridge.hpp.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include <app/http/fwd.hpp>
#include <store/tenants.hpp>

namespace caf {
class event_based_actor;
} // namespace caf

namespace switchboard {
class node;
class cluster_view;
} // namespace switchboard

namespace switchboard::app::http {

class bridge;
class request_context;
class company_limits;
class read_pool;
class broadcaster;
class state_cache;
class session_table;
class event_streams;

/// A parsed HTTP request.
struct request {
  std::string method; ///< "GET", "POST", ...
  std::string target; ///< As sent: path and query.
  std::string path;   ///< Percent-decoded path, without the query.
  std::map<std::string, std::string, std::less<>> query; ///< Decoded.
  /// Header fields, names lower-cased, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address; ///< The peer's IP address.

  /// The first value of header `name` (lower case), or "".
  std::string_view header(std::string_view name) const;
};

/// An answer: a status, a JSON body and extra header fields.
struct response {
  int status = 200;
  std::string body; ///< JSON text; empty for none (e.g. 204).
  std::vector<std::pair<std::string, std::string>> headers;
  /// A streaming answer (server-sent events): the header goes out without
  /// a length, then `body`, and the connection is handed to `take_over`
  /// (on its own thread; its `request` is empty). Only the server's
  /// sockets honour it; elsewhere the answer is `body` alone.
  std::function<void(upgrade&&)> take_over;
};

/// What route handlers reach through their context: the node (actors and
/// store) and the tenants. The gateway owns it; it outlives every request.
struct services {
  switchboard::node* node = nullptr;
  store::tenants* tenants = nullptr;
  http::bridge* bridge = nullptr;
  /// Rendered aggregate states for GET (state_cache.hpp).
  http::state_cache* states = nullptr;
  /// Access log: 0 off, 1 every request, N one request in N.
  std::uint32_t access_log_sample = 0;
  /// Requests seen, for the access log's sampling.
  mutable std::atomic<std::uint64_t> access_count{0};
  /// Peer addresses whose X-Forwarded-For is believed (http.trusted_proxies).
  std::vector<std::string> trusted_proxies;
  /// Per-company request rate and commands in flight (limits.hpp).
  http::company_limits* limits = nullptr;
  /// /ready fails while a write transaction has been going this long.
  std::chrono::milliseconds ready_commit_stall{5000};
  /// The Pusher protocol server; null when broadcasting is off.
  http::broadcaster* broadcasting = nullptr;
  /// Threads for listings, off the Asio threads (read_pool.hpp); null:
  /// listings run where they are asked.
  http::read_pool* reads = nullptr;
  /// How long a listing may take, waiting included (then 504).
  std::chrono::milliseconds read_deadline{10000};
  /// Dashboard sessions (sessions.hpp): their cookie stands in for the
  /// bearer token; null: tokens only.
  http::session_table* sessions = nullptr;
  /// The dashboard's live feeds (event_stream.hpp).
  http::event_streams* event_streams = nullptr;
  /// The cluster this node is a member of; null: a single node.
  std::shared_ptr<switchboard::cluster_view> cluster;
  /// Sends a request to the member owning its company and answers with
  /// what the owner answered (set with `cluster`; app/http/cluster.hpp).
  std::function<void(const std::shared_ptr<request_context>&,
                     const std::string& owner)>
      forward;
  /// Moves a company this node owns to another member and answers the
  /// request with the outcome (set with `cluster`).
  std::function<void(const std::shared_ptr<request_context>&,
                     const std::string& company, const std::string& to)>
      move;
  /// Sends a request of the runtime's own, made for `on_behalf_of` (which
  /// it does not answer), to member `member` and calls `done` once with
  /// the answer (503 when the member cannot be reached). Set with
  /// `cluster`.
  std::function<void(const std::shared_ptr<request_context>& on_behalf_of,
                     const std::string& member, request r,
                     std::function<void(response)> done)>
      ask_member;
};

/// Registers the HTTP families of /metrics, so that a scrape lists them
/// before the first request.
void register_http_metrics();

/// Field name → problem, for 422 answers ("missing", "wrong_type", ...).
using field_errors = std::map<std::string, std::string>;

/// The context of one request: the parsed request, its route's path
/// parameters, the authenticated principal, and `respond`.
///
/// Handlers get it as a `std::shared_ptr` and may keep it (capture it in an
/// actor's callback) until they answer. Every request is answered exactly
/// once: the first `respond` or `fail` wins, later ones are ignored; a
/// context dropped without an answer answers 500. `respond` is
/// thread-safe and never blocks: it posts the answer onto the connection's
/// strand.
class request_context : public std::enable_shared_from_this<request_context> {
public:
  /// Delivers a response to the connection (set by the server).
  using deliver_fn = std::function<void(response)>;

  request_context(request req, deliver_fn deliver)
      : req_(std::move(req)), deliver_(std::move(deliver)),
        started_(std::chrono::steady_clock::now()) {}
  ~request_context();
  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;

  const http::request& req() const noexcept {
    return req_;
  }

  /// The path parameter `name` of the route pattern ("{name}"), or "".
  const std::string& param(std::string_view name) const;

  /// The query parameter `name`, or `fallback` when absent.
  std::string query(std::string_view name, std::string fallback = {}) const;

  /// Reads query parameter `name` as an unsigned integer in [min, max];
  /// absent: `fallback`. On a bad value records a field error ("invalid")
  /// and returns `fallback`; answer with `fail_fields` when any was found.
  std::uint64_t query_uint(std::string_view name, std::uint64_t fallback,
                           std::uint64_t min, std::uint64_t max,
                           field_errors& errors) const;

  /// The correlation id a command of this request starts: the
  /// `X-Correlation-Id` header when it is valid (store::valid_correlation_id),
  /// else, without one, a new id; the answer carries it back in
  /// `X-Correlation-Id`. A malformed header answers 400 naming it and
  /// gives false.
  bool correlation(std::string& out);

  /// Whom the bearer token speaks for (empty company on public routes).
  const store::principal& who() const noexcept {
    return principal_;
  }

  /// The client's address: the socket peer's, or, when the peer is one of
  /// `http.trusted_proxies`, the last address of X-Forwarded-For that is
  /// not a trusted proxy.
  std::string client_address() const;

  /// True when the principal may see data of `company_id`: an admin, or
  /// the principal's own company.
  bool may_see(std::string_view company_id) const noexcept {
    return principal_.admin || principal_.company_id == company_id;
  }

  switchboard::node& node() const noexcept {
    return *svc_->node;
  }
  store::tenants& tenants() const noexcept {
    return *svc_->tenants;
  }
  http::bridge& bridge() const noexcept {
    return *svc_->bridge;
  }
  http::state_cache& states() const noexcept {
    return *svc_->states;
  }
  http::company_limits& limits() const noexcept {
    return *svc_->limits;
  }
  const services& svc() const noexcept {
    return *svc_;
  }

  /// Runs `f` once when the request is answered (on the answering
  /// thread), or at once if it has been: releases what the request held.
  /// Several run in the order given.
  void on_answer(std::function<void()> f);
  /// The broadcaster, or null when broadcasting is off.
  http::broadcaster* broadcasting() const noexcept {
    return svc_->broadcasting;
  }

  /// Parses the body as JSON. On malformed or empty input answers 400
  /// (code "malformed_json") and returns nullptr.
  const boost::json::value* json_body();

  /// Runs `task` on a bridge actor, where it may `self->request(...)`
  /// actors; their callbacks answer with `respond`/`fail`. Never blocks.
  void with_actor(std::function<void(caf::event_based_actor*)> task);

  /// Answers `status` with `body` as JSON.
  void respond(int status, const boost::json::value& body,
               std::vector<std::pair<std::string, std::string>> headers = {});

  /// Answers `status` with `json_text`, a JSON document the runtime has
  /// serialized already (not parsed again).
  void respond_json(int status, std::string json_text,
                    std::vector<std::pair<std::string, std::string>> headers
                    = {});

  /// Answers 204 No Content.
  void respond_empty(int status = 204);

  /// Answers with the error body `{"error": {"code", "message",
  /// "fields"}}`.
  void fail(int status, std::string_view code, std::string_view message,
            const field_errors& fields = {},
            std::vector<std::pair<std::string, std::string>> headers = {});

  /// Answers 422 "invalid_fields" naming each field.
  void fail_fields(const field_errors& fields);

  /// Answers as `fail_fields` when `fields` names any field; returns
  /// whether it answered.
  bool fail_fields_if_any(const field_errors& fields);

  /// Answers a store error: not_found 404, version_conflict 409,
  /// invalid_argument 422, closed 503, others 500.
  void fail_store(const store::error& err);

  /// Adds a header field to whichever answer the request gets (call it
  /// before answering, on the request's thread).
  void add_header(std::string name, std::string value) {
    extra_headers_.emplace_back(std::move(name), std::move(value));
  }

  /// Answers with `r` as it stands (a forwarded request's answer from
  /// the owner: status, header fields and body text).
  void respond_raw(response r) {
    deliver(std::move(r));
  }

  /// Marks the request as forwarded here by another member of the cluster
  /// (it is then never forwarded again).
  void mark_forwarded() noexcept {
    forwarded_ = true;
  }
  bool forwarded() const noexcept {
    return forwarded_;
  }

  /// True once answered.
  bool answered() const noexcept {
    return answered_.load();
  }

  /// Names the actor the request waits on (for the log of a 504); set it
  /// before handing the request to `with_actor`.
  void waiting_for(std::string what) {
    waiting_on_ = std::move(what);
  }
  const std::string& waiting_on() const noexcept {
    return waiting_on_;
  }

private:
  friend class gateway;

  void deliver(response r);
  void run_on_answer();

  request req_;
  deliver_fn deliver_;
  std::map<std::string, std::string, std::less<>> params_;
  store::principal principal_;
  const services* svc_ = nullptr;
  std::string waiting_on_ = "the runtime";
  /// The pattern of the route matched, for logs ("" before routing).
  const std::string* route_ = nullptr;
  std::chrono::steady_clock::time_point started_;
  boost::json::value body_json_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  std::atomic<bool> answered_{false};
  bool forwarded_ = false;
  std::mutex on_answer_mtx_;
  std::function<void()> on_answer_;
};

/// What handlers receive.
using context_ptr = std::shared_ptr<request_context>;

/// Builds the JSON error body `{"error": {"code", "message", "fields"}}`.
boost::json::value error_body(std::string_view code, std::string_view message,
                              const field_errors& fields = {});

/// The reason phrase of `status`, e.g. "Not Found".
std::string_view reason(int status);

/// Decodes %XX escapes (and '+' as space when `plus_is_space`).
std::string percent_decode(std::string_view s, bool plus_is_space);

/// Splits a query string `a=1&b=x` into decoded pairs.
std::map<std::string, std::string, std::less<>> parse_query(std::string_view q);

} // namespace switchboard::app::http
