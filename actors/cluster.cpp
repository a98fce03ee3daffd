#include "actors/cluster.hpp"
#include "actors/cluster_detail.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/message_view.hpp>
#include <caf/node_id.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/rand.h>

#include <actors/log.hpp>
#include <store/hex.hpp>
#include <store/hmac.hpp>
#include <store/tenants.hpp>

namespace switchboard {

using namespace cluster_detail;

namespace cluster_detail {

std::string trusted_sender(cluster_pointer self, const std::string& link) {
  const auto& sender = self->current_sender();
  if (!sender || sender->node() == self->node())
    return {};
  auto& st = self->state;
  auto i = st.joined.find(sender->node());
  if (i == st.joined.end() || !store::same_hex_mac(link, i->second.link))
    return {};
  if (auto p = st.peers.find(i->second.name); p != st.peers.end())
    p->second.heard = steady::now();
  return i->second.name;
}

/// The trusted sender of the current message (see trusted_sender) and
/// the promise of its answer of type `T`. The sender is read first: making
/// the promise takes it out of the message.
template <class T>
std::pair<std::string, caf::typed_response_promise<T>>
trusted_request(cluster_pointer self, const std::string& link) {
  auto name = trusted_sender(self, link);
  return {std::move(name), self->make_response_promise<T>()};
}

/// An answer as the gateway writes it: `body` as JSON, with Retry-After on
/// a 503 or 504.
forward_response json_answer(int status, const boost::json::object& body) {
  forward_response r;
  r.status = status;
  r.headers = {"content-type", "application/json"};
  if (status == 503 || status == 504)
    r.headers.insert(r.headers.end(), {"retry-after", "1"});
  r.body = boost::json::serialize(body);
  return r;
}

/// The gateway's error body: {"error": {code, message, fields}}.
forward_response error_answer(int status, std::string_view code,
                              std::string_view message) {
  return json_answer(
      status,
      boost::json::object{
          {"error", boost::json::object{{"code", code},
                                        {"message", message},
                                        {"fields", boost::json::object{}}}}});
}

} // namespace cluster_detail

namespace {

/// 32 random bytes in hex; empty when the system has no randomness.
std::string random_nonce() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1)
    return {};
  return store::to_hex(buf, sizeof buf);
}

/// How far a joiner's clock may be off (and how long a proof is kept).
constexpr std::int64_t max_skew_ms = 60000;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t rows_hash(const store::tenant_rows& rows) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const std::string& s) {
    auto n = s.size();
    for (int i = 0; i < 8; ++i, n >>= 8) {
      h ^= n & 0xff;
      h *= 1099511628211ull;
    }
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  for (const auto& [k, v] : rows.companies) {
    mix(k);
    mix(v);
  }
  mix("|");
  for (const auto& [k, v] : rows.tokens) {
    mix(k);
    mix(v);
  }
  mix("|");
  for (const auto& k : rows.revoked)
    mix(k);
  return h;
}

tenant_digest to_digest(const store::tenant_rows& rows) {
  tenant_digest d;
  for (const auto& [k, v] : rows.companies) {
    d.companies.push_back(k);
    d.companies.push_back(v);
  }
  for (const auto& [k, v] : rows.tokens) {
    d.tokens.push_back(k);
    d.tokens.push_back(v);
  }
  d.revoked = rows.revoked;
  return d;
}

store::tenant_rows from_digest(const tenant_digest& d) {
  store::tenant_rows rows;
  for (std::size_t i = 0; i + 1 < d.companies.size(); i += 2)
    rows.companies.emplace_back(d.companies[i], d.companies[i + 1]);
  for (std::size_t i = 0; i + 1 < d.tokens.size(); i += 2)
    rows.tokens.emplace_back(d.tokens[i], d.tokens[i + 1]);
  rows.revoked = d.revoked;
  return rows;
}

/// The answer for a request whose owner cannot be reached.
forward_response unavailable(const std::string& owner, int status = 503) {
  return status == 504
             ? error_answer(504, "owner_timeout",
                            "the node " + owner
                                + " owning this company did not answer in time")
             : error_answer(503, "owner_unavailable",
                            "the node " + owner
                                + " owning this company is down; retry "
                                  "shortly");
}

void touch(cluster_pointer self, const std::string& name) {
  if (auto i = self->state.peers.find(name); i != self->state.peers.end())
    i->second.heard = steady::now();
}

void finish_out(cluster_pointer self, std::uint64_t id, forward_response r) {
  auto& st = self->state;
  auto i = st.out.find(id);
  if (i == st.out.end())
    return;
  i->second.rp.deliver(std::move(r));
  st.out.erase(i);
  --st.deps.view->forwards_in_flight;
}

void mark_down(cluster_pointer self, peer& p, const char* why) {
  auto& st = self->state;
  if (p.up)
    log::get(log::subsystem::cluster)
        ->warn("member {} is down ({})", p.member.name, why);
  p.up = false;
  p.connecting = false;
  p.has_tenants = false;
  if (p.handle)
    self->demonitor(p.handle.address());
  p.handle = nullptr;
  p.link.clear();
  p.has_presence = false;
  st.deps.view->set_up(p.member.name, false);
  if (st.deps.remote_presence)
    st.deps.remote_presence(p.member.name, {});
  std::vector<std::uint64_t> failed;
  for (const auto& [id, f] : st.out)
    if (f.owner == p.member.name)
      failed.push_back(id);
  for (auto id : failed) {
    ++st.deps.view->owner_down;
    finish_out(self, id, unavailable(p.member.name));
  }
}

void connect(cluster_pointer self, peer& p) {
  p.connecting = true;
  p.attempt = steady::now();
  auto name = p.member.name;
  auto lg = log::get(log::subsystem::cluster);
  auto give_up = [self, name, lg](const caf::error& err) {
    if (err)
      lg->debug("joining {}: {}", name, self->system().render(err));
    if (auto i = self->state.peers.find(name); i != self->state.peers.end())
      i->second.connecting = false;
  };
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, std::chrono::seconds(2), caf::connect_atom::value,
                p.member.host, p.member.port)
      .then(
          [self, name, give_up, lg](const caf::node_id&,
                                    caf::strong_actor_ptr& ptr,
                                    const std::set<std::string>& ifs) {
            auto expected_ifs = self->system().message_types(
                caf::detail::type_list<cluster_actor>{});
            if (!ptr || ifs != expected_ifs) {
              lg->warn("{} has no cluster actor of this version on its port",
                       name);
              give_up(caf::error{});
              return;
            }
            auto h = caf::actor_cast<cluster_actor>(ptr);
            auto& st = self->state;
            lg->debug("connected to {}; sending the proof", name);
            // The joiner proves itself first: a fresh nonce and the time,
            // MACed with the secret for this member. Only then does the
            // member answer, with its proof over the joiner's nonce.
            auto nonce = random_nonce() + ":" + std::to_string(wall_ms());
            auto proof = cluster_mac(
                st.deps.secret,
                cluster_proof_text(st.self_name, name, "", nonce));
            self->request(h, std::chrono::seconds(2), hello_atom::value,
                          cluster_hello{st.self_name, cluster_protocol_version,
                                        nonce, proof})
                .then(
                    [self, name, h, nonce, give_up,
                     lg](const cluster_hello& r) {
                      auto& st = self->state;
                      auto want = cluster_mac(
                          st.deps.secret, cluster_proof_text(name, st.self_name,
                                                             nonce, r.nonce));
                      if (r.node != name
                          || r.version != cluster_protocol_version
                          || !store::same_hex_mac(r.mac, want)) {
                        lg->warn("{} failed the handshake (name {}, protocol "
                                 "{}, or another secret)",
                                 name, r.node, r.version);
                        give_up(caf::error{});
                        return;
                      }
                      auto i = st.peers.find(name);
                      if (i == st.peers.end())
                        return;
                      auto& p = i->second;
                      p.connecting = false;
                      p.handle = h;
                      p.link = cluster_link_key(st.deps.secret, st.self_name,
                                                name, nonce, r.nonce);
                      p.has_presence = false;
                      p.up = true;
                      p.heard = steady::now();
                      p.has_tenants = false;
                      self->monitor(h);
                      st.deps.view->set_up(name, true);
                      lg->info("member {} is up", name);
                    },
                    give_up);
          },
          give_up);
}

void send_tenants(cluster_pointer self) {
  auto& st = self->state;
  if (st.deps.tenants == nullptr)
    return;
  auto rows = st.deps.tenants->rows();
  if (!rows) {
    log::get(log::subsystem::cluster)
        ->warn("reading the tenants: {}", store::to_string(rows.error()));
    return;
  }
  auto h = rows_hash(*rows);
  if (h != st.tenants_hash) {
    st.tenants_hash = h;
    for (auto& [name, p] : st.peers)
      p.has_tenants = false;
  }
  std::optional<tenant_digest> d;
  for (auto& [name, p] : st.peers) {
    if (!p.up || p.has_tenants)
      continue;
    if (!d)
      d = to_digest(*rows);
    // The placement first: a member that learns the tokens already knows
    // which companies it does not own.
    if (st.deps.cluster_store != nullptr)
      self->send(p.handle, placement_atom::value, p.link,
                 to_wire(st.deps.view->placement()));
    self->send(p.handle, tenants_atom::value, p.link, *d);
    p.has_tenants = true;
  }
}

/// Sends this node's presence members to the members that are up (all
/// of them when `all`, else those that have not had them).
void send_presence(cluster_pointer self, bool all = false) {
  auto& st = self->state;
  if (!st.deps.local_presence)
    return;
  std::optional<presence_digest> d;
  for (auto& [name, p] : st.peers) {
    if (!p.up || (p.has_presence && !all))
      continue;
    if (!d)
      d = presence_digest{st.deps.local_presence()};
    self->send(p.handle, presence_atom::value, p.link, *d);
    p.has_presence = true;
  }
}

void tick(cluster_pointer self) {
  auto& st = self->state;
  auto now = steady::now();
  for (auto& [name, p] : st.peers) {
    if (p.up) {
      if (now - p.heard > st.deps.down_after) {
        mark_down(self, p, "silent");
        continue;
      }
      self->send(p.handle, heartbeat_atom::value, p.link, st.self_name);
    } else if (p.connecting && now - p.attempt > std::chrono::seconds(5)) {
      p.connecting = false;
    } else if (!p.connecting
               && now - p.attempt >= std::chrono::milliseconds(250)) {
      connect(self, p);
    }
  }
  // The placement table every second (and the first one, once all are up).
  if (st.ticks % 5 == 0 && st.deps.cluster_store != nullptr) {
    send_placement(self);
    maybe_first_table(self);
  }
  // Tenants every second, and at once to a member that came up.
  if (++st.ticks % 5 == 0
      || std::any_of(st.peers.begin(), st.peers.end(), [](const auto& kv) {
           return kv.second.up && !kv.second.has_tenants;
         }))
    send_tenants(self);
  // Presence members at once to a member that came up.
  if (std::any_of(st.peers.begin(), st.peers.end(), [](const auto& kv) {
        return kv.second.up && !kv.second.has_presence;
      }))
    send_presence(self);
  self->delayed_send(self, st.deps.heartbeat, tick_atom::value);
}

cluster_actor::behavior_type cluster(cluster_pointer self, cluster_deps deps) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.self_name = st.deps.view->self();
  for (const auto& m : st.deps.members)
    if (m.name != st.self_name)
      st.peers[m.name].member = m;
  // What strangers send goes nowhere, not even an error back (logged at
  // debug level, to tell a dropped message from a lost one).
  self->set_default_handler(
      [](caf::scheduled_actor* a,
         caf::message_view& x) -> caf::result<caf::message> {
        if (auto lg = log::get(log::subsystem::cluster);
            lg->should_log(spdlog::level::debug))
          lg->debug("dropped a message from {}: {}",
                    caf::to_string(a->current_sender()),
                    caf::to_string(x.copy_content_to_message()));
        return caf::drop(a, x);
      });
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& [name, p] : st.peers)
      if (p.handle && p.handle.address() == dm.source)
        mark_down(self, p, "connection lost");
    if (auto j = st.joined.find(dm.source.node()); j != st.joined.end()) {
      // What it told us of its presence members goes with it.
      if (st.deps.remote_presence)
        st.deps.remote_presence(j->second.name, {});
      st.joined.erase(j);
    }
  });
  load_placement(self);
  self->send(self, tick_atom::value);
  auto lg = log::get(log::subsystem::cluster);
  auto silent = [self]() {
    return self->make_response_promise<forward_response>();
  };
  return {
      [self, lg](hello_atom,
                 const cluster_hello& h) -> caf::result<cluster_hello> {
        auto& st = self->state;
        // A copy: making the promise takes the sender out of the message.
        auto sender = self->current_sender();
        auto rp = self->make_response_promise<cluster_hello>();
        if (!sender || sender->node() == self->node())
          return rp;
        auto refuse = [&](const char* why) {
          lg->warn("refused a join from {} (as \"{}\"): {}",
                   to_string(sender->node()), h.node.substr(0, 64), why);
          return rp;
        };
        if (h.version != cluster_protocol_version)
          return refuse("another protocol version");
        if (st.peers.count(h.node) == 0)
          return refuse("not a member");
        // nonce = 64 hex digits ':' the joiner's clock in ms.
        auto colon = h.nonce.find(':');
        if (colon != 64 || h.nonce.size() > 96)
          return refuse("malformed nonce");
        auto want = cluster_mac(
            st.deps.secret,
            cluster_proof_text(h.node, st.self_name, "", h.nonce));
        if (!store::same_hex_mac(h.mac, want))
          return refuse("wrong proof (another secret?)");
        std::int64_t sent = 0;
        try {
          sent = std::stoll(h.nonce.substr(colon + 1));
        } catch (...) {
          return refuse("malformed nonce");
        }
        auto now = wall_ms();
        if (sent < now - max_skew_ms || sent > now + max_skew_ms)
          return refuse("its clock is more than 60 s off (or a replay)");
        // A proof is good once: a replay within the window is refused.
        auto& seen = st.seen_nonces;
        while (!seen.empty() && seen.begin()->first < now - max_skew_ms)
          seen.erase(seen.begin());
        for (const auto& [t, n] : seen)
          if (n == h.nonce)
            return refuse("a replayed proof");
        seen.emplace(sent, h.nonce);
        auto nonce = random_nonce();
        st.joined[sender->node()]
            = {h.node, cluster_link_key(st.deps.secret, h.node, st.self_name,
                                        h.nonce, nonce)};
        self->monitor(sender);
        touch(self, h.node);
        lg->info("member {} joined", h.node);
        rp.deliver(cluster_hello{
            st.self_name, cluster_protocol_version, nonce,
            cluster_mac(st.deps.secret, cluster_proof_text(st.self_name, h.node,
                                                           h.nonce, nonce))});
        return rp;
      },
      [self](auth_atom, const cluster_hello&) -> caf::result<ok_atom> {
        return self->make_response_promise<ok_atom>();
      },
      [self](heartbeat_atom, const std::string& link, const std::string&) {
        trusted_sender(self, link);
      },
      [self, silent](forward_atom, const std::string& link,
                     forward_request& req) -> caf::result<forward_response> {
        if (trusted_sender(self, link).empty())
          return silent();
        auto& st = self->state;
        auto id = st.next_id++;
        auto rp = self->make_response_promise<forward_response>();
        st.in.emplace(id, rp);
        auto me = caf::actor_cast<cluster_actor>(self);
        auto key = st.deps.local_key;
        st.deps.local_http(std::move(req), [me, key, id](forward_response r) {
          caf::anon_send(me, done_atom::value, key, id, std::move(r));
        });
        return rp;
      },
      [self, silent](forward_atom, std::uint64_t key, const std::string& owner,
                     forward_request& req) -> caf::result<forward_response> {
        auto& st = self->state;
        if (key != st.deps.local_key)
          return silent();
        auto i = st.peers.find(owner);
        if (i == st.peers.end() || !i->second.up) {
          ++st.deps.view->owner_down;
          return unavailable(owner);
        }
        auto id = st.next_id++;
        auto rp = self->make_response_promise<forward_response>();
        st.out.emplace(id, forward_out{owner, rp});
        ++st.deps.view->forwards_in_flight;
        ++st.deps.view->forwarded;
        self->request(i->second.handle, st.deps.forward_timeout,
                      forward_atom::value, i->second.link, std::move(req))
            .then(
                [self, id](forward_response& r) {
                  finish_out(self, id, std::move(r));
                },
                [self, id, owner](caf::error& e) {
                  finish_out(self, id,
                             unavailable(owner, e == caf::sec::request_timeout
                                                    ? 504
                                                    : 503));
                });
        return rp;
      },
      [self](done_atom, std::uint64_t key, std::uint64_t id,
             forward_response& r) {
        auto& st = self->state;
        if (key != st.deps.local_key)
          return;
        auto i = st.in.find(id);
        if (i == st.in.end())
          return;
        i->second.deliver(std::move(r));
        st.in.erase(i);
      },
      [self](events_atom, const std::string& link,
             std::vector<envelope>& events) {
        if (trusted_sender(self, link).empty())
          return;
        if (self->state.deps.remote_events)
          self->state.deps.remote_events(events);
      },
      [self](events_atom, std::uint64_t key, std::vector<envelope>& events) {
        if (key == self->state.deps.local_key)
          send_to_up_members(self, events_atom::value, events);
      },
      [self, lg](tenants_atom, const std::string& link, tenant_digest& d) {
        auto name = trusted_sender(self, link);
        if (name.empty())
          return;
        auto& st = self->state;
        if (st.deps.tenants == nullptr || !st.deps.writer)
          return;
        auto rows = std::make_shared<store::tenant_rows>(from_digest(d));
        if (rows_hash(*rows) == st.tenants_hash)
          return;
        auto* tenants = st.deps.tenants;
        auto changed = std::make_shared<std::size_t>(0);
        auto op = [tenants, rows,
                   changed](store::write_txn& txn) -> store::result<void> {
          auto n = tenants->merge_in(txn, *rows);
          if (!n)
            return make_unexpected(n.error());
          *changed = *n;
          return {};
        };
        self->request(st.deps.writer, caf::infinite, write_atom::value,
                      make_write_op(op))
            .then(
                [lg, name, changed](ok_atom) {
                  if (*changed > 0)
                    lg->info("{} tenant row(s) merged from {}", *changed, name);
                },
                [lg, name](caf::error& e) {
                  lg->warn("merging tenants from {}: {}", name, to_string(e));
                });
      },
      [self](placement_atom, const std::string& link, cluster_placement& p) {
        auto name = trusted_sender(self, link);
        if (name.empty())
          return;
        auto& st = self->state;
        if (auto i = st.peers.find(name); i != st.peers.end()) {
          i->second.epoch = p.epoch;
          i->second.epoch_known = true;
        }
        auto mine = st.deps.view->placement();
        if (p.epoch == mine.epoch && p.epoch > 0 && !st.conflict_logged
            && (p.basis != mine.basis || from_wire(p).moved != mine.moved)) {
          st.conflict_logged = true;
          log::get(log::subsystem::cluster)
              ->error("{} has another placement table of epoch {} (were the "
                      "members started with different [cluster] peers?)",
                      name, p.epoch);
        }
        if (p.epoch > mine.epoch)
          adopt_table(self, from_wire(p), [](bool) {});
      },
      [self](adopt_atom, const std::string& link,
             cluster_placement& p) -> caf::result<std::uint64_t> {
        auto [name, rp] = trusted_request<std::uint64_t>(self, link);
        if (name.empty())
          return rp;
        adopt_table(self, from_wire(p), [self, rp = rp](bool) mutable {
          rp.deliver(self->state.deps.view->placement().epoch);
        });
        return rp;
      },
      [self](move_atom, std::uint64_t key, std::string& company,
             std::string& to) -> caf::result<forward_response> {
        auto& st = self->state;
        if (key != st.deps.local_key)
          return self->make_response_promise<forward_response>();
        auto& view = *st.deps.view;
        const auto& members = view.members();
        if (st.deps.cluster_store == nullptr || st.deps.jobs == nullptr
            || st.deps.events == nullptr)
          return error_answer(409, "not_supported",
                              "this node cannot move companies");
        if (std::find(members.begin(), members.end(), to) == members.end())
          return error_answer(422, "unknown_member",
                              to + " is not a member of the cluster");
        if (view.placement().epoch == 0)
          return error_answer(409, "placement_pending",
                              "the members have not agreed on a placement "
                              "table yet (every member must have been up "
                              "together once)");
        if (view.owner(company) != st.self_name)
          return error_answer(409, "not_owner",
                              "this node (" + st.self_name
                                  + ") does not own company " + company);
        if (to == st.self_name)
          return error_answer(409, "already_owner",
                              "company " + company + " is owned by " + to
                                  + " already");
        for (const auto& [name, p] : st.peers)
          if (!p.up)
            return error_answer(409, "member_down",
                                "member " + name
                                    + " is down: a move waits until every "
                                      "member is up");
        if (st.moves.count(company) > 0 || !view.freeze(company))
          return error_answer(409, "move_in_progress",
                              "company " + company + " is moving already");
        auto& m = st.moves[company];
        m.to = to;
        m.started = steady::now();
        m.rp = self->make_response_promise<forward_response>();
        log::get(log::subsystem::cluster)
            ->info("moving company {} to {}", company, to);
        move_step(self, company);
        return m.rp;
      },
      [self](move_atom, std::uint64_t key, const std::string& company) {
        if (key != self->state.deps.local_key)
          return;
        move_step(self, company);
      },
      [self](import_atom, const std::string& link,
             company_transfer& tr) -> caf::result<std::uint64_t> {
        auto [name, rp] = trusted_request<std::uint64_t>(self, link);
        if (name.empty())
          return rp;
        auto& st = self->state;
        log::get(log::subsystem::cluster)
            ->debug("a part of company {} from {}: {} events{}", tr.company,
                    name, tr.events.size(), tr.last ? " (the last)" : "");
        if (st.deps.cluster_store == nullptr || st.deps.events == nullptr
            || st.deps.view->owner(tr.company) == st.self_name
            || st.deps.view->owner(tr.company) != name) {
          // Only the owner sends a company's data, and never to itself.
          rp.deliver(caf::make_error(caf::sec::invalid_argument));
          return rp;
        }
        import_part(self, tr, rp);
        return rp;
      },
      [self](presence_atom, const std::string& link, presence_digest& d) {
        auto name = trusted_sender(self, link);
        if (name.empty() || !self->state.deps.remote_presence)
          return;
        self->state.deps.remote_presence(name, d.members);
      },
      [self](presence_atom, std::uint64_t key, bool due) {
        auto& st = self->state;
        if (key != st.deps.local_key)
          return;
        if (!due) {
          // Changes within a few milliseconds go out as one list.
          if (!st.presence_scheduled) {
            st.presence_scheduled = true;
            self->delayed_send(self, std::chrono::milliseconds(10),
                               presence_atom::value, key, true);
          }
          return;
        }
        st.presence_scheduled = false;
        send_presence(self, true);
      },
      [self](publish_atom, const std::string& link, channel_message& m) {
        if (trusted_sender(self, link).empty()
            || !self->state.deps.remote_publish)
          return;
        self->state.deps.remote_publish(m);
      },
      [self](publish_atom, std::uint64_t key, channel_message& m) {
        if (key == self->state.deps.local_key)
          send_to_up_members(self, publish_atom::value, m);
      },
      [self](tick_atom) {
        if (self->current_sender().get() != self->ctrl())
          return;
        tick(self);
      },
  };
}

} // namespace

std::string cluster_mac(std::string_view key, std::string_view text) {
  return store::hmac_sha256_hex(key, text);
}

std::string cluster_link_key(std::string_view secret, std::string_view joiner,
                             std::string_view member,
                             std::string_view joiner_nonce,
                             std::string_view member_nonce) {
  std::string text = "switchboard-cluster-link/1\n";
  text.append(joiner).append("\n").append(member).append("\n");
  text.append(joiner_nonce).append("\n").append(member_nonce);
  return cluster_mac(secret, text);
}

std::string cluster_proof_text(std::string_view prover,
                               std::string_view verifier,
                               std::string_view verifier_nonce,
                               std::string_view prover_nonce) {
  std::string out = "switchboard-cluster-join/1\n";
  out.append(prover).append("\n");
  out.append(verifier).append("\n");
  out.append(verifier_nonce).append("\n");
  out.append(prover_nonce);
  return out;
}

expected<cluster_actor, std::string> start_cluster(caf::actor_system& sys,
                                                   cluster_deps deps,
                                                   const std::string& host,
                                                   std::uint16_t port) {
  auto h = sys.spawn(cluster, std::move(deps));
  auto bound = sys.middleman().publish(h, port, host.c_str(), true);
  if (!bound) {
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    return make_unexpected("cannot publish the cluster actor on " + host + ":"
                           + std::to_string(port) + ": "
                           + sys.render(bound.error()));
  }
  log::get(log::subsystem::cluster)
      ->info("cluster listening on {}:{}", host, *bound);
  return h;
}

} // namespace switchboard
