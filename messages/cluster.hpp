#pragma once

// The messages that cross nodes of a cluster (actors/cluster.hpp): the
// handshake, a forwarded HTTP request and its answer, the tenants'
// replication, the placement table and a company's move. Plain structs;
// their CAF inspectors follow.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include <messages/envelope.hpp>

namespace switchboard {

/// The cluster protocol's version; a peer with another is refused.
inline constexpr std::uint32_t cluster_protocol_version = 2;

/// The join handshake. The joiner sends its `node`, `version`, a `nonce`
/// (random hex ':' its clock in ms) and `mac` = HMAC-SHA256(secret, proof
/// text); only then does the member answer, with its own nonce and a mac
/// over both nonces (cluster_proof_text in actors/cluster.hpp).
struct cluster_hello {
  std::string node;
  std::uint32_t version = 0;
  std::string nonce; ///< 32 random bytes, hex (':' ms, the joiner's).
  std::string mac;   ///< Hex.
};

/// An HTTP request taken by one node for a company another node owns.
/// `headers` alternate name and value (names lower case); hop-by-hop
/// fields are left out. `remote_address` is the client's address as the
/// receiving node determined it.
struct forward_request {
  std::string method;
  std::string target;
  std::vector<std::string> headers;
  std::string body;
  std::string remote_address;
};

/// The owner's answer to a forward_request, as it would have been sent.
struct forward_response {
  std::int32_t status = 500;
  std::vector<std::string> headers; ///< Name, value, name, value, ...
  std::string body;
};

/// The tenants' rows of one node (store/tenants.hpp, `tenant_rows`), as
/// key and value bytes alternating.
struct tenant_digest {
  std::vector<std::string> companies;
  std::vector<std::string> tokens;
  std::vector<std::string> revoked; ///< Hashes of revoked tokens.
};

/// Which member owns which company. A company is owned by the member
/// `moved` names for it, else by the rendezvous hash over `basis` (the
/// members when the table was first written): once written, the table and
/// not `[cluster] peers` is the truth, so adding a member moves nothing
/// until companies are moved to it. Every change raises `epoch`; a member
/// takes a table only when its epoch is higher than its own.
struct cluster_placement {
  std::uint64_t epoch = 0; ///< 0: none written yet.
  std::vector<std::string> basis;
  std::vector<std::string> moved; ///< Company, member, company, member, ...
};

/// One part of a company's move to its new owner: events in sequence
/// order (their ids, times and versions kept), and with the last part the
/// company's settings and its pending jobs.
struct company_transfer {
  std::string company;
  std::vector<envelope> events;
  std::vector<std::string> settings; ///< Name, text, name, text, ...
  std::vector<std::string> jobs;     ///< Job records (store/job_queue.hpp).
  bool last = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_hello& x) {
  return f(caf::meta::type_name("cluster_hello"), x.node, x.version, x.nonce,
           x.mac);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_request& x) {
  return f(caf::meta::type_name("forward_request"), x.method, x.target,
           x.headers, x.body, x.remote_address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_response& x) {
  return f(caf::meta::type_name("forward_response"), x.status, x.headers,
           x.body);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_digest& x) {
  return f(caf::meta::type_name("tenant_digest"), x.companies, x.tokens,
           x.revoked);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_placement& x) {
  return f(caf::meta::type_name("cluster_placement"), x.epoch, x.basis,
           x.moved);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, company_transfer& x) {
  return f(caf::meta::type_name("company_transfer"), x.company, x.events,
           x.settings, x.jobs, x.last);
}

} // namespace switchboard
