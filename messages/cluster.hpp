#pragma once

// The messages that cross nodes of a cluster (actors/cluster.hpp): the
// handshake, a forwarded HTTP request and its answer, the tenants'
// replication. Plain structs; their CAF inspectors follow.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace switchboard {

/// The cluster protocol's version; a peer with another is refused.
inline constexpr std::uint32_t cluster_protocol_version = 1;

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

} // namespace switchboard
