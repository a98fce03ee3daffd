#include "app/http/context.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <actors/log.hpp>
#include <app/http/bridge.hpp>
#include <messages/ids.hpp>
#include <messages/text.hpp>
#include <store/traces.hpp>
#include <telemetry/metrics.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

std::string_view request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name)
      return v;
  return {};
}

request_context::~request_context() {
  if (!answered_.exchange(true) && deliver_) {
    response r;
    r.status = 500;
    r.body = json::serialize(
        error_body("internal", "the request was dropped without an answer"));
    run_on_answer();
    deliver_(std::move(r));
  }
}

void request_context::on_answer(std::function<void()> f) {
  {
    std::lock_guard<std::mutex> g{on_answer_mtx_};
    if (!answered_.load()) {
      if (on_answer_)
        on_answer_ = [first = std::move(on_answer_), then = std::move(f)] {
          first();
          then();
        };
      else
        on_answer_ = std::move(f);
      return;
    }
  }
  f();
}

void request_context::run_on_answer() {
  std::function<void()> f;
  {
    std::lock_guard<std::mutex> g{on_answer_mtx_};
    f.swap(on_answer_);
  }
  if (f)
    f();
}

const std::string& request_context::param(std::string_view name) const {
  static const std::string empty;
  auto i = params_.find(name);
  return i == params_.end() ? empty : i->second;
}

std::string request_context::query(std::string_view name,
                                   std::string fallback) const {
  auto i = req_.query.find(name);
  return i == req_.query.end() ? std::move(fallback) : i->second;
}

std::uint64_t request_context::query_uint(std::string_view name,
                                          std::uint64_t fallback,
                                          std::uint64_t min, std::uint64_t max,
                                          field_errors& errors) const {
  auto i = req_.query.find(name);
  if (i == req_.query.end())
    return fallback;
  const auto& s = i->second;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty() || v < min
      || v > max) {
    errors[std::string{name}] = "invalid: expects an integer from "
                                + std::to_string(min) + " to "
                                + std::to_string(max);
    return fallback;
  }
  return v;
}

std::string request_context::client_address() const {
  const auto& peer = req_.remote_address;
  if (svc_ == nullptr)
    return peer;
  const auto& proxies = svc_->trusted_proxies;
  auto trusted = [&proxies](std::string_view a) {
    return std::find(proxies.begin(), proxies.end(), a) != proxies.end();
  };
  if (!trusted(peer))
    return peer;
  // X-Forwarded-For: client, proxy1, proxy2; each proxy appends the
  // address it got the request from. Walk from the right past the trusted
  // ones: the first other is the client as our proxies saw it.
  std::string_view fwd = req_.header("x-forwarded-for");
  std::string client = peer;
  while (!fwd.empty()) {
    auto comma = fwd.rfind(',');
    auto part = comma == std::string_view::npos ? fwd : fwd.substr(comma + 1);
    fwd = comma == std::string_view::npos ? std::string_view{}
                                          : fwd.substr(0, comma);
    part = trim_any(part, " ");
    if (part.empty() || part.size() > 64)
      break;
    client = std::string{part};
    if (!trusted(part))
      break;
  }
  return client;
}

const json::value* request_context::json_body() {
  if (req_.body.empty()) {
    fail(400, "malformed_json", "the request body must be a JSON document");
    return nullptr;
  }
  std::error_code ec;
  auto v = json::parse(req_.body, ec);
  if (ec) {
    fail(400, "malformed_json",
         "the request body is not valid JSON: " + ec.message());
    return nullptr;
  }
  body_json_ = std::move(v);
  return &body_json_;
}

void request_context::with_actor(
    std::function<void(caf::event_based_actor*)> task) {
  svc_->bridge->post(std::move(task));
}

namespace {

struct http_families {
  telemetry::family<telemetry::counter>& requests
      = telemetry::metrics().counter(
          "switchboard_http_requests_total",
          "HTTP requests answered, by method, route template and status",
          {"method", "route", "status"});
  telemetry::family<telemetry::histogram>& duration
      = telemetry::metrics().histogram(
          "switchboard_http_request_duration_seconds",
          "From a request's arrival to its answer, by method and route "
          "template",
          {"method", "route"});
};

http_families& families() {
  static http_families f;
  return f;
}

/// Requests by route template and status, and their duration. A request
/// that matched no route counts under route "unmatched" (its method as
/// "-"), so that clients cannot add label values.
void count_request(const request& req, const std::string* route, int status,
                   std::chrono::steady_clock::time_point started) {
  auto& [requests, duration] = families();
  auto method
      = route != nullptr ? std::string_view{req.method} : std::string_view{"-"};
  auto pattern = route != nullptr ? std::string_view{*route}
                                  : std::string_view{"unmatched"};
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof code, status);
  std::string_view status_text{
      code, ec == std::errc{} ? static_cast<std::size_t>(end - code) : 0};
  requests.with({method, pattern, status_text}).inc();
  duration.with({method, pattern}).observe_since(started);
}

} // namespace

void register_http_metrics() {
  families();
}

void request_context::deliver(response r) {
  if (answered_.exchange(true))
    return;
  count_request(req_, route_, r.status, started_);
  if (svc_ != nullptr && svc_->access_log_sample > 0
      && svc_->access_count.fetch_add(1, std::memory_order_relaxed)
                 % svc_->access_log_sample
             == 0) {
    static auto lg = log::get(log::subsystem::http_access);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - started_)
                  .count();
    lg->info("{} {} {} {:.3f}ms company={}", req_.method,
             route_ != nullptr ? *route_ : std::string{"-"}, r.status,
             static_cast<double>(us) / 1000.0,
             principal_.company_id.empty() ? std::string{"-"}
                                           : principal_.company_id);
  }
  r.headers.insert(r.headers.end(), extra_headers_.begin(),
                   extra_headers_.end());
  run_on_answer();
  deliver_(std::move(r));
}

void request_context::respond(
    int status, const json::value& body,
    std::vector<std::pair<std::string, std::string>> headers) {
  respond_json(status, json::serialize(body), std::move(headers));
}

void request_context::respond_json(
    int status, std::string json_text,
    std::vector<std::pair<std::string, std::string>> headers) {
  response r;
  r.status = status;
  r.body = std::move(json_text);
  r.headers = std::move(headers);
  deliver(std::move(r));
}

void request_context::respond_empty(int status) {
  response r;
  r.status = status;
  deliver(std::move(r));
}

void request_context::fail(
    int status, std::string_view code, std::string_view message,
    const field_errors& fields,
    std::vector<std::pair<std::string, std::string>> headers) {
  respond(status, error_body(code, message, fields), std::move(headers));
}

bool request_context::correlation(std::string& out) {
  auto given = req_.header("x-correlation-id");
  if (given.empty()) {
    out = new_event_id();
  } else if (store::valid_correlation_id(given)) {
    out = std::string{given};
  } else {
    fail(400, "invalid_header",
         "X-Correlation-Id: 1 to 128 bytes of printable ASCII without "
         "spaces, '/', '?', '#' or '%'",
         {{"X-Correlation-Id", "invalid"}});
    return false;
  }
  add_header("X-Correlation-Id", out);
  return true;
}

void request_context::fail_fields(const field_errors& fields) {
  std::string msg = "invalid fields:";
  for (const auto& [k, v] : fields)
    msg += " " + k;
  fail(422, "invalid_fields", msg, fields);
}

bool request_context::fail_fields_if_any(const field_errors& fields) {
  if (fields.empty())
    return false;
  fail_fields(fields);
  return true;
}

void request_context::fail_store(const store::error& err) {
  using store::errc;
  switch (err.code) {
  case errc::not_found:
    fail(404, "not_found", err.message);
    return;
  case errc::version_conflict:
    fail(409, "version_conflict", err.message);
    return;
  case errc::invalid_argument:
  case errc::duplicate_event:
    fail(422, "invalid_fields", err.message);
    return;
  case errc::closed:
    fail(503, "unavailable", err.message);
    return;
  case errc::taken:
    fail(409, "conflict", err.message);
    return;
  case errc::map_full:
  case errc::no_space:
    fail(507, "disk_full", err.message);
    return;
  case errc::io_error:
    fail(503, "storage_unavailable", err.message, {}, {{"Retry-After", "1"}});
    return;
  default:
    fail(500, "storage", err.message);
    return;
  }
}

json::value error_body(std::string_view code, std::string_view message,
                       const field_errors& fields) {
  json::object f;
  for (const auto& [k, v] : fields)
    f[k] = v;
  json::object e;
  e["code"] = code;
  e["message"] = message;
  e["fields"] = std::move(f);
  json::object out;
  out["error"] = std::move(e);
  return out;
}

std::string_view reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 413:
    return "Payload Too Large";
  case 422:
    return "Unprocessable Entity";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 507:
    return "Insufficient Storage";
  default:
    return "Unknown";
  }
}

} // namespace switchboard::app::http
