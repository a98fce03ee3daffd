// Broadcasting against the real daemon: the Pusher protocol frame by frame
// over WebSocket (handshake, ping, public, private and presence channels,
// bad auth, client events, malformed and oversize frames), POST
// /broadcasting/auth, the Pusher HTTP API with good and bad signatures,
// and a booking over HTTP that reaches its company's subscribers and no
// one else. Broadcasting's limits (activity timeout, connection quota,
// origins, slow consumers) are in broadcast_limits_test.cpp.

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include <sys/resource.h>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <app/config.hpp>
#include <app/http/broadcasting.hpp>

#include "tests/app/broadcast_names.hpp"

BOOST_AUTO_TEST_SUITE(broadcast_suite)

BOOST_AUTO_TEST_CASE(options_need_app_id_key_and_secret_together) {
  using switchboard::app::parse_config;
  using switchboard::app::http::broadcast_options_from;
  auto off = parse_config("", "test");
  BOOST_REQUIRE(off.has_value());
  auto o = broadcast_options_from(*off);
  BOOST_REQUIRE(o.has_value());
  BOOST_TEST(!o->enabled());
  auto partial = parse_config("[broadcasting]\nkey = k\n", "test");
  BOOST_REQUIRE(partial.has_value());
  auto bad = broadcast_options_from(*partial);
  BOOST_REQUIRE(!bad.has_value());
  BOOST_TEST(bad.error().find("broadcasting.app_id") != std::string::npos);
  BOOST_TEST(bad.error().find("broadcasting.secret") != std::string::npos);
  auto full = parse_config("[broadcasting]\napp_id = 1\nkey = k\nsecret = s\n"
                           "allowed_origins = a.example.com, *.b.org\n",
                           "test");
  BOOST_REQUIRE(full.has_value());
  auto on = broadcast_options_from(*full);
  BOOST_REQUIRE(on.has_value());
  BOOST_TEST(on->enabled());
  BOOST_TEST(on->allowed_origins.size() == 2u);
  BOOST_TEST(on->allowed_origins[1] == "*.b.org");
}

BOOST_AUTO_TEST_CASE(names_and_socket_ids) {
  using switchboard::app::http::valid_channel_name;
  using switchboard::app::http::valid_socket_id;
  BOOST_TEST(valid_socket_id("123.456"));
  BOOST_TEST(!valid_socket_id("123"));
  BOOST_TEST(!valid_socket_id(".1"));
  BOOST_TEST(!valid_socket_id("1.a"));
  BOOST_TEST(valid_channel_name("private-company.acme"));
  BOOST_TEST(!valid_channel_name(""));
  BOOST_TEST(!valid_channel_name("a b"));
  BOOST_TEST(!valid_channel_name(std::string(201, 'a')));
}

BOOST_AUTO_TEST_CASE(partial_configuration_stops_the_start) {
  switchboard::test::temp_dir dir;
  switchboard::test::child_process p{
      {SWITCHBOARD_BINARY, "serve", "--config",
       std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini", "--set",
       "store.path=" + dir.path() + "/data", "--set", "http.port=0", "--set",
       "broadcasting.key=k"}};
  BOOST_TEST(p.wait(30s) != 0);
  BOOST_TEST(p.output().find("broadcasting.secret") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_daemon_raises_its_open_files_limit) {
  // Started with a soft limit of 1,024 (as many systems set it), the daemon
  // takes the hard limit: one descriptor per WebSocket subscriber.
  rlimit saved{};
  BOOST_REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(1024, saved.rlim_max);
  BOOST_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::string soft, hard;
  {
    broadcast_fixture d;
    std::ifstream in{"/proc/" + std::to_string(d.proc->pid()) + "/limits"};
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("Max open files", 0) == 0) {
        std::istringstream words{line.substr(14)};
        words >> soft >> hard;
      }
  }
  setrlimit(RLIMIT_NOFILE, &saved);
  BOOST_TEST(!soft.empty());
  BOOST_TEST(soft == hard);
}

BOOST_FIXTURE_TEST_CASE(handshake_ping_and_bad_messages, broadcast_fixture) {
  auto ws = connect();
  BOOST_REQUIRE(ws->ok());
  BOOST_TEST(ws->status() == 101);
  auto f = ws->next();
  BOOST_REQUIRE(f);
  BOOST_TEST(event_of(*f) == "pusher:connection_established");
  // data is a JSON string holding socket_id and activity_timeout.
  BOOST_TEST(f->at("data").is_string());
  auto sid = std::string{f->at("data_json").at("socket_id").as_string()};
  BOOST_TEST(switchboard::app::http::valid_socket_id(sid));
  BOOST_TEST(f->at("data_json").at("activity_timeout").as_int64() == 30);

  ws->send(R"({"event":"pusher:ping","data":{}})");
  auto pong = ws->next();
  BOOST_REQUIRE(pong);
  BOOST_TEST(event_of(*pong) == "pusher:pong");

  // Malformed messages get 4200 and the connection stays.
  for (std::string bad :
       {"not json", "[1,2]", R"({"data":{}})", R"({"event":42})",
        R"({"event":"pusher:subscribe","data":{}})",
        R"({"event":"pusher:subscribe","data":{"channel":"a b"}})",
        R"({"event":"pusher:unknown"})"}) {
    ws->send(bad);
    auto e = ws->next();
    BOOST_TEST_INFO(bad);
    BOOST_REQUIRE(e);
    BOOST_TEST(event_of(*e) == "pusher:error");
    BOOST_TEST(error_code(*e) == 4200);
  }
  ws->send(R"({"event":"pusher:ping","data":{}})");
  BOOST_TEST(ws->next_event("pusher:pong").has_value());

  // Two connections, two socket ids.
  auto other = connect();
  BOOST_TEST(other->establish() != sid);
}

BOOST_FIXTURE_TEST_CASE(unknown_key_and_protocol_are_refused,
                        broadcast_fixture) {
  auto ws = connect("nope");
  BOOST_REQUIRE(ws->ok());
  auto e = ws->next();
  BOOST_REQUIRE(e);
  BOOST_TEST(event_of(*e) == "pusher:error");
  BOOST_TEST(error_code(*e) == 4001);
  BOOST_TEST(ws->wait_closed() == 4001);

  ws_client old{port, std::string{"/app/"} + app_key + "?protocol=3"};
  BOOST_REQUIRE(old.ok());
  auto e2 = old.next_event("pusher:error");
  BOOST_REQUIRE(e2);
  BOOST_TEST(error_code(*e2) == 4007);
  BOOST_TEST(old.wait_closed() == 4007);
}

BOOST_FIXTURE_TEST_CASE(public_channel_and_http_api, broadcast_fixture) {
  auto ws = connect();
  auto sid = ws->establish();
  BOOST_REQUIRE(!sid.empty());
  auto ok = subscribe(*ws, "updates");
  BOOST_REQUIRE(ok);
  BOOST_TEST(event_of(*ok) == "pusher_internal:subscription_succeeded");
  BOOST_TEST(ok->at("channel").as_string() == "updates");

  std::string path = std::string{"/apps/"} + app_id + "/events";
  auto body = R"({"name":"price.changed","channel":"updates",)"
              R"("data":"{\"cents\":100}"})";
  auto r = api("POST", path, body);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  auto ev = ws->next_event("price.changed");
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->at("channel").as_string() == "updates");
  BOOST_TEST(ev->at("data").as_string() == R"({"cents":100})");

  // socket_id excludes that connection.
  auto excluded = std::string{R"({"name":"x","channel":"updates","data":"1",)"}
                  + R"("socket_id":")" + sid + "\"}";
  BOOST_TEST(api("POST", path, excluded).status == 200);
  BOOST_TEST(!ws->next_event("x", 300ms));

  // Bad signatures, stale time, wrong body, wrong app.
  BOOST_TEST(api("POST", path, body, {}, "wrong-secret").status == 401);
  BOOST_TEST(api("POST", path, body, {{"auth_timestamp", "1000"}}).status
             == 401);
  BOOST_TEST(api("POST", path, body, {{"body_md5", md5("other")}}).status
             == 401);
  BOOST_TEST(api("POST", path, body, {{"auth_key", "other"}}).status == 401);
  BOOST_TEST(api("POST", "/apps/1/events", body).status == 404);
  http_client c{port};
  BOOST_TEST(c.request("POST", path, body).status == 401);
  auto bad_fields = api("POST", path, R"({"name":"x","data":"1"})");
  BOOST_TEST(bad_fields.status == 422);
  BOOST_TEST(bad_fields.body.find("channel") != std::string::npos);
  BOOST_TEST(!ws->next_event("price.changed", 200ms));

  // Batch and channel reports.
  auto batch = R"({"batch":[{"name":"a","channel":"updates","data":"1"},)"
               R"({"name":"b","channel":"updates","data":"2"}]})";
  BOOST_TEST(
      api("POST", std::string{"/apps/"} + app_id + "/batch_events", batch)
          .status
      == 200);
  BOOST_TEST(ws->next_event("a").has_value());
  BOOST_TEST(ws->next_event("b").has_value());
  auto channels = api("GET", std::string{"/apps/"} + app_id + "/channels", "",
                      {{"info", "subscription_count"}});
  BOOST_TEST_INFO(channels.body);
  BOOST_REQUIRE(channels.status == 200);
  BOOST_TEST(channels.json()
                 .at("channels")
                 .at("updates")
                 .at("subscription_count")
                 .as_int64()
             == 1);
  auto one = api("GET", std::string{"/apps/"} + app_id + "/channels/updates",
                 "", {{"info", "subscription_count"}});
  BOOST_REQUIRE(one.status == 200);
  BOOST_TEST(one.json().at("occupied").as_bool());

  // Unsubscribed: nothing more arrives.
  ws->send_event("pusher:unsubscribe", json::object{{"channel", "updates"}});
  ws->send(R"({"event":"pusher:ping"})");
  BOOST_TEST(ws->next_event("pusher:pong").has_value());
  BOOST_TEST(api("POST", path, body).status == 200);
  BOOST_TEST(!ws->next_event("price.changed", 300ms));
  auto gone
      = api("GET", std::string{"/apps/"} + app_id + "/channels/updates", "");
  BOOST_TEST(!gone.json().at("occupied").as_bool());
}

BOOST_FIXTURE_TEST_CASE(private_channels_need_a_valid_auth, broadcast_fixture) {
  auto ws = connect();
  auto sid = ws->establish();
  BOOST_REQUIRE(!sid.empty());
  std::string channel = "private-company.acme";

  // /broadcasting/auth signs the token's own company only.
  auto a = auth(acme, sid, channel);
  BOOST_TEST_INFO(a.body);
  BOOST_REQUIRE(a.status == 200);
  auto signature = std::string{a.json().at("auth").as_string()};
  BOOST_TEST(signature
             == std::string{app_key} + ":"
                    + hmac(app_secret, sid + ":" + channel));
  BOOST_TEST(auth(globex, sid, channel).status == 403);
  BOOST_TEST(auth(admin, sid, channel).status == 403);
  BOOST_TEST(auth(acme, sid, "private-company.globex").status == 403);
  BOOST_TEST(auth(acme, sid, "private-company.acme.x").status == 403);
  BOOST_TEST(auth(acme, sid, "updates").status == 403);
  BOOST_TEST(auth("", sid, channel).status == 401);
  auto missing = auth(acme, "", channel);
  BOOST_TEST(missing.status == 422);
  BOOST_TEST(missing.body.find("socket_id") != std::string::npos);
  BOOST_TEST(auth(acme, "12", channel).status == 422);

  // Without auth, with another socket's auth, with the wrong key part.
  auto none = subscribe(*ws, channel);
  BOOST_REQUIRE(none);
  BOOST_TEST(event_of(*none) == "pusher:error");
  BOOST_TEST(error_code(*none) == 4009);
  auto other = connect();
  auto other_sid = other->establish();
  auto stolen = auth(acme, other_sid, channel).json().at("auth").as_string();
  auto wrong_socket = subscribe(*ws, channel, std::string{stolen});
  BOOST_REQUIRE(wrong_socket);
  BOOST_TEST(error_code(*wrong_socket) == 4009);
  auto wrong_key = subscribe(*ws, channel,
                             "app-kez" + signature.substr(signature.find(':')));
  BOOST_REQUIRE(wrong_key);
  BOOST_TEST(error_code(*wrong_key) == 4009);

  // The right one.
  auto ok = subscribe(*ws, channel, signature);
  BOOST_REQUIRE(ok);
  BOOST_TEST(event_of(*ok) == "pusher_internal:subscription_succeeded");
  BOOST_TEST(ok->at("data").as_string() == "{}");
}

BOOST_FIXTURE_TEST_CASE(presence_members_once_per_user, broadcast_fixture) {
  std::string channel = "presence-company.acme";
  auto acme2 = tenant({"token", "acme"});
  auto a = connect();
  auto a_sid = a->establish();
  auto b = connect(); // a second tab of the same user
  auto b_sid = b->establish();
  auto c = connect(); // another user
  auto c_sid = c->establish();

  auto sa = subscribe_as(*a, a_sid, acme, channel);
  BOOST_REQUIRE(sa);
  BOOST_TEST_INFO(json::serialize(*sa));
  BOOST_REQUIRE(event_of(*sa) == "pusher_internal:subscription_succeeded");
  auto presence = sa->at("data_json").at("presence");
  BOOST_TEST(presence.at("count").as_int64() == 1);
  auto user_a = std::string{presence.at("ids").at(0).as_string()};
  BOOST_TEST(presence.at("hash").at(user_a).at("company_id").as_string()
             == "acme");

  auto sb = subscribe_as(*b, b_sid, acme, channel);
  BOOST_REQUIRE(sb);
  BOOST_TEST(sb->at("data_json").at("presence").at("count").as_int64() == 1);
  BOOST_TEST(!a->next_event("pusher_internal:member_added", 300ms));

  auto sc = subscribe_as(*c, c_sid, acme2, channel);
  BOOST_REQUIRE(sc);
  BOOST_TEST(sc->at("data_json").at("presence").at("count").as_int64() == 2);
  for (auto* ws : {a.get(), b.get()}) {
    auto added = ws->next_event("pusher_internal:member_added");
    BOOST_REQUIRE(added);
    BOOST_TEST(added->at("data_json").at("user_id").as_string() != user_a);
  }
  BOOST_TEST(!c->next_event("pusher_internal:member_added", 300ms));

  // A globex token cannot join acme's presence channel.
  BOOST_TEST(auth(globex, c_sid, channel).status == 403);

  // One tab leaves: the user is still there.
  b->send_event("pusher:unsubscribe", json::object{{"channel", channel}});
  BOOST_TEST(!c->next_event("pusher_internal:member_removed", 300ms));
  // The last tab goes: removed once.
  a.reset();
  auto removed = c->next_event("pusher_internal:member_removed");
  BOOST_REQUIRE(removed);
  BOOST_TEST(removed->at("data_json").at("user_id").as_string() == user_a);
  auto users = api(
      "GET", std::string{"/apps/"} + app_id + "/channels/" + channel + "/users",
      "");
  BOOST_TEST_INFO(users.body);
  BOOST_REQUIRE(users.status == 200);
  BOOST_TEST(users.json().at("users").as_array().size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(client_events_from_members_only, broadcast_fixture) {
  std::string channel = "private-company.acme";
  auto a = member(acme, channel);
  auto b = member(acme, channel);
  BOOST_REQUIRE(subscribe(*a, "updates"));

  a->send(R"({"event":"client-typing","channel":"private-company.acme",)"
          R"("data":{"who":"ada"}})");
  auto got = b->next_event("client-typing");
  BOOST_REQUIRE(got);
  BOOST_TEST(got->at("data").at("who").as_string() == "ada");
  BOOST_TEST(!a->next_event("client-typing", 300ms));

  // Not on public channels, not on channels it has not joined.
  a->send(R"({"event":"client-typing","channel":"updates","data":{}})");
  auto pub = a->next_event("pusher:error");
  BOOST_REQUIRE(pub);
  BOOST_TEST(error_code(*pub) == 4009);
  a->send(R"({"event":"client-typing","channel":"private-company.globex",)"
          R"("data":{}})");
  auto foreign = a->next_event("pusher:error");
  BOOST_REQUIRE(foreign);
  BOOST_TEST(error_code(*foreign) == 4009);

  // Rate limit: 10 a second by default.
  for (int i = 0; i < 12; ++i)
    a->send(R"({"event":"client-n","channel":"private-company.acme",)"
            R"("data":{}})");
  auto limited = a->next_event("pusher:error");
  BOOST_REQUIRE(limited);
  BOOST_TEST(error_code(*limited) == 4301);
  int delivered = 0;
  while (b->next_event("client-n", 300ms))
    ++delivered;
  BOOST_TEST(delivered <= 10);
  BOOST_TEST(delivered >= 8);
}

BOOST_FIXTURE_TEST_CASE(oversize_frames_close_the_connection,
                        broadcast_fixture) {
  auto ws = connect();
  BOOST_REQUIRE(!ws->establish().empty());
  ws->send(R"({"event":"pusher:ping","data":")" + std::string(20000, 'x')
           + "\"}");
  BOOST_TEST(ws->wait_closed() == 1009);
}

BOOST_FIXTURE_TEST_CASE(a_booking_reaches_its_company_only, broadcast_fixture) {
  auto a = member(acme, "private-company.acme");
  auto g = member(globex, "private-company.globex");

  http_client c{port};
  seed(c, acme);
  auto start = utc_at(2, 10);
  created(book(c, acme, "a1", start));

  auto ev = a->next_event("appointment.created");
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->at("channel").as_string() == "private-company.acme");
  BOOST_TEST(ev->at("data").is_string());
  const auto& data = ev->at("data_json");
  BOOST_TEST(data.at("appointment").at("id").as_string() == "a1");
  BOOST_TEST(data.at("appointment").at("company_id").as_string() == "acme");
  BOOST_TEST(data.as_object().contains("source"));
  // The customer's creation came first, on the same channel.
  bool saw_customer = false;
  for (const auto& f : a->skipped)
    saw_customer = saw_customer || event_of(f) == "customer.created";
  BOOST_TEST(saw_customer);
  // A refused booking (the slot is taken) commits nothing: nothing goes out.
  auto taken = book(c, acme, "a2", start);
  BOOST_TEST(taken.status == 409);
  BOOST_TEST(!a->next_event("appointment.created", 500ms));
  // Globex hears nothing of it.
  while (auto f = g->next(500ms))
    BOOST_TEST(event_of(*f).rfind("pusher", 0) == 0,
               "globex received " << event_of(*f));
}

BOOST_FIXTURE_TEST_CASE(info_attributes_of_the_http_api, broadcast_fixture) {
  // Two connections of one token on a presence channel: one user, two
  // subscriptions; one connection on a public channel.
  std::string presence = "presence-company.acme";
  auto a = member(acme, presence);
  auto b = member(acme, presence);
  auto p = connect();
  BOOST_REQUIRE(!p->establish().empty());
  BOOST_REQUIRE(subscribe(*p, "updates"));
  auto base = std::string{"/apps/"} + app_id;

  // A trigger with info reports each channel once, as it is now;
  // user_count only for presence channels.
  auto r = api("POST", base + "/events",
               R"({"name":"n","data":"1","channels":[")" + presence
                   + R"(","updates","empty","updates"],)"
                   + R"("info":"user_count,subscription_count"})");
  auto rv = ok_json(r);
  const auto& ch = rv.at("channels").as_object();
  BOOST_TEST(ch.size() == 3u);
  BOOST_TEST(ch.at(presence).at("user_count").as_int64() == 1);
  BOOST_TEST(ch.at(presence).at("subscription_count").as_int64() == 2);
  BOOST_TEST(!ch.at("updates").as_object().contains("user_count"));
  BOOST_TEST(ch.at("updates").at("subscription_count").as_int64() == 1);
  BOOST_TEST(ch.at("empty").at("subscription_count").as_int64() == 0);
  BOOST_TEST(p->next_event("n").has_value());
  // Without info: {}.
  auto plain = api("POST", base + "/events",
                   R"({"name":"n","data":"1","channel":"updates"})");
  BOOST_REQUIRE(plain.status == 200);
  BOOST_TEST(plain.json().as_object().empty());
  // An unknown attribute names the field, and nothing is sent.
  auto bad = api("POST", base + "/events",
                 R"({"name":"m","data":"1","channel":"updates",)"
                 R"("info":"users"})");
  BOOST_TEST(bad.status == 422);
  BOOST_TEST(bad.body.find("\"info\"") != std::string::npos);
  BOOST_TEST(p->next_event("n").has_value());
  BOOST_TEST(!p->next_event("m", 300ms));

  // Batch: per event, the attributes its info asks for.
  auto batch = api("POST", base + "/batch_events",
                   R"({"batch":[{"name":"n","data":"1","channel":")" + presence
                       + R"(","info":"user_count"},)"
                       + R"({"name":"n","data":"2","channel":"updates"},)"
                       + R"({"name":"n","data":"3","channel":"updates",)"
                       + R"("info":"subscription_count"}]})");
  auto bv = ok_json(batch);
  const auto& answers = bv.at("batch").as_array();
  BOOST_REQUIRE(answers.size() == 3u);
  BOOST_TEST(answers[0].at("user_count").as_int64() == 1);
  BOOST_TEST(!answers[0].as_object().contains("subscription_count"));
  BOOST_TEST(answers[1].as_object().empty());
  BOOST_TEST(answers[2].at("subscription_count").as_int64() == 1);
  auto bad_batch = api("POST", base + "/batch_events",
                       R"({"batch":[{"name":"n","data":"1","channel":"u",)"
                       R"("info":7}]})");
  BOOST_TEST(bad_batch.status == 422);
  BOOST_TEST(bad_batch.body.find("batch[0].info") != std::string::npos);

  // GET /channels: user_count with the presence- prefix only.
  auto list = api("GET", base + "/channels", "",
                  {{"filter_by_prefix", "presence-"}, {"info", "user_count"}});
  auto lv = ok_json(list);
  const auto& listed = lv.at("channels").as_object();
  BOOST_TEST(listed.size() == 1u);
  BOOST_TEST(listed.at(presence).at("user_count").as_int64() == 1);
  auto no_prefix = api("GET", base + "/channels", "", {{"info", "user_count"}});
  BOOST_TEST(no_prefix.status == 422);
  BOOST_TEST(no_prefix.body.find("info") != std::string::npos);
  BOOST_TEST(api("GET", base + "/channels", "", {{"info", "cache"}}).status
             == 422);

  // GET /channels/{name}.
  auto one = api("GET", base + "/channels/" + presence, "",
                 {{"info", "user_count,subscription_count"}});
  BOOST_TEST_INFO(one.body);
  BOOST_REQUIRE(one.status == 200);
  BOOST_TEST(one.json().at("occupied").as_bool());
  BOOST_TEST(one.json().at("user_count").as_int64() == 1);
  BOOST_TEST(one.json().at("subscription_count").as_int64() == 2);
  BOOST_TEST(
      api("GET", base + "/channels/updates", "", {{"info", "user_count"}})
          .status
      == 422);
  // One tab goes: still one user, one subscription (once the server has
  // seen the close).
  b.reset();
  json::value after;
  for (int i = 0; i < 100; ++i) {
    after = api("GET", base + "/channels/" + presence, "",
                {{"info", "user_count,subscription_count"}})
                .json();
    if (after.at("subscription_count").as_int64() == 1)
      break;
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(after.at("user_count").as_int64() == 1);
  BOOST_TEST(after.at("subscription_count").as_int64() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
