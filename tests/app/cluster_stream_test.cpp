// What the members of a cluster on 127.0.0.1 carry to each other's
// clients: broadcasting to a subscriber on another member, the
// dashboard's live feed across members, and sessions forwarded to the
// owner.

#include <filesystem>
#include <set>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/broadcast_fixture.hpp"
#include "tests/app/check_script.hpp"
#include "tests/app/cluster_fixture.hpp"
#include "tests/app/daemon_names.hpp"
#include "tests/support/sse_client.hpp"
#include "tests/support/ws_client.hpp"

using switchboard::test::cluster_fixture;
using switchboard::test::run_check_script;

BOOST_AUTO_TEST_SUITE(cluster_suite)

namespace {

/// Three members with broadcasting on (the same app on each).
struct broadcasting_cluster : cluster_fixture {
  broadcasting_cluster()
      : cluster_fixture(3, {"broadcasting.app_id=7", "broadcasting.key=ck",
                            "broadcasting.secret=cluster-app-secret"}) {}
};

} // namespace

// A browser connected to any member hears its company's events, wherever
// they were committed: here a subscriber on the third member, of a company
// the first owns, booked through the second.
BOOST_FIXTURE_TEST_CASE(a_subscriber_on_one_member_hears_commits_of_another,
                        broadcasting_cluster) {
  const auto& token = tokens[0];
  auto channel = "private-company." + companies[0];
  switchboard::test::ws_client ws{
      nodes[2]->port, "/app/ck?protocol=7&client=js&version=8.4.0&flash=false",
      ""};
  auto sid = ws.establish();
  BOOST_REQUIRE(!sid.empty());
  http_client c3{nodes[2]->port};
  auto a = c3.request("POST", "/broadcasting/auth",
                      "socket_id=" + sid + "&channel_name=" + channel, token,
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
  BOOST_TEST_INFO(a.body);
  BOOST_REQUIRE(a.status == 200);
  ws.send_event("pusher:subscribe",
                json::object{{"channel", channel},
                             {"auth", a.json().at("auth").as_string()}});
  BOOST_REQUIRE(ws.next_event("pusher_internal:subscription_succeeded"));
  seed(nodes[1]->port, token);
  http_client c2{nodes[1]->port};
  auto r = book(c2, token, "x1", switchboard::test::utc_at(3, 10));
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
  auto ev = ws.next_event("appointment.created");
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->at("channel").as_string() == channel);
  BOOST_TEST(ev->at("data_json").at("appointment").at("id").as_string()
             == "x1");
  // Another company's subscriber on the same member hears nothing of it.
  switchboard::test::ws_client other{
      nodes[2]->port, "/app/ck?protocol=7&client=js&version=8.4.0&flash=false",
      ""};
  auto osid = other.establish();
  auto other_channel = "private-company." + companies[1];
  auto oa = c3.request("POST", "/broadcasting/auth",
                       "socket_id=" + osid + "&channel_name=" + other_channel,
                       tokens[1],
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  BOOST_REQUIRE(oa.status == 200);
  other.send_event("pusher:subscribe",
                   json::object{{"channel", other_channel},
                                {"auth", oa.json().at("auth").as_string()}});
  BOOST_REQUIRE(other.next_event("pusher_internal:subscription_succeeded"));
  BOOST_TEST(book(c2, token, "x2", switchboard::test::utc_at(3, 12)).status
             == 201);
  BOOST_TEST(ws.next_event("appointment.created").has_value());
  BOOST_TEST(!other.next_event("appointment.created", 500ms));
}

namespace {

/// Three members with broadcasting on, with the app of the broadcasting
/// tests (client events from members of private and presence channels).
struct pusher_cluster : cluster_fixture {
  pusher_cluster()
      : cluster_fixture(3, switchboard::test::broadcasting_sets(
                               {"broadcasting.client_events=members"})) {}

  /// The users of `channel` as member `i`'s Pusher HTTP API lists them.
  std::set<std::string> users_at(std::size_t i, const std::string& channel) {
    auto r = switchboard::test::pusher_api(
        nodes[i]->port, "GET",
        std::string{"/apps/"} + switchboard::test::app_id + "/channels/"
            + channel + "/users",
        "");
    std::set<std::string> out;
    if (r.status != 200)
      return out;
    auto j = r.json();
    for (const auto& u : j.at("users").as_array())
      out.insert(std::string{u.at("id").as_string()});
    return out;
  }
};

/// The user id of a presence frame (member_added, member_removed).
std::string user_of(const switchboard::test::ws_client::frame& f) {
  return std::string{f.at("data_json").at("user_id").as_string()};
}

} // namespace

// Presence is cluster-wide (a user is listed wherever it is connected),
// and so are the frames clients and servers publish on a channel: client
// events and the Pusher HTTP API's events reach the subscribers of every
// member. A member that goes down takes its users with it.
BOOST_FIXTURE_TEST_CASE(presence_and_channel_frames_span_the_members,
                        pusher_cluster) {
  using switchboard::test::pusher_connect;
  using switchboard::test::pusher_subscribe_as;
  auto channel = "presence-company." + companies[0];
  auto second = nodes[0]->tenant({"token", companies[0]});
  BOOST_REQUIRE(switchboard::test::eventually([&] {
    http_client c{nodes[2]->port};
    return c.request("GET", "/api/company", "", second).status == 200;
  }));
  // A user on n1.
  auto a = pusher_connect(nodes[0]->port);
  auto a_sid = a->establish();
  auto sa = pusher_subscribe_as(nodes[0]->port, *a, a_sid, tokens[0], channel);
  BOOST_REQUIRE(sa);
  BOOST_TEST_INFO(json::serialize(*sa));
  BOOST_REQUIRE(sa->at("event").as_string()
                == "pusher_internal:subscription_succeeded");
  auto user_a = std::string{
      sa->at("data_json").at("presence").at("ids").at(0).as_string()};
  // n3 lists it.
  BOOST_REQUIRE(switchboard::test::eventually([&] {
    return users_at(2, channel) == std::set<std::string>{user_a};
  }));
  // Another user on n3 finds both, and the first hears of it on n1.
  auto c = pusher_connect(nodes[2]->port);
  auto c_sid = c->establish();
  auto sc = pusher_subscribe_as(nodes[2]->port, *c, c_sid, second, channel);
  BOOST_REQUIRE(sc);
  BOOST_TEST_INFO(json::serialize(*sc));
  auto presence = sc->at("data_json").at("presence");
  BOOST_TEST(presence.at("count").as_int64() == 2);
  BOOST_TEST(presence.at("hash").at(user_a).at("company_id").as_string()
             == companies[0]);
  std::string user_c;
  for (const auto& id : presence.at("ids").as_array())
    if (id.as_string() != user_a)
      user_c = std::string{id.as_string()};
  BOOST_REQUIRE(!user_c.empty());
  auto added = a->next_event("pusher_internal:member_added");
  BOOST_REQUIRE(added);
  BOOST_TEST(user_of(*added) == user_c);
  BOOST_TEST(switchboard::test::eventually([&] {
    return users_at(1, channel) == std::set<std::string>{user_a, user_c};
  }));
  // A client event from n1 reaches n3 (and not its sender).
  a->send(R"({"event":"client-typing","channel":")" + channel
          + R"(","data":{"typing":true}})");
  auto typing = c->next_event("client-typing");
  BOOST_REQUIRE(typing);
  BOOST_TEST(typing->at("user_id").as_string() == user_a);
  BOOST_TEST(!a->next_event("client-typing", 300ms));
  // An event published with the HTTP API of n2 reaches both.
  auto pub = switchboard::test::pusher_api(
      nodes[1]->port, "POST",
      std::string{"/apps/"} + switchboard::test::app_id + "/events",
      R"({"name":"notice","channel":")" + channel + R"(","data":"{}"})");
  BOOST_TEST_INFO(pub.body);
  BOOST_REQUIRE(pub.status == 200);
  BOOST_TEST(a->next_event("notice").has_value());
  BOOST_TEST(c->next_event("notice").has_value());
  // The user on n1 leaves: n3 hears it.
  a.reset();
  auto removed = c->next_event("pusher_internal:member_removed");
  BOOST_REQUIRE(removed);
  BOOST_TEST(user_of(*removed) == user_a);
  // It comes back on n1 and sees the user of n3; n3 goes down, and its
  // user goes with it.
  auto b = pusher_connect(nodes[0]->port);
  auto b_sid = b->establish();
  auto sb = pusher_subscribe_as(nodes[0]->port, *b, b_sid, tokens[0], channel);
  BOOST_REQUIRE(sb);
  BOOST_TEST(sb->at("data_json").at("presence").at("count").as_int64() == 2);
  nodes[2]->kill();
  auto gone = b->next_event("pusher_internal:member_removed", 10s);
  BOOST_REQUIRE(gone);
  BOOST_TEST(user_of(*gone) == user_c);
  BOOST_TEST(switchboard::test::eventually([&] {
    return users_at(1, channel) == std::set<std::string>{user_a};
  }));
}

BOOST_AUTO_TEST_SUITE_END()

// -- the dashboard's live feed across members ---------------------------------

namespace {

using switchboard::test::sse_client;
using switchboard::test::sse_frame;

/// Customer `id` of company `token`, made through member `port`.
void add_customer(std::uint16_t port, const std::string& token,
                  const std::string& id) {
  http_client c{port};
  auto r = c.request("POST", "/api/customers",
                     R"({"id":")" + id + R"(","name":"N","phone":"+4930111"})",
                     token);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
}

/// The next event of a stream with its frame, checked to be well formed.
std::pair<sse_frame, json::object> next_event(sse_client& s) {
  auto f = s.next_event();
  BOOST_REQUIRE(f.has_value());
  return {*f, json::parse(f->data).as_object()};
}

/// The stream's events up to the one of aggregate `id` (included); fails
/// when the stream ends first.
std::vector<std::pair<sse_frame, json::object>>
read_until(sse_client& s, const std::string& id) {
  std::vector<std::pair<sse_frame, json::object>> out;
  for (;;) {
    out.push_back(next_event(s));
    if (out.back().second.at("aggregateid").as_string() == id)
      return out;
  }
}

std::string company_of(const json::object& e) {
  return std::string{e.at("companyid").as_string()};
}

std::uint64_t sequence_of(const json::object& e) {
  return std::stoull(std::string{e.at("sequence").as_string()});
}

/// The header a member names a session's principal with, as a client
/// might forge it for company `company`.
std::pair<std::string, std::string> forwarded_for(const std::string& company) {
  return {"X-Switchboard-Session-Principal",
          R"({"company_id":")" + company + R"(","admin":false,"user_id":""})"};
}

/// The customers created among `events`, in order.
std::vector<std::string>
created(const std::vector<std::pair<sse_frame, json::object>>& events) {
  std::vector<std::string> out;
  for (const auto& [f, e] : events)
    if (e.at("type").as_string() == "customer.created")
      out.push_back(std::string{e.at("aggregateid").as_string()});
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_suite)

// A stream opened on any member carries the commits of the companies the
// others own: co0 (owned by n1) signs in to the dashboard on n3 and sees
// its own events booked through n1, n2 and n3, and nothing of co1's or
// co2's; an admin's stream of every company on n3 sees them all. A resume
// of co0's stream on n3 (Last-Event-ID: a sequence of n1's log) reads
// what was missed at n1, then goes live.
BOOST_FIXTURE_TEST_CASE(a_stream_on_one_member_carries_commits_of_the_others,
                        cluster_fixture) {
  const auto n3 = nodes[2]->port;
  http_client c3{n3};
  const auto cookie = switchboard::test::sign_in(c3, tokens[0]).cookie;
  sse_client own{n3, "/admin/events/stream", {{"Cookie", cookie}}};
  sse_client theirs{
      n3, "/admin/events/stream", {{"Authorization", "Bearer " + tokens[1]}}};
  sse_client all{
      n3, "/admin/events/stream", {{"Authorization", "Bearer " + admin}}};
  for (auto* s : {&own, &theirs, &all})
    BOOST_REQUIRE(s->status == 200);
  add_customer(nodes[0]->port, tokens[0], "a1");
  add_customer(nodes[1]->port, tokens[0], "a2");
  add_customer(n3, tokens[1], "b1");
  add_customer(n3, tokens[2], "c1");
  add_customer(n3, tokens[0], "a3");
  // co1's stream on n3: its event (committed at n2), with n2's sequence
  // as its id.
  for (const auto& [f, e] : read_until(theirs, "b1")) {
    BOOST_TEST(company_of(e) == companies[1]);
    BOOST_TEST(f.id == std::to_string(sequence_of(e)));
  }
  // The admin's stream of every company: all five. Events of this
  // member's log carry their id; those of other members' logs none (this
  // stream resumes from this member's log only).
  std::set<std::string> seen;
  while (seen.size() < 5) {
    auto [f, e] = next_event(all);
    if (e.at("type").as_string() == "customer.created")
      seen.insert(std::string{e.at("aggregateid").as_string()});
    if (company_of(e) == companies[2])
      BOOST_TEST(f.id == std::to_string(sequence_of(e)));
    else
      BOOST_TEST(f.id.empty());
  }
  BOOST_TEST(seen == (std::set<std::string>{"a1", "a2", "a3", "b1", "c1"}));
  // co0's stream: its three, in n1's order, with n1's sequences as ids;
  // and then a fourth, which came after co1's and co2's had reached this
  // member's streams: nothing of theirs before it.
  add_customer(nodes[1]->port, tokens[0], "a4");
  auto events = read_until(own, "a4");
  for (const auto& [f, e] : events) {
    BOOST_TEST(company_of(e) == companies[0]);
    BOOST_TEST(f.id == std::to_string(sequence_of(e)));
  }
  BOOST_TEST(created(events)
             == (std::vector<std::string>{"a1", "a2", "a3", "a4"}));
  // Resumed after a1: a2, a3 and a4 from n1's log (this member has none
  // of co0's events), then live.
  const auto after_a1 = events.front().first.id;
  sse_client resumed{n3,
                     "/admin/events/stream",
                     {{"Cookie", cookie}, {"Last-Event-ID", after_a1}}};
  BOOST_REQUIRE(resumed.status == 200);
  auto caught_up = read_until(resumed, "a4");
  for (const auto& [f, e] : caught_up) {
    BOOST_TEST(company_of(e) == companies[0]);
    BOOST_TEST(sequence_of(e) > std::stoull(after_a1));
  }
  BOOST_TEST(created(caught_up)
             == (std::vector<std::string>{"a2", "a3", "a4"}));
  add_customer(nodes[0]->port, tokens[0], "a5");
  add_customer(n3, tokens[1], "b2");
  add_customer(nodes[1]->port, tokens[0], "a6");
  auto live = read_until(resumed, "a6");
  for (const auto& [f, e] : live)
    BOOST_TEST(company_of(e) == companies[0]);
  BOOST_TEST(created(live) == (std::vector<std::string>{"a5", "a6"}));
  // Another company's token cannot read co0's missed events through n3:
  // its resume reads its own company's.
  sse_client other_resume{
      n3,
      "/admin/events/stream",
      {{"Authorization", "Bearer " + tokens[1]}, {"Last-Event-ID", "0"}}};
  BOOST_REQUIRE(other_resume.status == 200);
  for (const auto& [f, e] : read_until(other_resume, "b2"))
    BOOST_TEST(company_of(e) == companies[1]);
}

// The dashboard of one member, in a real browser, lists live the commits
// of another member's company, although their sequences (the owner's
// log) are below those of this member's own listing.
BOOST_FIXTURE_TEST_CASE(a_members_dashboard_lists_other_members_commits,
                        cluster_fixture) {
  const auto n3 = nodes[2]->port;
  for (int i = 0; i < 12; ++i)
    add_customer(n3, tokens[2], "own" + std::to_string(i));
  auto out = std::string{SWITCHBOARD_ARTIFACTS_DIR} + "/dashboard-cluster";
  std::filesystem::remove_all(out);
  auto [rc, said] = run_check_script(
      "check_dashboard_cluster.py",
      {"--base", "http://127.0.0.1:" + std::to_string(n3), "--admin", admin,
       "--local", tokens[2], "--remote-base",
       "http://127.0.0.1:" + std::to_string(nodes[0]->port), "--remote",
       tokens[0], "--out", out});
  BOOST_TEST_INFO(said);
  if (rc == 77) {
    BOOST_TEST_MESSAGE("skipped: " << said);
    return;
  }
  BOOST_TEST(rc == 0);
}

// A client's copy of the header a member asks an owner's catch-up with is
// never taken for a member's word, on any member (the owner included):
// without credentials the stream is refused (401), with another
// company's token it carries that company's events only.
BOOST_FIXTURE_TEST_CASE(a_client_cannot_pose_as_a_member_asking_for_a_stream,
                        cluster_fixture) {
  add_customer(nodes[0]->port, tokens[0], "a1");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    sse_client forged{nodes[i]->port,
                      "/admin/events/stream",
                      {{"x-switchboard-stream-company", companies[0]},
                       {"Last-Event-ID", "0"}}};
    BOOST_TEST(forged.status == 401);
    // With another company's token: that company's events only.
    sse_client as_co1{nodes[i]->port,
                      "/admin/events/stream",
                      {{"Authorization", "Bearer " + tokens[1]},
                       {"x-switchboard-stream-company", companies[0]},
                       {"Last-Event-ID", "0"}}};
    BOOST_REQUIRE(as_co1.status == 200);
    add_customer(nodes[1]->port, tokens[1], "b" + std::to_string(i));
    for (const auto& [f, e] : read_until(as_co1, "b" + std::to_string(i)))
      BOOST_TEST(company_of(e) == companies[1]);
  }
}

// The dashboard signed in on a member that does not own the company: its
// session lives on that member, which forwards the session's requests to
// the owner naming the session's principal. Reads and CSRF-checked
// changes work; a client's own copy of that header counts for nothing.
BOOST_FIXTURE_TEST_CASE(a_session_on_one_member_reaches_the_owner,
                        cluster_fixture) {
  const auto n3 = nodes[2]->port;
  http_client c3{n3};
  auto sign_in = [&](const std::string& token) {
    auto s = switchboard::test::sign_in(c3, token);
    return std::make_pair(s.cookie, s.csrf);
  };
  add_customer(nodes[0]->port, tokens[0], "a1");
  add_customer(nodes[1]->port, tokens[1], "b1");
  const auto [cookie, csrf] = sign_in(tokens[0]);
  // A read of co0 (owned by n1) through n3 with the cookie.
  auto read
      = c3.request("GET", "/api/customers/a1", "", "", {{"Cookie", cookie}});
  BOOST_TEST_INFO(read.body);
  BOOST_TEST(read.status == 200);
  // A change: refused here without the CSRF token, made at n1 with it.
  auto body = R"({"id":"a2","name":"N","phone":"+4930111"})";
  auto refused
      = c3.request("POST", "/api/customers", body, "",
                   {{"Cookie", cookie}, {"Origin", "http://127.0.0.1"}});
  BOOST_TEST(refused.status == 403);
  auto made = c3.request("POST", "/api/customers", body, "",
                         {{"Cookie", cookie},
                          {"Origin", "http://127.0.0.1"},
                          {"X-CSRF-Token", csrf}});
  BOOST_TEST_INFO(made.body);
  BOOST_TEST(made.status == 201);
  http_client c1{nodes[0]->port};
  BOOST_TEST(c1.request("GET", "/api/customers/a2", "", tokens[0]).status
             == 200);
  // Another company's data stays another's.
  BOOST_TEST(
      c3.request("GET", "/api/customers/b1", "", "", {{"Cookie", cookie}})
          .status
      == 404);
  // The header from a client: nothing without credentials, at the owner
  // or elsewhere; with co1's credentials, co1's view.
  const auto forged = forwarded_for(companies[0]);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    http_client c{nodes[i]->port};
    BOOST_TEST(c.request("GET", "/api/customers/a1", "", "", {forged}).status
               == 401);
    BOOST_TEST(
        c.request("GET", "/api/customers/a1", "", tokens[1], {forged}).status
        == 404);
  }
  const auto [co1_cookie, co1_csrf] = sign_in(tokens[1]);
  BOOST_TEST(c3.request("GET", "/api/customers/a1", "", "",
                        {{"Cookie", co1_cookie}, forged})
                 .status
             == 404);
  BOOST_TEST(c3.request("GET", "/api/customers/b1", "", "",
                        {{"Cookie", co1_cookie}, forged})
                 .status
             == 200);
}

BOOST_AUTO_TEST_SUITE_END()
