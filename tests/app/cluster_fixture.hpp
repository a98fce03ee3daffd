#pragma once

// N daemons on 127.0.0.1 forming one cluster, each with its own data dir
// and cluster port. The companies are made with the CLI on the first
// member only; the others learn them by replication. Also what the
// cluster tests share: stored events read from one member's store.

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <actors/cluster_view.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/app/free_port.hpp"

namespace switchboard::test {

struct cluster_fixture {
  static constexpr const char* secret = "cluster-test-secret-0123456789";

  /// `more`: options every member gets besides the cluster's.
  explicit cluster_fixture(std::size_t n = 3,
                           std::vector<std::string> more = {}) {
    std::string peers;
    for (std::size_t i = 0; i < n; ++i) {
      names.push_back("n" + std::to_string(i + 1));
      cluster_ports.push_back(free_tcp_port());
      peers += (i == 0 ? "" : ",") + names[i]
               + "@127.0.0.1:" + std::to_string(cluster_ports[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> sets{"cluster.node=" + names[i],
                                    "cluster.peers=" + peers,
                                    std::string{"cluster.secret="} + secret};
      sets.insert(sets.end(), more.begin(), more.end());
      nodes.push_back(std::make_unique<daemon_fixture>(
          std::move(sets), std::vector<std::string>{}, false));
    }
    admin = nodes[0]->tenant({"add", "ops", "--admin"});
    for (std::size_t i = 0; i < n; ++i)
      BOOST_REQUIRE_MESSAGE(all_up(i),
                            names[i] + " does not see every member up");
    // And they have agreed on the first placement table (written about a
    // second after every member is up).
    for (std::size_t i = 0; i < n; ++i)
      BOOST_REQUIRE_MESSAGE(eventually([&] {
                              http_client h{nodes[i]->port};
                              auto r = h.request("GET", "/api/admin/cluster",
                                                 "", admin);
                              return r.status == 200
                                     && r.json().at("placement")
                                                .at("epoch")
                                                .to_number<std::int64_t>()
                                            >= 1;
                            }),
                            names[i] + " has no placement table");
    // One company owned by each member, made on the first member.
    for (std::size_t i = 0; i < n; ++i) {
      for (int k = 0;; ++k) {
        auto id = "co" + std::to_string(k);
        if (rendezvous_owner(names, id) == names[i]) {
          companies.push_back(id);
          tokens.push_back(nodes[0]->tenant({"add", id}));
          break;
        }
      }
    }
    // Every member honours every token.
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = 0; c < n; ++c)
        BOOST_REQUIRE_MESSAGE(
            eventually([&] {
              http_client h{nodes[i]->port};
              return h.request("GET", "/api/company", "", tokens[c]).status
                     == 200;
            }),
            names[i] + " does not honour " + companies[c]);
  }

  /// The members member `i` reports, none if it does not answer.
  std::optional<boost::json::array> members(std::size_t i) {
    http_client h{nodes[i]->port};
    auto r = h.request("GET", "/api/admin/cluster", "", admin);
    if (r.status != 200)
      return std::nullopt;
    return r.json().at("members").as_array();
  }

  /// True once member `i` reports every member up.
  bool all_up(std::size_t i, bool up = true) {
    return eventually([&] {
      auto ms = members(i);
      if (!ms)
        return false;
      for (const auto& m : *ms)
        if (!m.at("up").as_bool())
          return false;
      return true;
    });
  }

  /// The state member `i` reports for member `name`.
  bool sees_up(std::size_t i, const std::string& name) {
    auto ms = members(i);
    if (!ms)
      return false;
    for (const auto& m : *ms)
      if (m.at("name").as_string() == name)
        return m.at("up").as_bool();
    return false;
  }

  std::vector<std::string> names;
  std::vector<std::uint16_t> cluster_ports;
  std::vector<std::unique_ptr<daemon_fixture>> nodes;
  std::string admin;
  /// companies[i] is owned by names[i]; tokens[i] is its token.
  std::vector<std::string> companies;
  std::vector<std::string> tokens;
};

/// How many stored events of member `node` name `needle`, read by the CLI
/// from that member's own store.
inline std::size_t stored_events_naming(daemon_fixture& node,
                                        const std::string& needle) {
  auto events = node.command({"events", "--json", "--limit", "1000"});
  BOOST_REQUIRE(events.rc == 0);
  std::size_t n = 0;
  std::istringstream lines{events.out};
  for (std::string line; std::getline(lines, line);)
    if (line.find(needle) != std::string::npos)
      ++n;
  return n;
}

} // namespace switchboard::test
