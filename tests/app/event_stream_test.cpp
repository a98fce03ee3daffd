// The dashboard's live feed, GET /admin/events/stream (server-sent
// events), against the real daemon: each company sees its own events as
// they commit and nothing of another's, an admin sees all (or one
// company's), a reconnect with Last-Event-ID gets what it missed from the
// store, quiet streams get heartbeat comments, and the limits hold.

#include <algorithm>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/sse_client.hpp"

using switchboard::test::daemon_fixture;
using switchboard::test::http_client;
using switchboard::test::sse_client;
using switchboard::test::sse_frame;
namespace json = boost::json;

namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// Makes customer `id` of the token's company; returns the sequence of its
/// event (read back as the company's newest).
std::uint64_t add_customer(http_client& c, const std::string& token,
                           const std::string& id) {
  auto r = c.request("POST", "/api/customers",
                     R"({"id":")" + id + R"(","name":"N","phone":"+4930111"})",
                     token);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
  auto e = c.request("GET", "/api/events?limit=1", "", token);
  BOOST_REQUIRE(e.status == 200);
  auto a = e.json().as_array();
  BOOST_REQUIRE(a.size() == 1u);
  BOOST_REQUIRE(a[0].at("aggregateid").as_string() == id);
  return std::stoull(std::string{a[0].at("sequence").as_string()});
}

/// The event of a frame, checked to be well formed.
json::object event_of(const std::optional<sse_frame>& f) {
  BOOST_REQUIRE(f.has_value());
  BOOST_REQUIRE(f->is_event());
  auto v = json::parse(f->data).as_object();
  BOOST_TEST(f->id == std::string{v.at("sequence").as_string()});
  return v;
}

std::string company_of(const json::object& e) {
  return std::string{e.at("companyid").as_string()};
}

std::string aggregate_of(const json::object& e) {
  return std::string{e.at("aggregateid").as_string()};
}

/// The stream's events up to the one of aggregate `id` (included); fails
/// when the stream ends first.
std::vector<json::object> read_until(sse_client& s, const std::string& id) {
  std::vector<json::object> out;
  for (;;) {
    out.push_back(event_of(s.next_event()));
    if (aggregate_of(out.back()) == id)
      return out;
  }
}

/// Each of `events` is `company`'s.
void all_of(const std::vector<json::object>& events,
            const std::string& company) {
  for (const auto& e : events)
    BOOST_TEST(company_of(e) == company);
}

} // namespace

BOOST_AUTO_TEST_SUITE(event_stream)

BOOST_FIXTURE_TEST_CASE(each_company_sees_its_own_events_live, daemon_fixture) {
  http_client c{port};
  sse_client a{port, "/admin/events/stream", bearer(acme)};
  sse_client b{port, "/admin/events/stream", bearer(globex)};
  sse_client all{port, "/admin/events/stream", bearer(admin)};
  sse_client only_b{port, "/admin/events/stream?company_id=globex",
                    bearer(admin)};
  // A company may not widen its stream with company_id.
  sse_client a_asks_b{port, "/admin/events/stream?company_id=globex",
                      bearer(acme)};
  for (auto* s : {&a, &b, &all, &only_b, &a_asks_b}) {
    BOOST_REQUIRE(s->status == 200);
    BOOST_TEST(s->headers["content-type"].find("text/event-stream") == 0u);
    BOOST_TEST(s->headers.count("content-length") == 0u);
  }
  auto s1 = add_customer(c, acme, "cu-a1");
  auto s2 = add_customer(c, globex, "cu-b1");
  auto s3 = add_customer(c, acme, "cu-a2");
  // Acme's stream: its two events, in order, and only acme's (globex's
  // came between them).
  for (auto* s : {&a, &a_asks_b}) {
    auto first = read_until(*s, "cu-a1");
    BOOST_TEST(first.back().at("type").as_string() == "customer.created");
    auto second = read_until(*s, "cu-a2");
    all_of(first, "acme");
    all_of(second, "acme");
  }
  all_of(read_until(b, "cu-b1"), "globex");
  // The admin: every company's, in sequence order.
  std::vector<std::uint64_t> seen;
  for (const auto& e : read_until(all, "cu-a2"))
    seen.push_back(std::stoull(std::string{e.at("sequence").as_string()}));
  BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
  for (auto want : {s1, s2, s3})
    BOOST_TEST(std::count(seen.begin(), seen.end(), want) == 1);
  // The admin narrowed to globex: globex's only, live.
  all_of(read_until(only_b, "cu-b1"), "globex");
  add_customer(c, globex, "cu-b2");
  all_of(read_until(only_b, "cu-b2"), "globex");
  all_of(read_until(b, "cu-b2"), "globex");
}

BOOST_FIXTURE_TEST_CASE(a_reconnect_gets_what_it_missed, daemon_fixture) {
  http_client c{port};
  auto s1 = add_customer(c, acme, "cu-a1");
  add_customer(c, globex, "cu-b1");
  add_customer(c, acme, "cu-a2");
  // Resuming after acme's first event: its second from the store (not
  // globex's in between), then the live ones.
  sse_client a{port,
               "/admin/events/stream",
               {{"Authorization", "Bearer " + acme},
                {"Last-Event-ID", std::to_string(s1)}}};
  BOOST_REQUIRE(a.status == 200);
  auto caught_up = read_until(a, "cu-a2");
  all_of(caught_up, "acme");
  for (const auto& e : caught_up)
    BOOST_TEST(std::stoull(std::string{e.at("sequence").as_string()}) > s1);
  add_customer(c, globex, "cu-b2");
  add_customer(c, acme, "cu-a3");
  all_of(read_until(a, "cu-a3"), "acme");
  // ?after= does the same for the first connection; Last-Event-ID wins
  // over it.
  sse_client q{port, "/admin/events/stream?after=0", bearer(acme)};
  BOOST_REQUIRE(q.status == 200);
  for (const auto* id : {"cu-a1", "cu-a2", "cu-a3"})
    all_of(read_until(q, id), "acme");
  sse_client both{port,
                  "/admin/events/stream?after=0",
                  {{"Authorization", "Bearer " + acme},
                   {"Last-Event-ID", std::to_string(s1)}}};
  BOOST_REQUIRE(both.status == 200);
  auto from_s1 = event_of(both.next_event());
  BOOST_TEST(std::stoull(std::string{from_s1.at("sequence").as_string()}) > s1);
}

BOOST_FIXTURE_TEST_CASE(who_may_open_a_stream, daemon_fixture) {
  // No credentials, an unknown token: 401.
  sse_client none{port, "/admin/events/stream"};
  BOOST_TEST(none.status == 401);
  sse_client wrong{port, "/admin/events/stream",
                   bearer("sb_" + std::string(64, '0'))};
  BOOST_TEST(wrong.status == 401);
  // A bad resume point: 422 naming it.
  sse_client bad_id{
      port,
      "/admin/events/stream",
      {{"Authorization", "Bearer " + acme}, {"Last-Event-ID", "12x"}}};
  BOOST_TEST(bad_id.status == 422);
  BOOST_TEST(bad_id.body.find("Last-Event-ID") != std::string::npos);
  sse_client bad_after{port, "/admin/events/stream?after=-1", bearer(acme)};
  BOOST_TEST(bad_after.status == 422);
  BOOST_TEST(bad_after.body.find("\"after\"") != std::string::npos);
  // The dashboard's session cookie: the session's company.
  http_client c{port};
  auto r = c.request("POST", "/admin/events/session",
                     R"({"token":")" + globex + R"("})", "",
                     {{"Origin", "http://127.0.0.1"}});
  BOOST_REQUIRE(r.status == 200);
  auto set = r.header("set-cookie");
  auto cookie = set.substr(0, set.find(';'));
  sse_client s{port, "/admin/events/stream", {{"Cookie", cookie}}};
  BOOST_REQUIRE(s.status == 200);
  add_customer(c, acme, "cu-a1");
  add_customer(c, globex, "cu-b1");
  all_of(read_until(s, "cu-b1"), "globex");
  // Signed out: the cookie opens nothing.
  auto csrf = std::string{r.json().at("csrf_token").as_string()};
  BOOST_REQUIRE(c.request("DELETE", "/admin/events/session", "", "",
                          {{"Cookie", cookie},
                           {"Origin", "http://127.0.0.1"},
                           {"X-CSRF-Token", csrf}})
                    .status
                == 200);
  sse_client after_sign_out{port, "/admin/events/stream", {{"Cookie", cookie}}};
  BOOST_TEST(after_sign_out.status == 401);
}

BOOST_AUTO_TEST_CASE(quiet_streams_get_heartbeats_and_limits_hold) {
  daemon_fixture d{{"http.event_stream_heartbeat_ms=20",
                    "http.event_streams_per_company=2"}};
  sse_client a1{d.port, "/admin/events/stream", bearer(d.acme)};
  sse_client a2{d.port, "/admin/events/stream", bearer(d.acme)};
  BOOST_REQUIRE(a1.status == 200);
  BOOST_REQUIRE(a2.status == 200);
  // Nothing happens: comments come, and only comments.
  int beats = 0;
  for (int i = 0; i < 3; ++i) {
    auto f = a1.next();
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(!f->is_event());
    beats += f->comment.find("heartbeat") != std::string::npos ? 1 : 0;
  }
  BOOST_TEST(beats >= 2);
  // A third stream of acme: 429; globex still gets its own.
  sse_client a3{d.port, "/admin/events/stream", bearer(d.acme)};
  BOOST_TEST(a3.status == 429);
  BOOST_TEST(a3.headers.count("retry-after") == 1u);
  sse_client b1{d.port, "/admin/events/stream", bearer(d.globex)};
  BOOST_TEST(b1.status == 200);
  // A stream that goes frees its place (the daemon sees it go when its
  // next heartbeat fails or its read ends).
  a2.close();
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    sse_client again{d.port, "/admin/events/stream", bearer(d.acme)};
    status = again.status;
    if (status != 200)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  BOOST_TEST(status == 200);
  http_client c{d.port};
  auto m = c.request("GET", "/metrics", "", d.admin);
  BOOST_TEST(m.body.find("switchboard_event_stream_refused_total ")
             != std::string::npos);
  BOOST_TEST(m.body.find("switchboard_event_streams ") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
