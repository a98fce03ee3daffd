#pragma once

// A daemon with broadcasting on (the Pusher protocol over WebSocket) and
// what the broadcasting tests share: the app's id, key and secret, Pusher
// signatures, a client connected, subscribed and authorised, and the
// event name and error code of a frame.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/hmac.hpp"
#include "tests/support/ws_client.hpp"

namespace switchboard::test {

inline constexpr const char* app_id = "4242";
inline constexpr const char* app_key = "app-key";
inline constexpr const char* app_secret = "app-secret";

inline std::string md5(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_md5(), nullptr);
  return hex(md, len);
}

inline std::vector<std::string> broadcasting_sets(std::vector<std::string> more
                                                  = {}) {
  std::vector<std::string> s{std::string{"broadcasting.app_id="} + app_id,
                             std::string{"broadcasting.key="} + app_key,
                             std::string{"broadcasting.secret="} + app_secret};
  s.insert(s.end(), more.begin(), more.end());
  return s;
}

/// POST /broadcasting/auth to the daemon at `port` as Echo sends it (a
/// form).
inline http_reply pusher_auth(std::uint16_t port, const std::string& token,
                              const std::string& socket_id,
                              const std::string& channel) {
  http_client c{port};
  return c.request("POST", "/broadcasting/auth",
                   "socket_id=" + socket_id + "&channel_name=" + channel, token,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
}

/// A signed Pusher HTTP API request to the daemon at `port`.
inline http_reply pusher_api(std::uint16_t port, const std::string& method,
                             const std::string& path, const std::string& body,
                             std::map<std::string, std::string> extra = {},
                             const std::string& secret = app_secret) {
  std::map<std::string, std::string> q{
      {"auth_key", app_key},
      {"auth_timestamp", std::to_string(unix_time<std::chrono::seconds>())},
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
  return c.request(method, path + "?" + query + "&auth_signature=" + sig, body);
}

/// Subscribes `ws` to `channel` (auth and channel_data when given) and
/// returns the answer frame (subscription_succeeded or pusher:error).
inline std::optional<ws_client::frame>
pusher_subscribe(ws_client& ws, const std::string& channel,
                 const std::string& auth = {},
                 const std::string& channel_data = {}) {
  boost::json::object d{{"channel", channel}};
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

/// Subscribes `ws` to a private or presence channel with an auth from
/// /broadcasting/auth of the daemon at `port` for `token`.
inline std::optional<ws_client::frame>
pusher_subscribe_as(std::uint16_t port, ws_client& ws,
                    const std::string& socket_id, const std::string& token,
                    const std::string& channel) {
  auto a = pusher_auth(port, token, socket_id, channel);
  BOOST_TEST_INFO(a.body);
  BOOST_REQUIRE(a.status == 200);
  auto o = a.json().as_object();
  std::string cd;
  if (o.contains("channel_data"))
    cd = std::string{o.at("channel_data").as_string()};
  return pusher_subscribe(ws, channel, std::string{o.at("auth").as_string()},
                          cd);
}

/// A client of the app above connected to the daemon at `port`.
inline std::unique_ptr<ws_client> pusher_connect(std::uint16_t port,
                                                 std::string key = app_key,
                                                 std::string origin = {}) {
  return std::make_unique<ws_client>(
      port, "/app/" + key + "?protocol=7&client=js&version=8.4.0&flash=false",
      origin);
}

struct broadcast_fixture : daemon_fixture {
  explicit broadcast_fixture(std::vector<std::string> more = {})
      : daemon_fixture(broadcasting_sets(std::move(more))) {}

  std::unique_ptr<ws_client> connect(std::string key = app_key,
                                     std::string origin = {}) {
    return pusher_connect(port, std::move(key), std::move(origin));
  }

  /// POST /broadcasting/auth as Echo sends it (a form).
  http_reply auth(const std::string& token, const std::string& socket_id,
                  const std::string& channel) {
    return pusher_auth(port, token, socket_id, channel);
  }

  /// A signed Pusher HTTP API request.
  http_reply api(const std::string& method, const std::string& path,
                 const std::string& body,
                 std::map<std::string, std::string> extra = {},
                 const std::string& secret = app_secret) {
    return pusher_api(port, method, path, body, std::move(extra), secret);
  }

  std::optional<ws_client::frame>
  subscribe(ws_client& ws, const std::string& channel,
            const std::string& auth = {},
            const std::string& channel_data = {}) {
    return pusher_subscribe(ws, channel, auth, channel_data);
  }

  std::optional<ws_client::frame> subscribe_as(ws_client& ws,
                                               const std::string& socket_id,
                                               const std::string& token,
                                               const std::string& channel) {
    return pusher_subscribe_as(port, ws, socket_id, token, channel);
  }

  /// A client connected and subscribed as `token` to the private or
  /// presence `channel`; requires that it was let in.
  std::unique_ptr<ws_client> member(const std::string& token,
                                    const std::string& channel) {
    auto ws = connect();
    auto socket_id = ws->establish();
    BOOST_REQUIRE(subscribe_as(*ws, socket_id, token, channel));
    return ws;
  }
};

inline std::string event_of(const ws_client::frame& f) {
  return std::string{f.at("event").as_string()};
}

inline std::int64_t error_code(const ws_client::frame& f) {
  return f.at("data_json").at("code").as_int64();
}

} // namespace switchboard::test
