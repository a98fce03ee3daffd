#include "actors/cluster.hpp"

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

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <actors/log.hpp>
#include <store/audit_log.hpp>
#include <store/cluster_state.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/tenants.hpp>

namespace switchboard {

namespace {

using steady = std::chrono::steady_clock;

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 0xf]);
  }
  return out;
}

/// 32 random bytes in hex; empty when the system has no randomness.
std::string random_nonce() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1)
    return {};
  return hex(buf, sizeof buf);
}

/// Compares two MACs in constant time.
bool same_mac(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size()
         && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// A member other than this node, as the joiner sees it.
struct peer {
  cluster_member member;
  cluster_actor handle; ///< After our handshake with it.
  bool up = false;
  bool connecting = false;
  steady::time_point attempt{};
  steady::time_point heard{};
  /// Whether it has our tenants' current rows.
  bool has_tenants = false;
  /// The epoch of its placement table, once it told us.
  std::uint64_t epoch = 0;
  bool epoch_known = false;
};

/// A company this node is moving to another member.
struct move_state {
  std::string to;
  caf::typed_response_promise<forward_response> rp;
  steady::time_point started{};
  /// Its pending jobs, taken from the queues and parked (job records).
  std::vector<std::string> parked;
  bool jobs_taken = false;
  std::uint64_t next_seq = 0;
  std::uint64_t events = 0;
  std::size_t settings = 0;
};

/// How far a joiner's clock may be off (and how long a proof is kept).
constexpr std::int64_t max_skew_ms = 60000;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct forward_out {
  std::string owner;
  caf::typed_response_promise<forward_response> rp;
};

struct cluster_state {
  cluster_deps deps;
  std::string self_name;
  std::map<std::string, peer, std::less<>> peers;
  /// Nodes that proved the secret to us: node → member name.
  std::map<caf::node_id, std::string> joined;
  /// Join proofs seen in the last minute (time sent, nonce).
  std::multimap<std::int64_t, std::string> seen_nonces;
  std::map<std::uint64_t, forward_out> out;
  std::map<std::uint64_t, caf::typed_response_promise<forward_response>> in;
  std::uint64_t next_id = 1;
  std::uint64_t tenants_hash = 0;
  std::uint64_t ticks = 0;
  /// Moves in progress, by company.
  std::map<std::string, move_state, std::less<>> moves;
  /// Companies with parked jobs in the store.
  std::set<std::string, std::less<>> parked;
  /// The highest epoch submitted to the store (tables are written in
  /// increasing epochs only).
  std::uint64_t stored_epoch = 0;
  bool conflict_logged = false;
  static inline const char* name = "cluster";
};

using cluster_pointer = cluster_actor::stateful_pointer<cluster_state>;

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

// -- placement ----------------------------------------------------------------

placement_table from_wire(const cluster_placement& p) {
  placement_table t;
  t.epoch = p.epoch;
  t.basis = p.basis;
  for (std::size_t i = 0; i + 1 < p.moved.size(); i += 2)
    t.moved[p.moved[i]] = p.moved[i + 1];
  return t;
}

cluster_placement to_wire(const placement_table& t) {
  cluster_placement p;
  p.epoch = t.epoch;
  p.basis = t.basis;
  for (const auto& [company, member] : t.moved) {
    p.moved.push_back(company);
    p.moved.push_back(member);
  }
  return p;
}

store::placement_record to_record(const placement_table& t) {
  store::placement_record r;
  r.epoch = t.epoch;
  r.basis = t.basis;
  for (const auto& [company, member] : t.moved)
    r.moved.emplace_back(company, member);
  return r;
}

placement_table from_record(const store::placement_record& r) {
  placement_table t;
  t.epoch = r.epoch;
  t.basis = r.basis;
  for (const auto& [company, member] : r.moved)
    t.moved[company] = member;
  return t;
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

/// The member name of the sender when it is a remote node that has
/// joined; "" otherwise (no sender, a local one, or a stranger).
std::string trusted_sender(cluster_pointer self) {
  const auto& sender = self->current_sender();
  if (!sender || sender->node() == self->node())
    return {};
  auto& st = self->state;
  if (auto i = st.joined.find(sender->node()); i != st.joined.end())
    return i->second;
  return {};
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
  st.deps.view->set_up(p.member.name, false);
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
                          || !same_mac(r.mac, want)) {
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
      self->send(p.handle, placement_atom::value,
                 to_wire(st.deps.view->placement()));
    self->send(p.handle, tenants_atom::value, *d);
    p.has_tenants = true;
  }
}

/// Runs `op` in the store writer's next commit (nested: all or nothing),
/// then `ok()` or `fail(error)` on this actor.
template <class Ok, class Fail>
void write(cluster_pointer self, store::writer::op_fn op, Ok ok, Fail fail) {
  self->request(self->state.deps.writer, caf::infinite, write_atom::value,
                make_write_op(std::move(op), store::isolation::nested))
      .then(
          [ok](ok_atom) mutable {
            ok();
          },
          [fail](caf::error& e) mutable {
            fail(e);
          });
}

/// Takes `company`'s parked jobs out of the store inside `txn` and, when
/// `enqueue`, puts them in the queues (else they are dropped); returns
/// how many were enqueued.
store::result<std::size_t> settle_parked_in(store::write_txn& txn,
                                            store::cluster_state& cs,
                                            store::job_queue& q,
                                            const std::string& company,
                                            bool enqueue) {
  auto recs = cs.take_parked_in(txn, company);
  if (!recs)
    return make_unexpected(recs.error());
  if (!enqueue)
    return std::size_t{0};
  for (const auto& r : *recs) {
    auto j = store::decode_job_record(r);
    if (!j)
      return make_unexpected(j.error());
    if (auto e = q.enqueue_in(txn, *j); !e)
      return make_unexpected(e.error());
  }
  return recs->size();
}

/// Stores table `t` and takes it, when it is newer than any stored; in
/// the same transaction the parked jobs of every company are settled: the
/// member `t` makes its owner enqueues them, any other drops them. Calls
/// `done(true)` once taken, `done(false)` when older or not stored.
void adopt_table(cluster_pointer self, placement_table t,
                 std::function<void(bool)> done) {
  auto& st = self->state;
  if (t.epoch <= st.stored_epoch || t.epoch <= st.deps.view->placement().epoch
      || st.deps.cluster_store == nullptr || st.deps.jobs == nullptr) {
    done(false);
    return;
  }
  st.stored_epoch = t.epoch;
  auto companies = std::vector<std::string>(st.parked.begin(), st.parked.end());
  auto* cs = st.deps.cluster_store;
  auto* q = st.deps.jobs;
  auto me = st.self_name;
  auto enqueued = std::make_shared<std::size_t>(0);
  auto rec = to_record(t);
  write(
      self,
      [cs, q, me, t, rec, companies,
       enqueued](store::write_txn& txn) -> store::result<void> {
        *enqueued = 0;
        if (auto ok = cs->set_placement_in(txn, rec); !ok)
          return ok;
        for (const auto& c : companies) {
          auto n = settle_parked_in(txn, *cs, *q, c, t.owner(c) == me);
          if (!n)
            return make_unexpected(n.error());
          *enqueued += *n;
        }
        return {};
      },
      [self, t, companies, enqueued, done]() {
        auto& st = self->state;
        for (const auto& c : companies)
          st.parked.erase(c);
        // The companies whose owner changed to or from this node: what it
        // holds of them in memory goes (only moved companies can change).
        auto before = st.deps.view->placement();
        auto owner_before = [&](const std::string& c) {
          return before.epoch == 0
                     ? rendezvous_owner(st.deps.view->members(), c)
                     : before.owner(c);
        };
        std::set<std::string> changed;
        using moves = std::map<std::string, std::string, std::less<>>;
        const moves* both[] = {&before.moved, &t.moved};
        for (const moves* m : both)
          for (const auto& [c, member] : *m)
            if (owner_before(c) != t.owner(c)
                && (owner_before(c) == st.self_name
                    || t.owner(c) == st.self_name))
              changed.insert(c);
        st.deps.view->adopt(t);
        if (st.deps.release_company)
          for (const auto& c : changed)
            st.deps.release_company(c);
        log::get(log::subsystem::cluster)
            ->info("placement table epoch {} taken ({} "
                   "compan{} moved; {} parked job(s) "
                   "enqueued)",
                   t.epoch, t.moved.size(), t.moved.size() == 1 ? "y" : "ies",
                   *enqueued);
        if (*enqueued > 0 && st.deps.wake_queues)
          st.deps.wake_queues();
        done(true);
      },
      [self, t, done](caf::error& e) {
        log::get(log::subsystem::cluster)
            ->warn("storing placement table epoch {}: {}", t.epoch,
                   self->system().render(e));
        done(false);
      });
}

/// Sends this node's table to the members that are up.
void send_placement(cluster_pointer self) {
  auto& st = self->state;
  auto wire = to_wire(st.deps.view->placement());
  for (auto& [name, p] : st.peers)
    if (p.up)
      self->send(p.handle, placement_atom::value, wire);
}

/// The first table: once every member is up and none has one, each
/// writes the same (epoch 1, the hash over the configured members), so
/// that from then on adding a member moves nothing by itself.
void maybe_first_table(cluster_pointer self) {
  auto& st = self->state;
  if (st.deps.view->placement().epoch != 0 || st.stored_epoch != 0)
    return;
  for (const auto& [name, p] : st.peers)
    if (!p.up || !p.epoch_known || p.epoch != 0)
      return;
  placement_table t;
  t.epoch = 1;
  t.basis = st.deps.view->members();
  adopt_table(self, std::move(t), [self](bool ok) {
    if (ok)
      send_placement(self);
  });
}

// -- moving a company ---------------------------------------------------------

void move_step(cluster_pointer self, const std::string& company);

/// Ends a move that did not switch the owner: the parked jobs go back to
/// the queues, the company's writes resume, and the caller gets `answer`.
void abort_move(cluster_pointer self, const std::string& company,
                forward_response answer) {
  auto& st = self->state;
  auto i = st.moves.find(company);
  if (i == st.moves.end())
    return;
  log::get(log::subsystem::cluster)
      ->warn("moving company {} to {} failed: {}", company, i->second.to,
             answer.body);
  auto finish = [self, company, answer]() mutable {
    auto& st = self->state;
    auto i = st.moves.find(company);
    if (i == st.moves.end())
      return;
    st.deps.view->unfreeze(company);
    i->second.rp.deliver(std::move(answer));
    st.moves.erase(i);
  };
  if (!i->second.jobs_taken) {
    finish();
    return;
  }
  auto* cs = st.deps.cluster_store;
  auto* q = st.deps.jobs;
  write(
      self,
      [cs, q, company](store::write_txn& txn) -> store::result<void> {
        auto n = settle_parked_in(txn, *cs, *q, company, true);
        if (!n)
          return make_unexpected(n.error());
        return {};
      },
      [self, company, finish]() mutable {
        self->state.parked.erase(company);
        if (self->state.deps.wake_queues)
          self->state.deps.wake_queues();
        finish();
      },
      [self, company, finish](caf::error& e) mutable {
        // They stay parked; the next start of this node enqueues them
        // (it still owns the company).
        log::get(log::subsystem::cluster)
            ->error("putting back the jobs of {}: {}", company,
                    self->system().render(e));
        finish();
      });
}

/// The data is at the new owner: the new table (this node first, then
/// every member), and the answer.
void switch_owner(cluster_pointer self, const std::string& company) {
  auto& st = self->state;
  auto i = st.moves.find(company);
  if (i == st.moves.end())
    return;
  auto t = st.deps.view->placement();
  t.epoch = std::max(t.epoch, st.stored_epoch) + 1;
  if (rendezvous_owner(t.basis, company) == i->second.to)
    t.moved.erase(company);
  else
    t.moved[company] = i->second.to;
  adopt_table(self, t, [self, company, t](bool ok) {
    auto& st = self->state;
    auto i = st.moves.find(company);
    if (i == st.moves.end())
      return;
    if (!ok) {
      abort_move(self, company,
                 error_answer(503, "move_failed",
                              "the new placement table could not be stored "
                              "here; nothing moved"));
      return;
    }
    auto wire = to_wire(t);
    for (auto& [name, p] : st.peers)
      if (p.up)
        self->request(p.handle, std::chrono::seconds(10), adopt_atom::value,
                      wire)
            .then([](std::uint64_t) {},
                  [self, name = name](caf::error& e) {
                    // It gets the table with the next exchange.
                    log::get(log::subsystem::cluster)
                        ->warn("{} did not take the new "
                               "placement table yet: {}",
                               name, self->system().render(e));
                  });
    auto& m = i->second;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  steady::now() - m.started)
                  .count();
    log::get(log::subsystem::cluster)
        ->info("company {} moved to {} ({} events, {} jobs, "
               "{} settings, {} ms; epoch {})",
               company, m.to, m.events, m.parked.size(), m.settings, ms,
               t.epoch);
    st.deps.view->unfreeze(company);
    m.rp.deliver(json_answer(200, boost::json::object{{"company_id", company},
                                                      {"from", st.self_name},
                                                      {"to", m.to},
                                                      {"epoch", t.epoch},
                                                      {"events", m.events},
                                                      {"jobs", m.parked.size()},
                                                      {"settings", m.settings},
                                                      {"ms", ms}}));
    st.moves.erase(i);
  });
}

/// One step of a move: wait for the writes in flight, take the jobs, send
/// the events a part at a time, then the settings and jobs, then switch.
void move_step(cluster_pointer self, const std::string& company) {
  auto& st = self->state;
  auto i = st.moves.find(company);
  if (i == st.moves.end())
    return;
  auto& m = i->second;
  auto again = [self, company](std::chrono::milliseconds d) {
    self->delayed_send(self, d, move_atom::value, self->state.deps.local_key,
                       company);
  };
  auto late = steady::now() - m.started > st.deps.move_drain_timeout;
  auto peer = st.peers.find(m.to);
  if (peer == st.peers.end() || !peer->second.up) {
    abort_move(self, company,
               error_answer(503, "member_down",
                            "member " + m.to + " went down; nothing moved"));
    return;
  }
  if (!m.jobs_taken) {
    if (st.deps.view->writes_in_flight(company) > 0) {
      if (late)
        abort_move(self, company,
                   error_answer(503, "move_timeout",
                                "writes of the company were still in flight "
                                "after the move's wait; nothing moved"));
      else
        again(std::chrono::milliseconds(10));
      return;
    }
    log::get(log::subsystem::cluster)
        ->debug("taking the pending jobs of {}", company);
    // Its pending jobs leave the queues for the parked list, in one
    // transaction, once none of them runs.
    auto taken = std::make_shared<std::vector<std::string>>();
    auto running = std::make_shared<bool>(false);
    auto* cs = st.deps.cluster_store;
    auto* q = st.deps.jobs;
    write(
        self,
        [cs, q, company, taken,
         running](store::write_txn& txn) -> store::result<void> {
          taken->clear();
          auto jobs = q->take_company_in(txn, company);
          if (!jobs) {
            *running = jobs.error().code == store::errc::version_conflict;
            return make_unexpected(jobs.error());
          }
          for (const auto& j : *jobs)
            taken->push_back(store::encode_job_record(j));
          // Stale ones of an earlier attempt go first.
          if (auto old = cs->take_parked_in(txn, company); !old)
            return make_unexpected(old.error());
          return cs->park_in(txn, company, *taken);
        },
        [self, company, taken]() {
          auto& st = self->state;
          auto i = st.moves.find(company);
          if (i == st.moves.end())
            return;
          st.parked.insert(company);
          i->second.parked = std::move(*taken);
          i->second.jobs_taken = true;
          move_step(self, company);
        },
        [self, company, running, late, again](caf::error& e) {
          if (*running && !late) {
            again(std::chrono::milliseconds(20));
            return;
          }
          abort_move(self, company,
                     error_answer(503,
                                  *running ? "move_timeout" : "move_failed",
                                  *running ? "jobs of the company were still "
                                             "running after the move's wait; "
                                             "nothing moved"
                                           : "taking the company's jobs: "
                                                 + self->system().render(e)));
        });
    return;
  }
  company_transfer tr;
  tr.company = company;
  constexpr std::size_t part_events = 500;
  auto events
      = st.deps.events->read_by_company(company, m.next_seq, part_events);
  if (!events) {
    abort_move(self, company,
               error_answer(500, "move_failed",
                            "reading the company's events: "
                                + store::to_string(events.error())));
    return;
  }
  if (!events->empty()) {
    m.next_seq = events->back().sequence + 1;
    tr.events = std::move(*events);
  } else {
    auto settings = st.deps.tenants->settings_of(company);
    if (!settings) {
      abort_move(self, company,
                 error_answer(500, "move_failed",
                              "reading the company's settings: "
                                  + store::to_string(settings.error())));
      return;
    }
    for (auto& [name, text] : *settings) {
      tr.settings.push_back(std::move(name));
      tr.settings.push_back(std::move(text));
    }
    m.settings = settings->size();
    tr.jobs = m.parked;
    tr.last = true;
  }
  auto last = tr.last;
  log::get(log::subsystem::cluster)
      ->debug("sending {} events of {} to {}{}", tr.events.size(), company,
              m.to, last ? " (the last part)" : "");
  self->request(peer->second.handle, std::chrono::seconds(60),
                import_atom::value, std::move(tr))
      .then(
          [self, company, last](std::uint64_t stored) {
            auto i = self->state.moves.find(company);
            if (i == self->state.moves.end())
              return;
            i->second.events += stored;
            if (last)
              switch_owner(self, company);
            else
              move_step(self, company);
          },
          [self, company](caf::error& e) {
            abort_move(self, company,
                       error_answer(503, "move_failed",
                                    "the new owner did not store the data: "
                                        + self->system().render(e)
                                        + "; nothing moved"));
          });
}

/// Stores a part of a company moving here (see `company_transfer`): its
/// events (those stored before are skipped, so a part sent again changes
/// nothing), then its settings and its jobs, parked until the placement
/// makes this node the owner.
void import_part(cluster_pointer self, company_transfer& tr,
                 caf::typed_response_promise<std::uint64_t> rp) {
  auto& st = self->state;
  const auto& company = tr.company;
  auto fresh = std::make_shared<std::vector<envelope>>();
  for (auto& e : tr.events) {
    if (e.company_id != company) {
      rp.deliver(caf::make_error(caf::sec::invalid_argument));
      return;
    }
    auto seq = st.deps.events->find_event(company, e.id);
    if (seq)
      continue;
    if (seq.error().code != store::errc::not_found) {
      rp.deliver(caf::make_error(caf::sec::runtime_error));
      return;
    }
    fresh->push_back(std::move(e));
  }
  // The jobs name their event by its sequence here, which the events'
  // earlier parts have set.
  auto jobs = std::make_shared<std::vector<std::string>>();
  for (const auto& r : tr.jobs) {
    auto j = store::decode_job_record(r);
    if (!j) {
      rp.deliver(caf::make_error(caf::sec::invalid_argument));
      return;
    }
    if (auto seq = st.deps.events->find_event(company, j->event_id))
      j->event_seq = *seq;
    jobs->push_back(store::encode_job_record(*j));
  }
  auto settings = std::make_shared<std::vector<std::string>>(tr.settings);
  auto last = tr.last;
  auto* es = st.deps.events;
  auto* audit = st.deps.audit;
  auto* tenants = st.deps.tenants;
  auto* cs = st.deps.cluster_store;
  auto n = fresh->size();
  write(
      self,
      [es, audit, tenants, cs, fresh, jobs, settings, last,
       company](store::write_txn& txn) -> store::result<void> {
        for (auto& e : *fresh) {
          std::vector<envelope> one{e};
          auto base = e.version > 0 ? e.version - 1 : 0;
          auto r
              = es->append_in(txn, one, store::expected_version::exact(base));
          if (!r)
            return make_unexpected(r.error());
          if (audit != nullptr)
            if (auto ok = audit->record_in(txn, one.front()); !ok)
              return ok;
        }
        if (!last)
          return {};
        for (std::size_t i = 0; i + 1 < settings->size(); i += 2)
          if (auto ok = tenants->set_setting_in(txn, company, (*settings)[i],
                                                (*settings)[i + 1]);
              !ok)
            return ok;
        if (auto old = cs->take_parked_in(txn, company); !old)
          return make_unexpected(old.error());
        return cs->park_in(txn, company, *jobs);
      },
      [self, rp, n, last, company]() mutable {
        if (last)
          self->state.parked.insert(company);
        rp.deliver(static_cast<std::uint64_t>(n));
      },
      [self, rp, company](caf::error& e) mutable {
        log::get(log::subsystem::cluster)
            ->warn("storing a part of company {}: {}", company,
                   self->system().render(e));
        rp.deliver(std::move(e));
      });
}

/// At start: the stored table, and the parked jobs of companies this node
/// owns (a move that stopped before its switch) back in the queues.
void load_placement(cluster_pointer self) {
  auto& st = self->state;
  if (st.deps.cluster_store == nullptr)
    return;
  auto lg = log::get(log::subsystem::cluster);
  auto stored = st.deps.cluster_store->placement();
  if (!stored) {
    lg->error("reading the placement table: {}",
              store::to_string(stored.error()));
    return;
  }
  if (stored->epoch > 0) {
    st.stored_epoch = stored->epoch;
    st.deps.view->adopt(from_record(*stored));
    lg->info("placement table epoch {} ({} compan{} moved)", stored->epoch,
             stored->moved.size(), stored->moved.size() == 1 ? "y" : "ies");
  }
  auto parked = st.deps.cluster_store->parked_companies();
  if (!parked) {
    lg->error("reading the parked jobs: {}", store::to_string(parked.error()));
    return;
  }
  for (const auto& c : *parked)
    st.parked.insert(c);
  std::vector<std::string> mine;
  for (const auto& c : st.parked)
    if (st.deps.view->owner(c) == st.self_name)
      mine.push_back(c);
  if (mine.empty())
    return;
  auto* cs = st.deps.cluster_store;
  auto* q = st.deps.jobs;
  write(
      self,
      [cs, q, mine](store::write_txn& txn) -> store::result<void> {
        for (const auto& c : mine)
          if (auto n = settle_parked_in(txn, *cs, *q, c, true); !n)
            return make_unexpected(n.error());
        return {};
      },
      [self, mine]() {
        for (const auto& c : mine) {
          self->state.parked.erase(c);
          log::get(log::subsystem::cluster)
              ->info("the parked jobs of {} are back in the "
                     "queues (its move did not finish)",
                     c);
        }
        if (self->state.deps.wake_queues)
          self->state.deps.wake_queues();
      },
      [self](caf::error& e) {
        log::get(log::subsystem::cluster)
            ->error("putting back parked jobs: {}", self->system().render(e));
      });
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
      self->send(p.handle, heartbeat_atom::value, st.self_name);
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
    st.joined.erase(dm.source.node());
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
        if (!same_mac(h.mac, want))
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
        st.joined[sender->node()] = h.node;
        self->monitor(sender);
        touch(self, h.node);
        lg->info("member {} joined", h.node);
        auto nonce = random_nonce();
        rp.deliver(cluster_hello{
            st.self_name, cluster_protocol_version, nonce,
            cluster_mac(st.deps.secret, cluster_proof_text(st.self_name, h.node,
                                                           h.nonce, nonce))});
        return rp;
      },
      [self](auth_atom, const cluster_hello&) -> caf::result<ok_atom> {
        return self->make_response_promise<ok_atom>();
      },
      [self](heartbeat_atom, const std::string&) {
        auto name = trusted_sender(self);
        if (!name.empty())
          touch(self, name);
      },
      [self, silent](forward_atom,
                     forward_request& req) -> caf::result<forward_response> {
        auto name = trusted_sender(self);
        if (name.empty())
          return silent();
        touch(self, name);
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
                      forward_atom::value, std::move(req))
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
      [self](events_atom, std::vector<envelope>& events) {
        auto name = trusted_sender(self);
        if (name.empty())
          return;
        touch(self, name);
        if (self->state.deps.remote_events)
          self->state.deps.remote_events(events);
      },
      [self](events_atom, std::uint64_t key, std::vector<envelope>& events) {
        auto& st = self->state;
        if (key != st.deps.local_key)
          return;
        for (auto& [name, p] : st.peers)
          if (p.up)
            self->send(p.handle, events_atom::value, events);
      },
      [self, lg](tenants_atom, tenant_digest& d) {
        auto name = trusted_sender(self);
        if (name.empty())
          return;
        touch(self, name);
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
      [self](placement_atom, cluster_placement& p) {
        auto name = trusted_sender(self);
        if (name.empty())
          return;
        touch(self, name);
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
      [self](adopt_atom, cluster_placement& p) -> caf::result<std::uint64_t> {
        // Before the promise: making it takes the sender out of the message.
        auto name = trusted_sender(self);
        auto rp = self->make_response_promise<std::uint64_t>();
        if (name.empty())
          return rp;
        touch(self, name);
        adopt_table(self, from_wire(p), [self, rp](bool) mutable {
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
      [self](import_atom, company_transfer& tr) -> caf::result<std::uint64_t> {
        // Before the promise: making it takes the sender out of the message.
        auto name = trusted_sender(self);
        auto rp = self->make_response_promise<std::uint64_t>();
        if (name.empty())
          return rp;
        touch(self, name);
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
      [self](tick_atom) {
        if (self->current_sender().get() != self->ctrl())
          return;
        tick(self);
      },
  };
}

} // namespace

std::string cluster_mac(std::string_view key, std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(text.data()), text.size(), md,
           &len)
      == nullptr)
    return {};
  return hex(md, len);
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
