#pragma once

// What a node knows of its cluster, readable from any thread (the HTTP
// gateway asks it for each request): the configured members, which of
// them are up, and which member owns a company. Plain C++, no CAF: the
// cluster actor (actors/cluster.hpp) keeps it current.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <messages/expected.hpp>

namespace switchboard {

/// One configured member: `name@host:port` of `[cluster] peers`.
struct cluster_member {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
};

/// Parses `[cluster] peers`: comma-separated `name@host:port`, names
/// unique ([A-Za-z0-9_.-], 1 to 64 bytes). Errors name the entry at fault.
expected<std::vector<cluster_member>, std::string>
parse_cluster_peers(std::string_view text);

/// The member that owns `company` among `members` (rendezvous hashing:
/// the highest hash of member name and company id), so that adding or
/// removing a member moves only the companies it wins or held. Empty
/// when `members` is.
std::string rendezvous_owner(const std::vector<std::string>& members,
                             std::string_view company);

/// Which member owns which company (see `cluster_placement` in
/// messages/cluster.hpp, its wire form): a company listed in `moved` is
/// owned by the member named there, any other by the rendezvous hash over
/// `basis`. Epoch 0: no table yet (the hash over the configured members).
struct placement_table {
  std::uint64_t epoch = 0;
  std::vector<std::string> basis;
  std::map<std::string, std::string, std::less<>> moved;

  /// The owner of `company` by this table ("" when it names none).
  std::string owner(std::string_view company) const;
};

/// The members, their state and the ownership of companies.
class cluster_view {
public:
  /// `self`: this node's name; `members`: every member's (self included).
  cluster_view(std::string self, std::vector<std::string> members);

  const std::string& self() const noexcept {
    return self_;
  }
  const std::vector<std::string>& members() const noexcept {
    return members_;
  }

  /// The member owning `company`: by the placement table once one is
  /// written, else by the hash over the configured members.
  std::string owner(std::string_view company) const;

  /// The placement table (epoch 0: none yet).
  placement_table placement() const;

  /// Takes `t` when its epoch is higher than the current table's; true
  /// when it did.
  bool adopt(placement_table t);

  /// Starts a write request of `company` on this node (its owner): false
  /// while the company is frozen for a move (the request is refused),
  /// else true and counted until `end_write`.
  bool try_begin_write(std::string_view company);
  void end_write(std::string_view company);

  /// Freezes `company`'s writes (a move); true when it was not frozen.
  bool freeze(const std::string& company);
  void unfreeze(std::string_view company);
  bool frozen(std::string_view company) const;

  /// A part of `company`, moving here, was stored now.
  void note_import(const std::string& company);
  /// Whether a part of `company` was stored here within `window` (a move
  /// to this node is under way).
  bool importing(std::string_view company,
                 std::chrono::steady_clock::duration window) const;
  /// Write requests of `company` begun and not ended.
  std::uint32_t writes_in_flight(std::string_view company) const;

  /// True when `member` has joined and is heard from (this node: always).
  bool is_up(std::string_view member) const;

  /// Marks `member` up or down (the cluster actor).
  void set_up(const std::string& member, bool up);

  /// One member as `GET /api/admin/cluster` shows it.
  struct member_state {
    std::string name;
    bool self = false;
    bool up = false;
    /// Milliseconds since it last changed state (0: never did).
    std::int64_t since_ms = 0;
  };
  std::vector<member_state> states() const;

  /// Requests forwarded to other members and not answered yet.
  std::atomic<std::int64_t> forwards_in_flight{0};
  /// Requests forwarded since the start.
  std::atomic<std::uint64_t> forwarded{0};
  /// Forwarded requests answered 503 because the owner was down.
  std::atomic<std::uint64_t> owner_down{0};

private:
  std::string self_;
  std::vector<std::string> members_;
  mutable std::mutex mtx_;
  std::map<std::string, std::pair<bool, std::chrono::steady_clock::time_point>,
           std::less<>>
      up_;
  placement_table placement_;
  /// Write requests in flight by company, and the frozen companies.
  std::map<std::string, std::uint32_t, std::less<>> writes_;
  std::map<std::string, bool, std::less<>> frozen_;
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>>
      imports_;
};

} // namespace switchboard
