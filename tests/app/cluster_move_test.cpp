// Companies moved between the members of a cluster on 127.0.0.1: a moved
// company keeps its history, jobs and calendar; a member added moves
// nothing until a rebalance.

#include <algorithm>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/cluster_fixture.hpp"
#include "tests/app/daemon_names.hpp"

using switchboard::test::cluster_fixture;
using switchboard::test::stored_events_naming;

namespace {

/// The JSON answer to `GET target` through member `port` with `token`,
/// which must be 200.
json::value read_json(std::uint16_t port, const std::string& target,
                      const std::string& token) {
  http_client c{port};
  auto r = c.request("GET", target, "", token);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  return r.json();
}

/// The jobs of a company in `state` (listener and event id of each, and
/// with `attempts` their attempts and state; sorted), read through member
/// `port`.
std::vector<std::string> jobs_in(std::uint16_t port, const std::string& token,
                                 const std::string& state,
                                 bool attempts = false) {
  auto body = read_json(port, "/api/jobs?limit=1000&state=" + state, token);
  std::vector<std::string> out;
  for (const auto& j : body.at("jobs").as_array())
    out.push_back(std::string{j.at("listener").as_string()} + " "
                  + std::string{j.at("event_id").as_string()}
                  + (attempts ? " " + json::serialize(j.at("attempts")) + " "
                                    + std::string{j.at("state").as_string()}
                              : std::string{}));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> pending_jobs(std::uint16_t port,
                                      const std::string& token) {
  return jobs_in(port, token, "pending");
}

/// The events of a company (id and version of each, in order), read
/// through member `port`.
std::vector<std::string> company_events(std::uint16_t port,
                                        const std::string& token) {
  auto body = read_json(port, "/api/events?limit=1000", token);
  std::vector<std::string> out;
  for (const auto& e : body.as_array())
    out.push_back(json::serialize(e.at("id")) + "@"
                  + json::serialize(e.at("version")));
  return out;
}

/// The owner of `company` and the placement epoch, as member `port` says.
std::pair<std::string, std::int64_t> owner_seen(std::uint16_t port,
                                                const std::string& admin,
                                                const std::string& company) {
  http_client c{port};
  auto r = c.request("GET", "/api/admin/cluster", "", admin);
  if (r.status != 200)
    return {};
  auto j = r.json();
  std::string owner;
  for (const auto& m : j.at("members").as_array())
    for (const auto& id : m.at("companies").as_array())
      if (id.as_string() == company)
        owner = std::string{m.at("name").as_string()};
  return {owner, j.at("placement").at("epoch").to_number<std::int64_t>()};
}

/// Runs `switchboard cluster ARGS` against member `port`; its exit code
/// and output.
std::pair<int, std::string> cluster_cli(std::uint16_t port,
                                        const std::string& admin,
                                        std::vector<std::string> cargs) {
  std::vector<std::string> args{SWITCHBOARD_BINARY, "cluster"};
  args.insert(args.end(), cargs.begin(), cargs.end());
  args.insert(args.end(), {"--url", "http://127.0.0.1:" + std::to_string(port),
                           "--token", admin});
  child_process cli(args);
  std::string line, out;
  while (cli.read_line(line, 120s))
    out += line + "\n";
  return {cli.wait(30s), out + cli.output()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_suite)

BOOST_FIXTURE_TEST_CASE(a_moved_company_keeps_its_history_jobs_and_calendar,
                        cluster_fixture) {
  // companies[0] (owned by n1) books through n2, with reminders due in
  // days (delayed jobs), then moves to n3.
  const auto& company = companies[0];
  const auto& token = tokens[0];
  seed(nodes[1]->port, token);
  http_client c2{nodes[1]->port};
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto id = "ap-mv-" + std::to_string(i);
    auto r = book(c2, token, id, switchboard::test::utc_at(3 + i % 3, 9 + i));
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 201);
    ids.push_back(id);
  }
  // The queued listeners' immediate jobs finish; the reminders (two per
  // booking, written by the subscriber's reader) wait.
  std::vector<std::string> jobs_before;
  BOOST_REQUIRE(eventually([&] {
    jobs_before = pending_jobs(nodes[1]->port, token);
    if (jobs_before.size() != 2 * ids.size())
      return false;
    for (const auto& j : jobs_before)
      if (j.rfind("reminder.", 0) != 0)
        return false;
    http_client c{nodes[1]->port};
    auto r = c.request("GET", "/api/jobs?state=ready&limit=1000", "", token);
    return r.status == 200 && r.json().at("jobs").as_array().empty();
  }));
  BOOST_REQUIRE(!jobs_before.empty());
  auto events_before = company_events(nodes[1]->port, token);
  BOOST_REQUIRE(owner_seen(nodes[0]->port, admin, company).second >= 1);

  // A move is refused, naming what is wrong, when it cannot be made.
  http_client c1{nodes[0]->port};
  auto bad = c1.request("POST", "/api/admin/cluster/move?company_id=" + company,
                        R"({"to":"n9"})", admin);
  BOOST_TEST(bad.status == 422);
  BOOST_TEST(bad.body.find("\"to\"") != std::string::npos);
  BOOST_TEST(c1.request("POST", "/api/admin/cluster/move?company_id=" + company,
                        R"({"to":"n3"})", token)
                 .status
             == 403);
  auto same
      = c1.request("POST", "/api/admin/cluster/move?company_id=" + company,
                   R"({"to":"n1"})", admin);
  BOOST_TEST(same.status == 409);

  // The move, asked of n2 (the request reaches the owner, n1).
  auto moved
      = cluster_cli(nodes[1]->port, admin, {"move", company, "--to", "n3"});
  BOOST_TEST_INFO(moved.second);
  BOOST_REQUIRE(moved.first == 0);
  BOOST_TEST(moved.second.find("moved " + company + " to n3")
             != std::string::npos);

  // Every member routes the company to n3.
  for (std::size_t i = 0; i < nodes.size(); ++i)
    BOOST_REQUIRE_MESSAGE(
        eventually([&] {
          return owner_seen(nodes[i]->port, admin, company).first == "n3";
        }),
        names[i] + " does not route " + company + " to n3");
  // Its history, jobs and bookings are there, read through any member.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    BOOST_TEST(company_events(nodes[i]->port, token) == events_before);
    BOOST_TEST(pending_jobs(nodes[i]->port, token) == jobs_before);
    http_client c{nodes[i]->port};
    for (const auto& id : ids)
      BOOST_TEST(c.request("GET", "/api/appointments/" + id, "", token).status
                 == 200);
  }
  // The calendar at n3 knows the moved bookings: the same slot is taken,
  // another is free, and the new booking is stored at n3 only.
  auto taken = book(c1, token, "ap-mv-again", switchboard::test::utc_at(3, 9));
  BOOST_TEST_INFO(taken.body);
  BOOST_TEST(taken.status == 409);
  auto fresh = book(c1, token, "ap-mv-new", switchboard::test::utc_at(6, 9));
  BOOST_TEST_INFO(fresh.body);
  BOOST_REQUIRE(fresh.status == 201);
  BOOST_TEST(stored_events_naming(*nodes[2], "ap-mv-new") == 1u);
  BOOST_TEST(stored_events_naming(*nodes[0], "ap-mv-new") == 0u);
  // The other companies did not move.
  BOOST_TEST(owner_seen(nodes[2]->port, admin, companies[1]).first == "n2");
  BOOST_TEST(owner_seen(nodes[0]->port, admin, companies[2]).first == "n3");
  // The table survives a restart of the old owner.
  nodes[0]->stop();
  nodes[0]->start();
  BOOST_REQUIRE(all_up(0));
  BOOST_TEST(owner_seen(nodes[0]->port, admin, company).first == "n3");
  http_client c1b{nodes[0]->port};
  BOOST_TEST(c1b.request("GET", "/api/appointments/ap-mv-new", "", token).status
             == 200);
}

namespace {

/// A company's failed jobs (with their attempts), read through member
/// `port` with `token`.
std::vector<std::string> failed_jobs(std::uint16_t port,
                                     const std::string& token) {
  return jobs_in(port, token, "failed", true);
}

/// A company's sent messages (channel, recipient and idempotency key of
/// each, sorted), read through member `port` with `token`.
std::vector<std::string> sent_messages(std::uint16_t port,
                                       const std::string& token) {
  auto body = read_json(port, "/api/outbox?limit=1000", token);
  std::vector<std::string> out;
  for (const auto& m : body.at("messages").as_array())
    out.push_back(std::string{m.at("channel").as_string()} + " "
                  + std::string{m.at("recipient").as_string()} + " "
                  + std::string{m.at("idempotency_key").as_string()});
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

// A company's failed jobs (still failed, with their attempts) and sent
// messages go with it; the old owner keeps the rest of its copy until
// `cluster forget`, which deletes it there and nothing anywhere else.
BOOST_AUTO_TEST_CASE(a_move_takes_failed_jobs_and_messages_then_forget) {
  cluster_fixture f(3, {"providers.crm_webhook_url=http://127.0.0.1:1/hook",
                        "listener.sync_with_external_services.tries=2",
                        "listener.sync_with_external_services.backoff_ms=10",
                        "listener.send_appointment_notification.delay_ms="
                        "1500"});
  const auto& company = f.companies[0]; // owned by n1
  const auto& token = f.tokens[0];
  seed(f.nodes[1]->port, token);
  http_client c2{f.nodes[1]->port};
  // The customer takes SMS (a message per booking, in the outbox); its
  // change and the bookings have sync jobs, which fail (no CRM listens).
  BOOST_REQUIRE(c2.request("PATCH", "/api/customers/cu1",
                           R"({"name":"Ada B","prefers_sms":true})", token)
                    .status
                == 200);
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(book(c2, token, "ap-fg-" + std::to_string(i),
                       switchboard::test::utc_at(3, 9 + i))
                      .status
                  == 201);
  std::vector<std::string> failed, sent;
  // Every sync job fails, after its retry: the failed jobs are all there
  // once no sync job waits (a retry is due 10 ms after its failure) or runs.
  // The messages: a Cal.com booking and a confirmation per booking.
  auto syncing = [&](const char* state) {
    for (const auto& j : jobs_in(f.nodes[1]->port, token, state))
      if (j.rfind("sync_with_external_services ", 0) == 0)
        return true;
    return false;
  };
  BOOST_REQUIRE(eventually([&] {
    failed = failed_jobs(f.nodes[1]->port, token);
    sent = sent_messages(f.nodes[1]->port, token);
    return !failed.empty() && sent.size() >= 6u && !syncing("pending")
           && !syncing("leased")
           && jobs_in(f.nodes[1]->port, token, "ready").empty();
  }));
  BOOST_REQUIRE(stored_events_naming(*f.nodes[0], "ap-fg-0") > 0u);
  // A booking just before the move: its confirmation is still held by
  // the notification's reader on n1 (1.5 s) when the move starts. The
  // move waits for the readers, so the confirmation goes with the
  // company, not out on n1 after the switch.
  BOOST_REQUIRE(
      book(c2, token, "ap-fg-late", switchboard::test::utc_at(3, 15)).status
      == 201);
  auto events_before = company_events(f.nodes[1]->port, token);

  auto moved
      = cluster_cli(f.nodes[0]->port, f.admin, {"move", company, "--to", "n3"});
  BOOST_TEST_INFO(moved.second);
  BOOST_REQUIRE(moved.first == 0);
  BOOST_REQUIRE(eventually([&] {
    return owner_seen(f.nodes[1]->port, f.admin, company).first == "n3";
  }));
  // Read through n2, answered by n3: the same failed jobs and messages,
  // and the late booking's (its Cal.com message, its confirmation, its
  // failed CRM job).
  std::vector<std::string> after;
  BOOST_TEST(eventually([&] {
    after = sent_messages(f.nodes[1]->port, token);
    return after.size() == sent.size() + 2;
  }));
  BOOST_TEST_INFO(after.size()
                  << " messages on n3, " << sent.size() << " before the move");
  BOOST_TEST(std::count_if(after.begin(), after.end(),
                           [](const std::string& m) {
                             return m.rfind("sms ", 0) == 0;
                           })
             == 4);
  BOOST_TEST(
      std::includes(after.begin(), after.end(), sent.begin(), sent.end()));
  auto contains_all = [](const std::vector<std::string>& big,
                         const std::vector<std::string>& small) {
    for (const auto& x : small)
      if (std::find(big.begin(), big.end(), x) == big.end())
        return false;
    return true;
  };
  std::vector<std::string> failed_after;
  BOOST_TEST(eventually([&] {
    failed_after = failed_jobs(f.nodes[1]->port, token);
    return failed_after.size() == failed.size() + 1;
  }));
  BOOST_TEST(contains_all(failed_after, failed));
  // The old owner kept neither its failed jobs (they are n3's now) nor
  // any job of the company; its events are still there.
  http_client c1{f.nodes[0]->port};
  auto local_failed
      = c1.request("GET", "/api/jobs/failed?limit=1000", "", f.admin);
  BOOST_REQUIRE(local_failed.status == 200);
  BOOST_TEST(local_failed.body.find(company) == std::string::npos);
  BOOST_TEST(stored_events_naming(*f.nodes[0], "ap-fg-0") > 0u);

  // Forget is refused on the owner, and for a company it does not know.
  auto on_owner = cluster_cli(f.nodes[2]->port, f.admin, {"forget", company});
  BOOST_TEST(on_owner.first != 0);
  BOOST_TEST(on_owner.second.find("\"owner\"") != std::string::npos);
  http_client c3{f.nodes[2]->port};
  BOOST_TEST(c3.request("POST", "/api/admin/cluster/forget",
                        R"({"company_id":"no-such"})", f.admin)
                 .status
             == 422);
  BOOST_TEST(c3.request("POST", "/api/admin/cluster/forget",
                        R"({"company_id":")" + company + R"("})", token)
                 .status
             == 403);
  // On n1 it deletes the copy.
  auto forgot = cluster_cli(f.nodes[0]->port, f.admin, {"forget", company});
  BOOST_TEST_INFO(forgot.second);
  BOOST_REQUIRE(forgot.first == 0);
  BOOST_TEST(forgot.second.find("forgot the copy of " + company)
             != std::string::npos);
  BOOST_TEST(stored_events_naming(*f.nodes[0], company) == 0u);
  auto local_sent = c1.request("GET", "/api/outbox?limit=1000", "", f.admin);
  BOOST_REQUIRE(local_sent.status == 200);
  BOOST_TEST_INFO(local_sent.body);
  BOOST_TEST(local_sent.body.find(company) == std::string::npos);
  // A second forget finds nothing.
  auto again = c1.request("POST", "/api/admin/cluster/forget",
                          R"({"company_id":")" + company + R"("})", f.admin);
  BOOST_TEST_INFO(again.body);
  BOOST_REQUIRE(again.status == 200);
  BOOST_TEST(again.json().at("events").to_number<std::int64_t>() == 0);
  // The company is whole at n3, read through any member.
  for (auto& n : f.nodes) {
    BOOST_TEST(company_events(n->port, token) == events_before);
    BOOST_TEST(failed_jobs(n->port, token) == failed_after);
  }
  // And n1's store passes the check, its gaps being forgotten ones.
  f.nodes[0]->stop();
  auto check = f.nodes[0]->command({"check"}, 60s);
  BOOST_TEST_INFO(check.out);
  BOOST_TEST(check.rc == 0);
}

BOOST_AUTO_TEST_CASE(a_member_added_moves_nothing_until_a_rebalance) {
  cluster_fixture f(2);
  // A company the hash over three members gives to n3.
  const std::vector<std::string> three{"n1", "n2", "n3"};
  std::string company;
  for (int k = 0; company.empty(); ++k)
    if (switchboard::rendezvous_owner(three, "grow" + std::to_string(k))
        == "n3")
      company = "grow" + std::to_string(k);
  auto token = f.nodes[0]->tenant({"add", company});
  BOOST_REQUIRE(eventually([&] {
    http_client h{f.nodes[1]->port};
    return h.request("GET", "/api/company", "", token).status == 200;
  }));
  seed(f.nodes[0]->port, token);
  http_client c1{f.nodes[0]->port};
  for (int i = 0; i < 8; ++i) {
    auto r = book(c1, token, "ap-grow-" + std::to_string(i),
                  switchboard::test::utc_at(3, 9 + i));
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 201);
  }
  auto old_owner = switchboard::rendezvous_owner({"n1", "n2"}, company);
  BOOST_REQUIRE(eventually([&] {
    return owner_seen(f.nodes[1]->port, f.admin, company).second >= 1;
  }));
  auto events_before = company_events(f.nodes[0]->port, token);
  // Every member's log readers are through their logs: the external sync
  // wrote its CRM and Cal.com messages.
  auto caught_up = [&](std::size_t i) {
    auto q = read_json(f.nodes[i]->port, "/api/queues", f.admin);
    for (const auto& c : q.at("catch_up").as_array())
      if (c.at("events_behind").to_number<std::int64_t>() != 0)
        return false;
    return true;
  };
  BOOST_REQUIRE(eventually([&] {
    return caught_up(0) && caught_up(1);
  }));
  // The sync's messages (the notifications' go out 5 s after a booking).
  auto synced = [&](std::uint16_t port) {
    auto all = sent_messages(port, token);
    std::vector<std::string> out;
    for (auto& m : all)
      if (m.rfind("crm ", 0) == 0 || m.rfind("calcom ", 0) == 0)
        out.push_back(std::move(m));
    return out;
  };
  auto sent_before = synced(f.nodes[0]->port);
  BOOST_TEST(sent_before.size() == 16u); // a CRM and a Cal.com call each

  // n3 joins: started with three peers, and the two restarted with them.
  f.names.push_back("n3");
  f.cluster_ports.push_back(switchboard::test::free_tcp_port());
  std::string peers;
  for (std::size_t i = 0; i < 3; ++i)
    peers += (i == 0 ? "" : ",") + f.names[i]
             + "@127.0.0.1:" + std::to_string(f.cluster_ports[i]);
  auto sets = [&](std::size_t i) {
    return std::vector<std::string>{
        "cluster.node=" + f.names[i], "cluster.peers=" + peers,
        std::string{"cluster.secret="} + cluster_fixture::secret};
  };
  f.nodes.push_back(std::make_unique<switchboard::test::daemon_fixture>(
      sets(2), std::vector<std::string>{}, false));
  for (std::size_t i = 0; i < 2; ++i)
    f.nodes[i]->restart_with(sets(i));
  for (std::size_t i = 0; i < 3; ++i)
    BOOST_REQUIRE_MESSAGE(f.all_up(i), f.names[i] + " does not see all up");
  // Nothing moved: n3 took the table, and owns nothing.
  for (std::size_t i = 0; i < 3; ++i)
    BOOST_REQUIRE(eventually([&] {
      return owner_seen(f.nodes[i]->port, f.admin, company).first == old_owner;
    }));
  BOOST_TEST(company_events(f.nodes[2]->port, token) == events_before);

  // The rebalance moves to n3 what the hash over three members gives it.
  auto dry = cluster_cli(f.nodes[2]->port, f.admin, {"rebalance", "--dry-run"});
  BOOST_TEST_INFO(dry.second);
  BOOST_TEST(dry.first == 0);
  BOOST_TEST(dry.second.find("would move " + company + " to n3")
             != std::string::npos);
  auto done = cluster_cli(f.nodes[2]->port, f.admin, {"rebalance"});
  BOOST_TEST_INFO(done.second);
  BOOST_REQUIRE(done.first == 0);
  for (std::size_t i = 0; i < 3; ++i)
    BOOST_REQUIRE(eventually([&] {
      return owner_seen(f.nodes[i]->port, f.admin, company).first == "n3";
    }));
  for (std::size_t i = 0; i < f.companies.size(); ++i)
    BOOST_TEST(owner_seen(f.nodes[2]->port, f.admin, f.companies[i]).first
               == switchboard::rendezvous_owner(three, f.companies[i]));
  BOOST_TEST(company_events(f.nodes[2]->port, token) == events_before);
  BOOST_TEST(stored_events_naming(*f.nodes[2], "ap-grow-7") == 1u);
  // The moved events were synced where they were booked: n3's reader,
  // through them, sends none again.
  BOOST_REQUIRE(eventually([&] {
    return caught_up(2);
  }));
  BOOST_TEST(synced(f.nodes[2]->port) == sent_before,
             boost::test_tools::per_element());
  auto again = cluster_cli(f.nodes[0]->port, f.admin, {"rebalance"});
  BOOST_TEST(again.first == 0);
  BOOST_TEST(again.second.find("balanced") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
