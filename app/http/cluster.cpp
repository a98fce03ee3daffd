#include "app/http/cluster.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <openssl/rand.h>

#include <actors/listeners/catch_up.hpp>
#include <actors/log.hpp>
#include <actors/node.hpp>
#include <app/config.hpp>
#include <app/http/bridge.hpp>
#include <app/http/broadcasting.hpp>
#include <app/http/event_stream.hpp>
#include <app/http/gateway.hpp>
#include <app/http/routes.hpp>
#include <app/http/sessions.hpp>
#include <messages/registry.hpp>
#include <store/cluster_state.hpp>
#include <store/company_forget.hpp>
#include <store/tenants.hpp>
#include <store/writer.hpp>

namespace switchboard::app::http {

namespace {

namespace json = boost::json;

/// Header fields that belong to one connection, not to the request.
bool hop_by_hop(std::string_view name) {
  static const std::set<std::string_view> names
      = {"connection", "keep-alive",      "transfer-encoding", "te",
         "trailer",    "upgrade",         "content-length",    "expect",
         "host",       "x-forwarded-for", "proxy-connection"};
  return names.count(name) > 0;
}

/// The answer of a member, as the gateway answers.
response to_response(forward_response& r) {
  response out;
  out.status = r.status;
  for (std::size_t i = 0; i + 1 < r.headers.size(); i += 2)
    out.headers.emplace_back(std::move(r.headers[i]),
                             std::move(r.headers[i + 1]));
  out.body = std::move(r.body);
  return out;
}

void cluster_status(const context_ptr& ctx) {
  json::object o;
  const auto& view = ctx->svc().cluster;
  if (!view) {
    o["enabled"] = false;
    o["node"] = "";
    o["members"] = json::array{};
    ctx->respond(200, o);
    return;
  }
  auto companies = ctx->tenants().companies();
  if (!companies) {
    ctx->fail_store(companies.error());
    return;
  }
  std::map<std::string, json::array> owned;
  for (const auto& c : *companies)
    owned[view->owner(c.id)].push_back(json::value(c.id));
  json::array members;
  for (const auto& m : view->states()) {
    json::object e;
    e["name"] = m.name;
    e["self"] = m.self;
    e["up"] = m.up;
    e["since_ms"] = m.since_ms;
    e["companies"] = std::move(owned[m.name]);
    members.push_back(std::move(e));
  }
  o["enabled"] = true;
  o["node"] = view->self();
  o["members"] = std::move(members);
  auto table = view->placement();
  json::object placement;
  placement["epoch"] = table.epoch;
  json::array basis;
  for (const auto& b : table.basis)
    basis.push_back(json::value(b));
  placement["basis"] = std::move(basis);
  json::object moved;
  for (const auto& [company, member] : table.moved)
    moved[company] = member;
  placement["moved"] = std::move(moved);
  o["placement"] = std::move(placement);
  o["forwards_in_flight"] = view->forwards_in_flight.load();
  o["forwarded"] = view->forwarded.load();
  o["owner_down"] = view->owner_down.load();
  ctx->respond(200, o);
}

/// The JSON body of a cluster route; null when answered (this node is
/// not a cluster member, or the body is no JSON).
const json::value* cluster_body(const context_ptr& ctx, bool member) {
  if (!member) {
    ctx->fail(409, "not_a_cluster",
              "this node is not a member of a cluster ([cluster] peers)");
    return nullptr;
  }
  return ctx->json_body();
}

/// The non-empty string `key` of a cluster route's body; "" when it has
/// none (noted in `errs` as `missing`) or is no object.
std::string body_string(const json::value& body, const char* key,
                        const char* missing, field_errors& errs) {
  if (!body.is_object()) {
    errs[""] = "wrong_type: the body must be a JSON object";
    return {};
  }
  const auto* v = body.as_object().if_contains(key);
  if (v == nullptr || !v->is_string() || v->as_string().empty()) {
    errs[key] = missing;
    return {};
  }
  return std::string{v->as_string()};
}

/// POST /api/admin/cluster/move?company_id=ID with {"to": "member"}:
/// answered by the company's owner (the gateway forwards it there).
void cluster_move(const context_ptr& ctx) {
  const auto& company = ctx->query("company_id");
  const auto* body = cluster_body(ctx, ctx->svc().cluster && ctx->svc().move);
  if (body == nullptr)
    return;
  field_errors errs;
  if (company.empty())
    errs["company_id"] = "missing: the query names the company to move";
  else if (!ctx->tenants().company(company))
    errs["company_id"] = "unknown_value: no company " + company;
  auto to = body_string(*body, "to",
                        "missing: the member to move the company to", errs);
  if (!to.empty()) {
    const auto& members = ctx->svc().cluster->members();
    if (std::find(members.begin(), members.end(), to) == members.end())
      errs["to"] = "unknown_value: " + to + " is not a member";
  }
  if (ctx->fail_fields_if_any(errs))
    return;
  ctx->svc().move(ctx, company, to);
}

/// How long after a part of a company moving here was stored a forget of
/// it is refused (a move's parts come milliseconds apart).
constexpr std::chrono::seconds import_quiet{60};

void cluster_forget(const context_ptr& ctx) {
  const auto& view = ctx->svc().cluster;
  const auto* body = cluster_body(ctx, view != nullptr);
  if (body == nullptr)
    return;
  field_errors errs;
  auto company = body_string(*body, "company_id",
                             "missing: the company whose copy goes", errs);
  if (!company.empty() && !ctx->tenants().company(company))
    errs["company_id"] = "unknown_value: no company " + company;
  if (ctx->fail_fields_if_any(errs))
    return;
  if (view->placement().epoch == 0) {
    ctx->fail(409, "placement_pending",
              "the members have not agreed on a placement table yet");
    return;
  }
  if (view->owner(company) == view->self()) {
    ctx->fail(409, "owner",
              "this node (" + view->self() + ") owns company " + company
                  + "; forget drops the copy a move left on its old owner");
    return;
  }
  if (view->importing(company, import_quiet)) {
    ctx->fail(409, "move_in_progress",
              "company " + company
                  + " is moving to this node; its parts are stored here",
              {}, {{"Retry-After", "60"}});
    return;
  }
  auto& n = ctx->node();
  auto* env = n.store().env.get();
  auto* events = n.store().events.get();
  auto counts = std::make_shared<store::forget_counts>();
  auto refused = std::make_shared<std::optional<store::error>>();
  auto op = [env, events, company, counts,
             refused](store::write_txn& txn) -> store::result<void> {
    store::forget_options o;
    o.live_stream_index = false; // told below, in this transaction
    auto r = store::forget_company(txn, *env, company, o);
    if (!r) {
      if (r.error().code == store::errc::version_conflict
          || r.error().code == store::errc::invalid_argument)
        *refused = r.error();
      return make_unexpected(r.error());
    }
    events->forget_company_in(txn, company);
    *counts = *r;
    return {};
  };
  ctx->with_actor([ctx, op, company, counts,
                   refused](caf::event_based_actor* self) {
    auto& n = ctx->node();
    // A forget scans several databases whole: far more than a request's
    // usual second on a large store.
    self->request(n.writer(), std::chrono::minutes(5), write_atom::value,
                  make_write_op(op, store::isolation::nested))
        .then(
            [ctx, company, counts, self](ok_atom) {
              // What this node held of it in memory goes too.
              self->send(ctx->node().router(), drain_atom::value, company);
              log::get(log::subsystem::cluster)
                  ->info("forgot the copy of company {}: {} events, {} "
                         "jobs, {} messages",
                         company, counts->events, counts->jobs, counts->outbox);
              json::object o;
              o["company_id"] = company;
              o["events"] = counts->events;
              o["audit"] = counts->audit;
              o["jobs"] = counts->jobs;
              o["messages"] = counts->outbox;
              o["traces"] = counts->traces;
              o["other"] = counts->other;
              ctx->respond(200, o);
            },
            [ctx, refused](caf::error& e) {
              if (!*refused) {
                fail_with(*ctx, e);
                return;
              }
              const auto& why = **refused;
              if (why.code == store::errc::version_conflict)
                ctx->fail(409, "busy",
                          "a job of the company is running here; retry "
                          "shortly: "
                              + store::to_string(why),
                          {}, {{"Retry-After", "1"}});
              else
                ctx->fail(409, "cannot_forget", store::to_string(why));
            });
  });
}

} // namespace

std::function<void(const context_ptr&, const std::string&, const std::string&)>
make_mover(const cluster_setup& c) {
  auto actor = c.actor;
  auto key = c.key;
  return [actor, key](const context_ptr& ctx, const std::string& company,
                      const std::string& to) {
    ctx->waiting_for("the move of company " + company);
    ctx->with_actor([ctx, actor, key, company,
                     to](caf::event_based_actor* self) {
      self->request(actor, caf::infinite, move_atom::value, key, company, to)
          .then(
              [ctx](forward_response& r) {
                ctx->respond_raw(to_response(r));
              },
              [ctx](caf::error&) {
                ctx->fail(503, "move_failed",
                          "the cluster actor did not answer; retry", {},
                          {{"Retry-After", "1"}});
              });
    });
  };
}

expected<cluster_options, std::string> cluster_options_from(const config& cfg) {
  cluster_options o;
  auto peers = parse_cluster_peers(cfg.get_string("cluster.peers"));
  if (!peers)
    return make_unexpected("cluster.peers: " + peers.error());
  if (peers->empty())
    return o;
  o.node = cfg.get_string("cluster.node");
  o.secret = cfg.get_string("cluster.secret");
  auto self = std::find_if(peers->begin(), peers->end(), [&](const auto& m) {
    return m.name == o.node;
  });
  if (o.node.empty())
    return make_unexpected("cluster.node: must name this node (one of "
                           "cluster.peers) when cluster.peers is set");
  if (self == peers->end())
    return make_unexpected("cluster.node: " + o.node
                           + " is not among cluster.peers");
  if (o.secret.size() < 16)
    return make_unexpected("cluster.secret: must be at least 16 bytes when "
                           "cluster.peers is set");
  auto port = cfg.get_int("cluster.port");
  if (port != 0 && port != self->port)
    return make_unexpected("cluster.port: " + std::to_string(port)
                           + " is not the port cluster.peers gives " + o.node
                           + " (" + std::to_string(self->port) + ")");
  o.port = self->port;
  o.peers = std::move(*peers);
  o.forward_timeout
      = std::chrono::milliseconds{cfg.get_int("cluster.forward_timeout_ms")};
  return o;
}

expected<cluster_setup, std::string>
start_cluster(caf::actor_system& sys, switchboard::node& n,
              const cluster_options& opts) {
  cluster_setup c;
  std::vector<std::string> names;
  std::string host;
  for (const auto& m : opts.peers) {
    names.push_back(m.name);
    if (m.name == opts.node)
      host = m.host;
  }
  c.view = std::make_shared<cluster_view>(opts.node, std::move(names));
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&c.key), sizeof c.key) != 1)
    return make_unexpected("no randomness for the cluster's local key");
  c.running = std::make_shared<std::atomic<gateway*>>(nullptr);
  cluster_deps d;
  d.view = c.view;
  d.members = opts.peers;
  d.secret = opts.secret;
  d.local_key = c.key;
  d.tenants = n.store().tenants.get();
  d.writer = n.writer();
  d.events = n.store().events.get();
  d.audit = n.store().audit.get();
  d.jobs = n.store().jobs.get();
  d.outbox = n.store().outbox.get();
  d.processed = n.store().processed.get();
  d.cluster_store = n.store().cluster.get();
  d.release_company = [&n](const std::string& company) {
    caf::anon_send(n.router(), drain_atom::value, company);
  };
  d.readers_through = [&n]() -> store::result<std::uint64_t> {
    auto positions = catch_up_positions(n.registry(), *n.store().projections,
                                        *n.store().events);
    if (!positions)
      return make_unexpected(positions.error());
    std::uint64_t least = UINT64_MAX;
    for (const auto& p : *positions)
      least = std::min(least, p.checkpoint);
    return least;
  };
  d.wake_queues = [&n] {
    for (const auto& [name, q] : n.queues())
      caf::anon_send(q, wake_atom::value);
  };
  auto gw = c.running;
  d.local_http = [gw](forward_request fr,
                      std::function<void(forward_response)> done) {
    auto* g = gw->load();
    if (g == nullptr) {
      forward_response r;
      r.status = 503;
      r.headers = {"retry-after", "1"};
      r.body = json::serialize(error_body(
          "starting", "the owner is starting or stopping; retry shortly"));
      done(std::move(r));
      return;
    }
    request req;
    req.method = std::move(fr.method);
    req.target = std::move(fr.target);
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos)
      req.query = parse_query(std::string_view{req.target}.substr(q + 1));
    for (std::size_t i = 0; i + 1 < fr.headers.size(); i += 2)
      req.headers.emplace_back(std::move(fr.headers[i]),
                               std::move(fr.headers[i + 1]));
    req.body = std::move(fr.body);
    req.remote_address = std::move(fr.remote_address);
    auto ctx = std::make_shared<request_context>(
        std::move(req), [done = std::move(done)](response r) {
          forward_response out;
          out.status = r.status;
          for (auto& [k, v] : r.headers) {
            out.headers.push_back(std::move(k));
            out.headers.push_back(std::move(v));
          }
          out.body = std::move(r.body);
          done(std::move(out));
        });
    ctx->mark_forwarded();
    gateway::dispatch(g->routes(), g->svc(), ctx);
  };
  d.remote_events = [gw](const std::vector<envelope>& events) {
    auto* g = gw->load();
    if (g == nullptr)
      return;
    if (g->broadcasting() != nullptr)
      g->broadcasting()->publish_committed(events);
    if (g->svc().event_streams != nullptr)
      g->svc().event_streams->publish_relayed(events);
  };
  d.local_presence = [gw]() -> std::vector<std::string> {
    auto* g = gw->load();
    if (g == nullptr || g->broadcasting() == nullptr)
      return {};
    return g->broadcasting()->local_presence();
  };
  d.remote_presence = [gw](const std::string& member,
                           const std::vector<std::string>& triples) {
    auto* g = gw->load();
    if (g != nullptr && g->broadcasting() != nullptr)
      g->broadcasting()->set_remote_presence(member, triples);
  };
  d.remote_publish = [gw](const channel_message& m) {
    auto* g = gw->load();
    if (g != nullptr && g->broadcasting() != nullptr)
      g->broadcasting()->publish_relayed(m.channel, m.payload, m.except_socket);
  };
  d.forward_timeout = opts.forward_timeout;
  auto h = switchboard::start_cluster(sys, std::move(d), host, opts.port);
  if (!h)
    return make_unexpected(h.error());
  c.actor = *h;
  return c;
}

std::function<void(const context_ptr&, const std::string&)>
make_forwarder(const cluster_setup& c) {
  auto actor = c.actor;
  auto key = c.key;
  return [actor, key](const context_ptr& ctx, const std::string& owner) {
    const auto& req = ctx->req();
    forward_request fr;
    fr.method = req.method;
    fr.target = req.target;
    // A client's stream_company_header or forwarded_session_header never
    // passes: the owner would take it for a member's word.
    for (const auto& [k, v] : req.headers)
      if (!hop_by_hop(k) && k != stream_company_header
          && k != forwarded_session_header) {
        fr.headers.push_back(k);
        fr.headers.push_back(v);
      }
    // Whom this member authenticated: the owner needs it for a session
    // (which lives here); for a bearer token it authenticates the token
    // itself and ignores this.
    if (const auto& who = ctx->who(); who.admin || !who.company_id.empty()) {
      fr.headers.emplace_back(forwarded_session_header);
      fr.headers.push_back(forwarded_principal(who));
    }
    fr.body = req.body;
    fr.remote_address = ctx->client_address();
    ctx->waiting_for("cluster member " + owner);
    ctx->with_actor([ctx, actor, key, owner,
                     fr = std::move(fr)](caf::event_based_actor* self) mutable {
      // The cluster actor answers every forward (its own deadline, or
      // 503 when the owner goes down).
      self->request(actor, caf::infinite, forward_atom::value, key, owner,
                    std::move(fr))
          .then(
              [ctx](forward_response& r) {
                ctx->respond_raw(to_response(r));
              },
              [ctx, owner](caf::error&) {
                ctx->fail(503, "owner_unavailable",
                          "the node " + owner
                              + " owning this company cannot be reached; "
                                "retry shortly",
                          {}, {{"Retry-After", "1"}});
              });
    });
  };
}

decltype(services::ask_member) make_member_asker(const cluster_setup& c) {
  auto actor = c.actor;
  auto key = c.key;
  return [actor, key](const context_ptr& on_behalf_of,
                      const std::string& member, request req,
                      std::function<void(response)> done) {
    forward_request fr;
    fr.method = std::move(req.method);
    fr.target = std::move(req.target);
    for (auto& [k, v] : req.headers) {
      fr.headers.push_back(std::move(k));
      fr.headers.push_back(std::move(v));
    }
    fr.body = std::move(req.body);
    fr.remote_address = on_behalf_of->client_address();
    on_behalf_of->waiting_for("cluster member " + member);
    on_behalf_of->with_actor(
        [actor, key, member, fr = std::move(fr),
         done = std::move(done)](caf::event_based_actor* self) mutable {
          self->request(actor, caf::infinite, forward_atom::value, key, member,
                        std::move(fr))
              .then(
                  [done](forward_response& r) {
                    done(to_response(r));
                  },
                  [done, member](caf::error&) {
                    response out;
                    out.status = 503;
                    out.headers = {{"Content-Type", "application/json"},
                                   {"Retry-After", "1"}};
                    out.body = json::serialize(error_body(
                        "owner_unavailable",
                        "the node " + member
                            + " owning this company cannot be reached; retry "
                              "shortly"));
                    done(std::move(out));
                  });
        });
  };
}

std::function<void(const std::vector<envelope>&)>
make_event_relay(const cluster_setup& c) {
  auto actor = c.actor;
  auto key = c.key;
  // Every event: the members' dashboard streams take every type (their
  // broadcasters pick the types they broadcast).
  return [actor, key](const std::vector<envelope>& events) {
    if (!events.empty())
      caf::anon_send(actor, events_atom::value, key, events);
  };
}

broadcaster::cluster_hooks make_broadcast_hooks(const cluster_setup& c) {
  auto actor = c.actor;
  auto key = c.key;
  broadcaster::cluster_hooks h;
  h.presence_changed = [actor, key] {
    caf::anon_send(actor, presence_atom::value, key, false);
  };
  h.relay = [actor, key](const std::string& channel, const std::string& payload,
                         const std::string& except) {
    caf::anon_send(actor, publish_atom::value, key,
                   channel_message{channel, payload, except});
  };
  return h;
}

void stop_cluster(cluster_setup& c) {
  if (c.running)
    c.running->store(nullptr);
  if (c.actor)
    caf::anon_send_exit(c.actor, caf::exit_reason::user_shutdown);
  c.actor = nullptr;
}

void add_cluster_routes(router& r) {
  r.add("GET", "/api/admin/cluster", access::admin, cluster_status,
        "Members of the cluster, up or down, the companies each owns, and "
        "forwarded requests (admin)");
  r.add("POST", "/api/admin/cluster/move", access::admin, cluster_move,
        "Moves company ?company_id= to member {\"to\"}: its writes pause, "
        "its events, settings and pending jobs go to the new owner, and "
        "the placement table changes on every member (admin)");
  r.add("POST", "/api/admin/cluster/forget", access::admin, cluster_forget,
        "Deletes what this member keeps of company {\"company_id\"} that "
        "moved to another member: its events, audit records, jobs, sent "
        "messages, traces and projections; its tenancy stays (admin)");
}

} // namespace switchboard::app::http
