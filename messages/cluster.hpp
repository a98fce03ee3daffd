#pragma once

// The messages that cross nodes of a cluster (actors/cluster.hpp): the
// handshake, a forwarded HTTP request and its answer, the tenants'
// replication, the placement table, a company's move, and the
// broadcasting of presence members and channel frames. Plain structs;
// their field lists (messages/fields.hpp) follow, and with them their CAF
// inspectors (messages/inspect.hpp).

#include <cstdint>
#include <string>
#include <vector>

#include <messages/envelope.hpp>
#include <messages/fields.hpp>

namespace switchboard {

/// The cluster protocol's version; a peer with another is refused.
inline constexpr std::uint32_t cluster_protocol_version = 4;

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
/// company's settings, its pending and failed jobs (each record says its
/// state) and its sent messages.
struct company_transfer {
  std::string company;
  std::vector<envelope> events;
  std::vector<std::string> settings; ///< Name, text, name, text, ...
  std::vector<std::string> jobs;     ///< Job records (store/job_queue.hpp).
  bool last = false;
  /// Sent messages (store/outbox.hpp), each a JSON object.
  std::vector<std::string> outbox;
};

/// The members of presence channels connected to one node, as channel,
/// user id and user info (JSON text) triples. A node sends the whole list
/// when it changes and to a member that comes up; it replaces what the
/// receiver held of that node, so a lost or reordered one heals with the
/// next.
struct presence_digest {
  std::vector<std::string> members;
};

/// A frame for the subscribers of a channel on every member: an event
/// sent with the Pusher HTTP API, or a client event (`client-*`).
/// `payload` is the Pusher message as JSON text; `except_socket` the
/// connection it skips (the sender's).
struct channel_message {
  std::string channel;
  std::string payload;
  std::string except_socket;
};

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(cluster_hello, SB_FIELD(node), SB_FIELD(version), SB_FIELD(nonce),
          SB_FIELD(mac))

SB_FIELDS(forward_request, SB_FIELD(method), SB_FIELD(target),
          SB_FIELD(headers), SB_FIELD(body), SB_FIELD(remote_address))

SB_FIELDS(forward_response, SB_FIELD(status), SB_FIELD(headers), SB_FIELD(body))

SB_FIELDS(tenant_digest, SB_FIELD(companies), SB_FIELD(tokens),
          SB_FIELD(revoked))

SB_FIELDS(cluster_placement, SB_FIELD(epoch), SB_FIELD(basis), SB_FIELD(moved))

SB_FIELDS(company_transfer, SB_FIELD(company), SB_FIELD(events),
          SB_FIELD(settings), SB_FIELD(jobs), SB_FIELD(last), SB_FIELD(outbox))

SB_FIELDS(presence_digest, SB_FIELD(members))

SB_FIELDS(channel_message, SB_FIELD(channel), SB_FIELD(payload),
          SB_FIELD(except_socket))

} // namespace switchboard
