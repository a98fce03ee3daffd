#pragma once

// What the cluster actor's two sources share (actors/cluster.cpp: joining,
// heartbeats, forwarding, tenants and the behaviour; actors/cluster_move.cpp:
// the placement table and moving a company): the actor's state and the
// functions one calls in the other. Not for other parts: they include
// actors/cluster.hpp.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/node_id.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <boost/json/object.hpp>

#include <actors/cluster.hpp>

namespace switchboard::cluster_detail {

using steady = std::chrono::steady_clock;

/// A member other than this node, as the joiner sees it.
struct peer {
  cluster_member member;
  cluster_actor handle; ///< After our handshake with it.
  /// The key our messages to it carry (from our handshake with it).
  std::string link;
  bool up = false;
  bool connecting = false;
  steady::time_point attempt{};
  steady::time_point heard{};
  /// Whether it has our tenants' current rows, and our presence members.
  bool has_tenants = false;
  bool has_presence = false;
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
  /// The log's last sequence once the company's writes were done: the
  /// catch-up listeners must be past it before its jobs are taken.
  std::optional<std::uint64_t> readers_target;
  std::uint64_t next_seq = 0;
  std::uint64_t events = 0;
  std::size_t settings = 0;
  std::size_t messages = 0; ///< Sent messages sent along.
};

struct forward_out {
  std::string owner;
  caf::typed_response_promise<forward_response> rp;
};

struct cluster_state {
  cluster_deps deps;
  std::string self_name;
  std::map<std::string, peer, std::less<>> peers;
  /// A node that proved the secret to us: its member name, and the key
  /// its messages carry.
  struct joined_member {
    std::string name;
    std::string link;
  };
  std::map<caf::node_id, joined_member> joined;
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
  /// The delayed send of this node's presence members is scheduled.
  bool presence_scheduled = false;
  static inline const char* name = "cluster";
};

using cluster_pointer = cluster_actor::stateful_pointer<cluster_state>;

// -- in actors/cluster.cpp ---------------------------------------------------

/// The member name of the sender when it is a remote node that has
/// joined and `link` is the key of its link; "" otherwise (no sender, a
/// local one, a stranger, or a node claiming a member's id without its
/// key). Hears from the member.
std::string trusted_sender(cluster_pointer self, const std::string& link);

/// Sends `atom`, the member's link key and `xs` to every member that is
/// up.
template <class Atom, class... Ts>
void send_to_up_members(cluster_pointer self, Atom atom, const Ts&... xs) {
  for (auto& [name, p] : self->state.peers)
    if (p.up)
      self->send(p.handle, atom, p.link, xs...);
}

/// An answer as the gateway writes it: `body` as JSON, with Retry-After on
/// a 503 or 504.
forward_response json_answer(int status, const boost::json::object& body);

/// The gateway's error body: {"error": {code, message, fields}}.
forward_response error_answer(int status, std::string_view code,
                              std::string_view message);

// -- in actors/cluster_move.cpp ----------------------------------------------

placement_table from_wire(const cluster_placement& p);
cluster_placement to_wire(const placement_table& t);

/// Stores table `t` and takes it when it is newer than any stored; calls
/// `done(true)` once taken, `done(false)` when older or not stored.
void adopt_table(cluster_pointer self, placement_table t,
                 std::function<void(bool)> done);

/// Sends this node's table to the members that are up.
void send_placement(cluster_pointer self);

/// The first table, once every member is up and none has one.
void maybe_first_table(cluster_pointer self);

/// At start: the stored table, and the parked jobs of companies this node
/// owns back in the queues.
void load_placement(cluster_pointer self);

/// One step of moving `company` to another member.
void move_step(cluster_pointer self, const std::string& company);

/// Stores a part of a company moving here.
void import_part(cluster_pointer self, company_transfer& tr,
                 caf::typed_response_promise<std::uint64_t> rp);

} // namespace switchboard::cluster_detail
