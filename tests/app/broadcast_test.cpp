// Broadcasting against the real daemon: the Pusher protocol frame by frame
// over WebSocket (handshake, ping, public, private and presence channels,
// bad auth, client events, malformed and oversize frames, activity
// timeout, connection quota, origins), POST /broadcasting/auth, the Pusher
// HTTP API with good and bad signatures, and a booking over HTTP that
// reaches its company's subscribers and no one else.

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include <sys/resource.h>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <app/config.hpp>
#include <app/http/broadcasting.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/ws_client.hpp"

using namespace std::chrono_literals;
using switchboard::test::daemon_fixture;
using switchboard::test::http_client;
using switchboard::test::http_reply;
using switchboard::test::ws_client;
namespace json = boost::json;

namespace {

constexpr const char* app_id = "4242";
constexpr const char* app_key = "app-key";
constexpr const char* app_secret = "app-secret";

std::string hex(const unsigned char* p, unsigned int n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 0x0f]);
  }
  return out;
}

std::string hmac(const std::string& key, const std::string& text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac,
       &len);
  return hex(mac, len);
}

std::string md5(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_md5(), nullptr);
  return hex(md, len);
}

std::string slot(int days, int hour) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  std::time_t t = secs - secs % 86400 + days * 86400 + hour * 3600;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> broadcasting_sets(std::vector<std::string> more = {}) {
  std::vector<std::string> s{std::string{"broadcasting.app_id="} + app_id,
                             std::string{"broadcasting.key="} + app_key,
                             std::string{"broadcasting.secret="} + app_secret};
  s.insert(s.end(), more.begin(), more.end());
  return s;
}

struct broadcast_fixture : daemon_fixture {
  explicit broadcast_fixture(std::vector<std::string> more = {})
      : daemon_fixture(broadcasting_sets(std::move(more))) {}

  std::unique_ptr<ws_client> connect(std::string key = app_key,
                                     std::string origin = {}) {
    return std::make_unique<ws_client>(
        port, "/app/" + key + "?protocol=7&client=js&version=8.4.0&flash=false",
        origin);
  }

  /// POST /broadcasting/auth as Echo sends it (a form).
  http_reply auth(const std::string& token, const std::string& socket_id,
                  const std::string& channel) {
    http_client c{port};
    return c.request("POST", "/broadcasting/auth",
                     "socket_id=" + socket_id + "&channel_name=" + channel,
                     token,
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  }

  /// A signed Pusher HTTP API request; `tweak` may spoil one parameter.
  http_reply api(const std::string& method, const std::string& path,
                 const std::string& body,
                 std::map<std::string, std::string> extra = {},
                 const std::string& secret = app_secret) {
    std::map<std::string, std::string> q{
        {"auth_key", app_key},
        {"auth_timestamp",
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count())},
        {"auth_version", "1.0"}};
    if (!body.empty())
      q["body_md5"] = md5(body);
    for (auto& [k, v] : extra)
      q[k] = v;
    std::string query;
    for (auto& [k, v] : q)
      query += (query.empty() ? "" : "&") + k + "=" + v;
    auto sig = hmac(secret, method + "\n" + path + "\n" + query);
    http_client c{port};
    return c.request(method, path + "?" + query + "&auth_signature=" + sig,
                     body);
  }

  /// Subscribes `ws` to `channel` (auth and channel_data when given) and
  /// returns the answer frame (subscription_succeeded or pusher:error).
  std::optional<ws_client::frame>
  subscribe(ws_client& ws, const std::string& channel,
            const std::string& auth = {},
            const std::string& channel_data = {}) {
    json::object d{{"channel", channel}};
    if (!auth.empty())
      d["auth"] = auth;
    if (!channel_data.empty())
      d["channel_data"] = channel_data;
    ws.send_event("pusher:subscribe", d);
    for (;;) {
      auto f = ws.next();
      if (!f)
        return f;
      auto e = f->at("event").as_string();
      if (e == "pusher_internal:subscription_succeeded" || e == "pusher:error")
        return f;
      ws.skipped.push_back(*f);
    }
  }

  /// Subscribes to a private or presence channel with an auth from
  /// /broadcasting/auth for `token`.
  std::optional<ws_client::frame> subscribe_as(ws_client& ws,
                                               const std::string& socket_id,
                                               const std::string& token,
                                               const std::string& channel) {
    auto a = auth(token, socket_id, channel);
    BOOST_TEST_INFO(a.body);
    BOOST_REQUIRE(a.status == 200);
    auto o = a.json().as_object();
    std::string cd;
    if (o.contains("channel_data"))
      cd = std::string{o.at("channel_data").as_string()};
    return subscribe(ws, channel, std::string{o.at("auth").as_string()}, cd);
  }
};

std::string event_of(const ws_client::frame& f) {
  return std::string{f.at("event").as_string()};
}

std::int64_t error_code(const ws_client::frame& f) {
  return f.at("data_json").at("code").as_int64();
}

} // namespace

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
  auto a = connect();
  auto a_sid = a->establish();
  auto b = connect();
  auto b_sid = b->establish();
  BOOST_REQUIRE(subscribe_as(*a, a_sid, acme, channel));
  BOOST_REQUIRE(subscribe_as(*b, b_sid, acme, channel));
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
  auto a = connect();
  auto a_sid = a->establish();
  auto g = connect();
  auto g_sid = g->establish();
  BOOST_REQUIRE(subscribe_as(*a, a_sid, acme, "private-company.acme"));
  BOOST_REQUIRE(subscribe_as(*g, g_sid, globex, "private-company.globex"));

  http_client c{port};
  auto created = [&](const http_reply& r) {
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 201);
  };
  created(c.request("POST", "/api/customers",
                    R"({"id":"cu1","name":"Ada","phone":"+4930123"})", acme));
  created(c.request("POST", "/api/services",
                    R"({"id":"s1","name":"Cut","price_cents":4500,
                        "duration_minutes":30})",
                    acme));
  created(c.request("POST", "/api/staff", R"({"id":"st1","name":"Bo"})", acme));
  json::object b{{"id", "a1"},
                 {"customer_id", "cu1"},
                 {"service_id", "s1"},
                 {"staff_id", "st1"},
                 {"start_time", slot(2, 10)}};
  created(c.request("POST", "/api/appointments", json::serialize(b), acme));

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
  b["id"] = "a2";
  auto taken = c.request("POST", "/api/appointments", json::serialize(b), acme);
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
  auto a = connect();
  auto a_sid = a->establish();
  auto b = connect();
  auto b_sid = b->establish();
  BOOST_REQUIRE(subscribe_as(*a, a_sid, acme, presence));
  BOOST_REQUIRE(subscribe_as(*b, b_sid, acme, presence));
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
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  auto rv = r.json();
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
  BOOST_TEST_INFO(batch.body);
  BOOST_REQUIRE(batch.status == 200);
  auto bv = batch.json();
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
  BOOST_TEST_INFO(list.body);
  BOOST_REQUIRE(list.status == 200);
  auto lv = list.json();
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
