// A rogue CAF node for cluster_suite/a_rogue_node_without_the_secret_
// changes_nothing, in a process of its own: it connects to each member's
// cluster port without the secret and sends every message type of the
// type-ID block, and each cluster message with forged or guessed contents,
// to actor ids 1 to 2000 of the member (from an actor and anonymously),
// then asks the published actor each of them. Its own store makes a
// well-formed admin token of a company of its own, printed first.
//
// Usage: rogue_node --store DIR --token COMPANY_TOKEN PORT...
// Prints "rogue: token T", a line per member, then "rogue: done"; exits
// 0 (without the actor system's teardown, which the thousands of remote
// proxies it made do not survive cleanly).
//
// As an impostor (cluster_suite/a_joined_node_without_its_link_key_
// changes_nothing): rogue_node --store DIR --impostor NAME --secret S
// --link right|wrong PORT joins the member at PORT (named n1) as member
// NAME, with the secret, then sends its tenants (a company of its own with
// a token) with the link key the handshake gave it ("right") or with another
// ("wrong": what a process that claims a joined member's node id without
// having made its handshake can send). Prints "rogue: token T", then
// "rogue: sent".

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <actors/cluster.hpp>
#include <actors/interfaces.hpp>
#include <actors/runtime.hpp>
#include <messages/type_ids.hpp>
#include <store/environment.hpp>
#include <store/tenants.hpp>

#include "tests/messages/samples.hpp"

namespace {

/// A proxy for actor `aid` of node `nid`, made in the BASP broker's own
/// thread (a rogue can address any id of a node it is connected to).
caf::strong_actor_ptr remote_proxy(caf::actor_system& sys,
                                   const caf::node_id& nid, caf::actor_id aid) {
  auto bb
      = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto* broker = dynamic_cast<caf::io::basp_broker*>(
      caf::actor_cast<caf::abstract_actor*>(bb));
  if (broker == nullptr)
    return nullptr;
  std::promise<caf::strong_actor_ptr> made;
  sys.middleman().backend().dispatch([&] {
    // The broker keeps a thread-local pointer to the node that relayed
    // the message it last read, and may leave it dangling; a proxy made
    // outside of reading a message must not compare against it.
    auto* registry = broker->proxy_registry_ptr();
    registry->set_last_hop(nullptr);
    made.set_value(registry->get_or_put(nid, aid));
  });
  return made.get_future().get();
}

/// Every message the rogue sends each actor id.
std::vector<caf::message> rogue_messages(const switchboard::tenant_digest& d,
                                         const std::string& token) {
  using namespace switchboard;
  std::vector<caf::message> out;
#define SB_ROGUE_ADD(type, ...) out.push_back(caf::make_message(type{}));
  SWITCHBOARD_EVENT_TYPES(SB_ROGUE_ADD)
#undef SB_ROGUE_ADD
#define SB_ROGUE_ADD(type) out.push_back(caf::make_message(type{}));
  SWITCHBOARD_VALUE_TYPES(SB_ROGUE_ADD)
  SWITCHBOARD_COMMAND_TYPES(SB_ROGUE_ADD)
  SWITCHBOARD_CALENDAR_COMMAND_TYPES(SB_ROGUE_ADD)
#undef SB_ROGUE_ADD
  auto nonce = std::string(64, 'a') + ":"
               + std::to_string(
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
  cluster_hello hello{"n2", cluster_protocol_version, nonce,
                      std::string(64, 'b')};
  forward_request fr{"POST",
                     "/api/customers",
                     {"authorization", "Bearer " + token},
                     R"({"id":"rogue-cu","name":"Rogue"})",
                     "10.0.0.1"};
  auto ev = test::sample_event("customer.created", "customer", "rogue-cu",
                               R"({"customer_id":"rogue-cu","name":"Rogue"})");
  ev.id = "rogue-ev";
  ev.company_id = "co0";
  ev.version = 1;
  // A table that would give every company to a member that does not
  // exist, and a company's data pushed at a member.
  cluster_placement table{999, {"n9"}, {"co0", "n9", "co1", "n9"}};
  company_transfer part{"co0", {ev}, {"calcom", "{}"}, {}, true, {}};
  // A guessed link key (a joined member's messages carry its own).
  std::string link(64, '0');
  presence_digest presence{{"presence-company.co0", "rogue", "{}"}};
  channel_message frame{"private-company.co0",
                        R"({"event":"rogue","channel":"private-company.co0",)"
                        R"("data":"{}"})",
                        ""};
  out.push_back(caf::make_message(hello_atom::value, hello));
  out.push_back(caf::make_message(auth_atom::value, hello));
  out.push_back(
      caf::make_message(heartbeat_atom::value, link, std::string{"n2"}));
  out.push_back(caf::make_message(forward_atom::value, link, fr));
  for (std::uint64_t key : {std::uint64_t{0}, std::uint64_t{1}}) {
    out.push_back(
        caf::make_message(forward_atom::value, key, std::string{"n2"}, fr));
    out.push_back(caf::make_message(move_atom::value, key, std::string{"co0"},
                                    std::string{"n3"}));
    out.push_back(caf::make_message(move_atom::value, key, std::string{"co0"}));
    out.push_back(caf::make_message(presence_atom::value, key, true));
    out.push_back(caf::make_message(publish_atom::value, key, frame));
  }
  out.push_back(caf::make_message(done_atom::value, std::uint64_t{0},
                                  std::uint64_t{1}, forward_response{}));
  out.push_back(
      caf::make_message(events_atom::value, link, std::vector<envelope>{ev}));
  out.push_back(caf::make_message(tenants_atom::value, link, d));
  out.push_back(caf::make_message(placement_atom::value, link, table));
  out.push_back(caf::make_message(adopt_atom::value, link, table));
  out.push_back(caf::make_message(import_atom::value, link, part));
  out.push_back(caf::make_message(presence_atom::value, link, presence));
  out.push_back(caf::make_message(publish_atom::value, link, frame));
  out.push_back(caf::make_message(tick_atom::value));
  out.push_back(caf::make_message(command_atom::value, aggregate_command{}));
  out.push_back(caf::make_message(command_atom::value, book_appointment{}));
  out.push_back(caf::make_message(command_atom::value, cancel_appointment{}));
  out.push_back(caf::make_message(dispatch_atom::value, dispatch_request{}));
  out.push_back(caf::make_message(drain_atom::value, std::string{"co0"}));
  return out;
}

[[noreturn]] void fail(const std::string& why) {
  std::printf("rogue: failed: %s\n", why.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

/// Joins the member at `port` as `name` with the secret and sends `d`
/// with the right link key or a wrong one; exits.
[[noreturn]] void impostor(const std::string& name, const std::string& secret,
                           bool right, std::uint16_t port,
                           const switchboard::tenant_digest& d) {
  using namespace switchboard;
  runtime_config cfg{1};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::strong_actor_ptr published;
  self->request(sys.middleman().actor_handle(), std::chrono::seconds(10),
                caf::connect_atom::value, std::string{"127.0.0.1"}, port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& p, std::set<std::string>&) {
            published = p;
          },
          [&](caf::error& e) {
            fail("cannot connect: " + sys.render(e));
          });
  if (!published)
    fail("no actor published on port " + std::to_string(port));
  auto member = caf::actor_cast<cluster_actor>(published);
  auto nonce = std::string(64, 'c') + ":"
               + std::to_string(
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
  cluster_hello answer;
  self->request(member, std::chrono::seconds(10), hello_atom::value,
                cluster_hello{name, cluster_protocol_version, nonce,
                              cluster_mac(secret, cluster_proof_text(
                                                      name, "n1", "", nonce))})
      .receive(
          [&](cluster_hello& h) {
            answer = std::move(h);
          },
          [&](caf::error& e) {
            fail("the handshake failed: " + sys.render(e));
          });
  auto key = cluster_link_key(secret, name, answer.node, nonce, answer.nonce);
  if (!right)
    key.assign(key.size(), '0');
  self->send(member, tenants_atom::value, key, d);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::printf("rogue: sent\n");
  std::fflush(stdout);
  std::_Exit(0);
}

} // namespace

int main(int argc, char** argv) {
  std::string store_dir;
  std::string token;
  std::string impostor_name;
  std::string secret;
  bool right_link = false;
  std::vector<std::uint16_t> ports;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--store" && i + 1 < argc)
      store_dir = argv[++i];
    else if (a == "--token" && i + 1 < argc)
      token = argv[++i];
    else if (a == "--impostor" && i + 1 < argc)
      impostor_name = argv[++i];
    else if (a == "--secret" && i + 1 < argc)
      secret = argv[++i];
    else if (a == "--link" && i + 1 < argc)
      right_link = std::string{argv[++i]} == "right";
    else
      ports.push_back(static_cast<std::uint16_t>(std::atoi(a.c_str())));
  }
  if (store_dir.empty() || ports.empty()) {
    std::fprintf(stderr,
                 "usage: rogue_node --store DIR --token TOKEN PORT...\n");
    return 2;
  }
  // The rogue's own store makes a well-formed admin token it knows.
  switchboard::store::options so;
  so.path = store_dir;
  auto env = switchboard::store::environment::open(so);
  if (!env)
    fail("cannot open its store");
  auto ten = switchboard::store::tenants::open(**env);
  if (!ten || !(*ten)->add_company({"rogue", "Rogue", 0, ""}))
    fail("cannot make its company");
  auto forged = (*ten)->issue_token("rogue", true, 0);
  auto rows = (*ten)->rows();
  if (!forged || !rows)
    fail("cannot make its token");
  std::printf("rogue: token %s\n", forged->c_str());
  std::fflush(stdout);
  switchboard::tenant_digest digest;
  for (auto& [k, v] : rows->companies) {
    digest.companies.push_back(k);
    digest.companies.push_back(v);
  }
  for (auto& [k, v] : rows->tokens) {
    digest.tokens.push_back(k);
    digest.tokens.push_back(v);
  }
  if (!impostor_name.empty())
    impostor(impostor_name, secret, right_link, ports[0], digest);
  auto msgs = rogue_messages(digest, token);
  switchboard::runtime_config cfg{1};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::size_t mailbox = 0;
  for (auto port : ports) {
    caf::node_id nid;
    caf::strong_actor_ptr published;
    std::string error;
    self->request(sys.middleman().actor_handle(), std::chrono::seconds(10),
                  caf::connect_atom::value, std::string{"127.0.0.1"}, port)
        .receive(
            [&](caf::node_id& n, caf::strong_actor_ptr& p,
                std::set<std::string>&) {
              nid = n;
              published = p;
            },
            [&](caf::error& e) {
              error = sys.render(e);
            });
    if (!published)
      fail("no actor published on port " + std::to_string(port) + " " + error);
    std::vector<caf::strong_actor_ptr> targets{published};
    for (caf::actor_id aid = 1; aid <= 2000; ++aid)
      if (auto p = remote_proxy(sys, nid, aid))
        targets.push_back(p);
    for (const auto& t : targets)
      for (const auto& m : msgs) {
        // From an actor, and anonymously.
        self->send(caf::actor_cast<caf::actor>(t), m);
        caf::anon_send(caf::actor_cast<caf::actor>(t), m);
      }
    // Requests to the cluster actor (an id that may not exist answers
    // with CAF's own error, so only this one is asked).
    for (const auto& m : msgs)
      static_cast<void>(self->request(caf::actor_cast<caf::actor>(published),
                                      caf::infinite, m));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    mailbox += self->mailbox().count();
    std::printf("rogue: port %u: %zu targets, %zu messages each\n",
                static_cast<unsigned>(port), targets.size(), msgs.size());
    std::fflush(stdout);
  }
  std::printf("rogue: %zu messages in its mailbox\nrogue: done\n", mailbox);
  std::fflush(stdout);
  std::_Exit(0);
}
