// Broadcasting's limits against the real daemon: silent connections
// pinged then closed, origins and the connection quota, CORS of
// /broadcasting/auth, and slow consumers closed without slowing anyone.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/broadcast_names.hpp"

BOOST_AUTO_TEST_SUITE(broadcast_limits_suite)

struct short_timeout_fixture : broadcast_fixture {
  short_timeout_fixture()
      : broadcast_fixture({"broadcasting.activity_timeout_s=1",
                           "broadcasting.max_connections=3",
                           "broadcasting.allowed_origins=app.example.com, "
                           "*.example.org"}) {}
};

BOOST_FIXTURE_TEST_CASE(silent_connections_are_pinged_then_closed,
                        short_timeout_fixture) {
  auto quiet = connect("app-key", "https://app.example.com");
  auto f = quiet->next();
  BOOST_REQUIRE(f);
  BOOST_TEST(f->at("data_json").at("activity_timeout").as_int64() == 1);
  auto talker = connect("app-key", "http://x.example.org:8080");
  BOOST_REQUIRE(!talker->establish().empty());
  auto ping = quiet->next_event("pusher:ping", 3s);
  BOOST_REQUIRE(ping);
  // The talker answers every ping and stays.
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(talker->next_event("pusher:ping", 3s));
    talker->send(R"({"event":"pusher:pong","data":{}})");
  }
  // The quiet one did not answer: closed with 4201 (reconnect at once).
  BOOST_TEST(quiet->wait_closed(1s) == 4201);
  BOOST_TEST(talker->wait_closed(10ms) == -1);
}

BOOST_FIXTURE_TEST_CASE(origins_and_connection_quota, short_timeout_fixture) {
  auto evil = connect("app-key", "https://evil.com");
  auto e = evil->next_event("pusher:error");
  BOOST_REQUIRE(e);
  BOOST_TEST(error_code(*e) == 4009);
  BOOST_TEST(evil->wait_closed() == 4009);
  auto bare = connect("app-key"); // no Origin at all
  BOOST_TEST(bare->wait_closed() == 4009);

  std::vector<std::unique_ptr<ws_client>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(connect("app-key", "https://app.example.com"));
    BOOST_REQUIRE(!open.back()->establish().empty());
  }
  auto over = connect("app-key", "https://app.example.com");
  auto q = over->next_event("pusher:error");
  BOOST_REQUIRE(q);
  BOOST_TEST(error_code(*q) == 4004);
  BOOST_TEST(over->wait_closed() == 4004);
  // A place frees up when one goes.
  open.pop_back();
  std::this_thread::sleep_for(200ms);
  auto again = connect("app-key", "https://app.example.com");
  BOOST_TEST(!again->establish().empty());
}

BOOST_FIXTURE_TEST_CASE(auth_answers_cors_for_allowed_origins,
                        short_timeout_fixture) {
  const std::string good = "https://app.example.com";
  const std::string form
      = "socket_id=1234.5678&channel_name=private-company.acme";
  std::vector<std::pair<std::string, std::string>> as_form{
      {"Content-Type", "application/x-www-form-urlencoded"}};
  auto with = [&](std::vector<std::pair<std::string, std::string>> h,
                  const std::string& origin) {
    h.emplace_back("Origin", origin);
    return h;
  };
  http_client c{port};

  // The preflight: no token; the allowed origin and the headers asked.
  auto pre = c.request(
      "OPTIONS", "/broadcasting/auth", "", "",
      {{"Origin", good},
       {"Access-Control-Request-Method", "POST"},
       {"Access-Control-Request-Headers", "authorization,x-socket-id"}});
  BOOST_TEST(pre.status == 204);
  BOOST_TEST(pre.header("access-control-allow-origin") == good);
  BOOST_TEST(pre.header("access-control-allow-headers")
             == "authorization,x-socket-id");
  BOOST_TEST(pre.header("access-control-allow-methods").find("POST")
             != std::string::npos);
  BOOST_TEST(pre.header("vary") == "Origin");
  // A pattern of allowed_origins (*.example.org) matches too.
  auto org = c.request("OPTIONS", "/broadcasting/auth", "", "",
                       {{"Origin", "http://x.example.org:8080"}});
  BOOST_TEST(org.status == 204);
  BOOST_TEST(org.header("access-control-allow-origin")
             == "http://x.example.org:8080");
  auto evil = c.request("OPTIONS", "/broadcasting/auth", "", "",
                        {{"Origin", "https://evil.com"}});
  BOOST_TEST(evil.status == 403);
  BOOST_TEST(evil.header("access-control-allow-origin").empty());
  BOOST_TEST(evil.body.find("allowed_origins") != std::string::npos);

  // The POST: CORS headers on every answer from an allowed origin, 401
  // included; another origin is refused even with a good token.
  auto ok = c.request("POST", "/broadcasting/auth", form, acme,
                      with(as_form, good));
  BOOST_TEST_INFO(ok.body);
  BOOST_TEST(ok.status == 200);
  BOOST_TEST(ok.header("access-control-allow-origin") == good);
  auto no_token
      = c.request("POST", "/broadcasting/auth", form, "", with(as_form, good));
  BOOST_TEST(no_token.status == 401);
  BOOST_TEST(no_token.header("access-control-allow-origin") == good);
  auto refused = c.request("POST", "/broadcasting/auth", form, acme,
                           with(as_form, "https://evil.com"));
  BOOST_TEST(refused.status == 403);
  BOOST_TEST(refused.body.find("origin_not_allowed") != std::string::npos);
  BOOST_TEST(refused.header("access-control-allow-origin").empty());
  // Without Origin (a server, not a browser): no CORS headers.
  auto server = c.request("POST", "/broadcasting/auth", form, acme, as_form);
  BOOST_TEST(server.status == 200);
  BOOST_TEST(server.header("access-control-allow-origin").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(broadcast_slow_suite)

/// A Pusher batch_events body: ten "big" events of 9,000 bytes each on
/// channel "updates" (about 90 KB of frames per subscriber).
std::string big_batch() {
  std::string data(9000, 'x');
  json::array batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(
        json::object{{"name", "big"}, {"channel", "updates"}, {"data", data}});
  json::object body;
  body["batch"] = batch;
  return json::serialize(body);
}

struct small_queue_fixture : broadcast_fixture {
  small_queue_fixture()
      : broadcast_fixture({"broadcasting.send_queue_frames=64"}) {}
};

BOOST_FIXTURE_TEST_CASE(a_slow_consumer_is_closed_and_slows_no_one,
                        small_queue_fixture) {
  // `slow` reads nothing for now; `fast` reads everything.
  ws_client slow{port, std::string{"/app/"} + app_key + "?protocol=7", "",
                 false};
  BOOST_REQUIRE(slow.ok());
  auto fast = connect();
  BOOST_REQUIRE(!fast->establish().empty());
  BOOST_REQUIRE(subscribe(*fast, "updates"));
  slow.send(R"({"event":"pusher:subscribe","data":{"channel":"updates"}})");
  std::this_thread::sleep_for(200ms);
  // About 11 MB: more than the socket buffers and the queue hold.
  auto text = big_batch();
  const int requests = 120;
  // `fast` takes each batch before the next is sent, so it is never the
  // slow one, however loaded the machine; `slow` falls ever further
  // behind. Were the broadcaster held up by `slow`, `fast` would wait.
  int got = 0;
  for (int i = 0; i < requests; ++i) {
    auto r
        = api("POST", std::string{"/apps/"} + app_id + "/batch_events", text);
    BOOST_REQUIRE(r.status == 200);
    for (int k = 0; k < 10 && fast->next_event("big", 30s); ++k)
      ++got;
  }
  BOOST_TEST(got == requests * 10);
  // Once it reads again, it finds the close: 4100 (back off, reconnect).
  slow.resume();
  BOOST_TEST(slow.wait_closed(10s) == 4100);
  // Counted once, however many frames it missed after its queue filled.
  http_client c{port};
  auto m = c.request("GET", "/metrics", "", admin);
  BOOST_REQUIRE(m.status == 200);
  const std::string counter = "\nswitchboard_websocket_slow_closed_total ";
  auto at = m.body.find(counter);
  BOOST_REQUIRE(at != std::string::npos);
  BOOST_TEST(std::stod(m.body.substr(at + counter.size())) == 1);
}

BOOST_FIXTURE_TEST_CASE(a_ping_amid_a_part_written_frame_keeps_frames_whole,
                        broadcast_fixture) {
  // The client reads nothing for now, through a small receive buffer, so
  // the daemon's frames to it end part-written. WebSocket pings sent then
  // are answered with pongs that must wait for the frame in progress: a
  // pong written into the middle of a frame would corrupt the stream.
  ws_client c{port, std::string{"/app/"} + app_key + "?protocol=7", "", false};
  BOOST_REQUIRE(c.ok());
  c.send(R"({"event":"pusher:subscribe","data":{"channel":"updates"}})");
  std::this_thread::sleep_for(200ms);
  auto text = big_batch();
  // About 5.4 MB: more than the socket buffers hold (4 MB at most here),
  // less than the send queue's bound.
  const int requests = 60;
  for (int i = 0; i < requests; ++i) {
    auto r
        = api("POST", std::string{"/apps/"} + app_id + "/batch_events", text);
    BOOST_REQUIRE(r.status == 200);
    c.ping();
    std::this_thread::sleep_for(5ms);
  }
  c.resume();
  // Every frame arrives whole and in order, then the connection stays
  // open; each ping got its pong.
  int got = 0;
  while (got < requests * 10 && c.next_event("big", 10s))
    ++got;
  BOOST_TEST(got == requests * 10);
  for (const auto& f : c.skipped)
    BOOST_TEST(!f.contains("unparsed"));
  BOOST_TEST(c.wait_closed(300ms) == -1);
  for (int i = 0; i < 250 && c.pongs() < requests; ++i)
    std::this_thread::sleep_for(20ms);
  BOOST_TEST(c.pongs() == requests);
}

BOOST_AUTO_TEST_SUITE_END()
