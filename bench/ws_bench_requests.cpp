// What ws_bench's publishers send: signed Pusher HTTP API triggers, the
// bare server's publish requests, and bookings carrying their send time;
// and the HMAC that signs them and the subscriptions.

#include <ctime>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include "bench/ws_bench.hpp"
#include "store/hex.hpp"
#include "store/hmac.hpp"

namespace switchboard::bench::ws_bench {

namespace {

std::string md5_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_md5(), nullptr);
  return store::to_hex(md, len);
}

std::string rfc3339(std::int64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace

void api_request(const publish_plan& p, std::uint64_t k, std::int64_t stamp,
                 http::request<http::string_body>& req) {
  json::array channels;
  for (std::size_t i = 0; i < p.api_fanout; ++i)
    channels.emplace_back(
        "private-company.c"
        + std::to_string((k * p.api_fanout + i) % p.companies));
  json::object b;
  b["name"] = "wsbench.tick";
  b["channels"] = std::move(channels);
  b["data"] = std::string{"{\"t\":\""} + marker + std::to_string(stamp) + "\"}";
  auto body = json::serialize(b);
  auto path = std::string{"/apps/"} + app_id + "/events";
  auto query = std::string{"auth_key="} + app_key
               + "&auth_timestamp=" + std::to_string(std::time(nullptr))
               + "&auth_version=1.0&body_md5=" + md5_hex(body);
  auto sig = store::hmac_sha256_hex(app_secret, "POST\n" + path + "\n" + query);
  req = {http::verb::post, path + "?" + query + "&auth_signature=" + sig, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
}

/// A payload of `bytes` (at least its marker) carrying `stamp`.
std::string bare_payload(std::size_t bytes, std::int64_t stamp) {
  std::string payload = marker + std::to_string(stamp) + " ";
  if (payload.size() < bytes)
    payload.append(bytes - payload.size(), 'x');
  return payload;
}

/// Request k to the bare server's HTTP publish path, the anchor of
/// api_request: POST /pub, its body the channels api_request names
/// (space-separated) on the first line and the frame after it.
void bare_request(const publish_plan& p, std::uint64_t k, std::int64_t stamp,
                  http::request<http::string_body>& req) {
  std::string body;
  for (std::size_t i = 0; i < p.api_fanout; ++i) {
    if (i > 0)
      body += ' ';
    body += std::to_string((k * p.api_fanout + i) % p.companies);
  }
  body += '\n';
  body += bare_payload(p.payload_bytes, stamp);
  req = {http::verb::post, "/pub", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "text/plain");
  req.body() = std::move(body);
  req.prepare_payload();
}

/// Booking k: company k % companies; within it, the n-th booking (n = k /
/// companies) takes staff n % staff at base + (n / staff) * 5 minutes, so
/// no two bookings ask for one slot.
std::string booking_body(const publish_plan& p, std::uint64_t k,
                         std::int64_t stamp) {
  auto n = k / p.companies;
  auto c = std::to_string(k % p.companies);
  json::object b;
  b["id"] = "b" + std::to_string(k);
  b["customer_id"] = "cu" + c;
  b["service_id"] = "sv" + c;
  b["staff_id"] = "st" + c + "-" + std::to_string(n % p.staff);
  b["start_time"]
      = rfc3339(p.base_s + static_cast<std::int64_t>(n / p.staff) * 300);
  b["notes"] = marker + std::to_string(stamp);
  return json::serialize(b);
}

} // namespace switchboard::bench::ws_bench
