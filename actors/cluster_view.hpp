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

  /// The member owning `company` (fixed by the configuration).
  std::string owner(std::string_view company) const {
    return rendezvous_owner(members_, company);
  }

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
};

} // namespace switchboard
