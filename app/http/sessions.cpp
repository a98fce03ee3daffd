#include "app/http/sessions.hpp"

#include <app/http/context.hpp>

#include <iterator>
#include <random>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace switchboard::app::http {

std::string random_hex_256() {
  static constexpr char hex[] = "0123456789abcdef";
  // libstdc++ reads the kernel's source (getrandom or /dev/urandom).
  thread_local std::random_device rd;
  std::string out;
  out.reserve(64);
  for (int i = 0; i < 8; ++i) {
    auto x = rd();
    for (int b = 0; b < 8; ++b, x >>= 4)
      out.push_back(hex[x & 15]);
  }
  return out;
}

std::string forwarded_principal(const store::principal& who) {
  boost::json::object o;
  o["company_id"] = who.company_id;
  o["admin"] = who.admin;
  o["user_id"] = who.user_id;
  return boost::json::serialize(o);
}

std::optional<store::principal>
parse_forwarded_principal(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  const auto* o = ec ? nullptr : v.if_object();
  if (o == nullptr)
    return std::nullopt;
  const auto* company = o->if_contains("company_id");
  const auto* admin = o->if_contains("admin");
  const auto* user = o->if_contains("user_id");
  if (company == nullptr || !company->is_string() || admin == nullptr
      || !admin->is_bool() || user == nullptr || !user->is_string())
    return std::nullopt;
  store::principal who;
  who.company_id = std::string{company->get_string()};
  who.admin = admin->get_bool();
  who.user_id = std::string{user->get_string()};
  if (who.company_id.empty() && !who.admin)
    return std::nullopt;
  return who;
}

std::string session_table::open(const store::principal& who) {
  session s;
  s.who = who;
  s.csrf = random_hex_256();
  s.expires = clock::now() + ttl_;
  auto id = random_hex_256();
  std::lock_guard<std::mutex> lock{mtx_};
  auto now = clock::now();
  for (auto i = by_id_.begin(); i != by_id_.end();)
    i = i->second.expires <= now ? by_id_.erase(i) : std::next(i);
  while (by_id_.size() >= max_) {
    auto oldest = by_id_.begin();
    for (auto i = by_id_.begin(); i != by_id_.end(); ++i)
      if (i->second.expires < oldest->second.expires)
        oldest = i;
    by_id_.erase(oldest);
  }
  by_id_.emplace(id, std::move(s));
  return id;
}

std::optional<session> session_table::find(std::string_view id) {
  if (id.size() != 64)
    return std::nullopt;
  std::lock_guard<std::mutex> lock{mtx_};
  auto i = by_id_.find(id);
  if (i == by_id_.end())
    return std::nullopt;
  if (i->second.expires <= clock::now()) {
    by_id_.erase(i);
    return std::nullopt;
  }
  return i->second;
}

void session_table::close(std::string_view id) {
  std::lock_guard<std::mutex> lock{mtx_};
  if (auto i = by_id_.find(id); i != by_id_.end())
    by_id_.erase(i);
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{}
                                            : header.substr(semi + 1);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name)
      return part.substr(eq + 1);
  }
  return {};
}

bool same_origin(const request& req) {
  auto origin = req.header("origin");
  if (origin.empty())
    // No Origin (an old browser, a same-origin GET): what the fetch
    // metadata says, when it says anything.
    return req.header("sec-fetch-site") != "cross-site"
           && req.header("sec-fetch-site") != "same-site";
  auto host = req.header("host");
  return !host.empty()
         && (origin == "http://" + std::string{host}
             || origin == "https://" + std::string{host});
}

bool allowed_from_session(request_context& ctx, const session& s) {
  const auto& m = ctx.req().method;
  if (m == "GET" || m == "HEAD" || m == "OPTIONS")
    return true;
  // A state change with the cookie: from the dashboard's own page only,
  // which knows the session's CSRF token.
  if (!same_origin(ctx.req())) {
    ctx.fail(403, "forbidden", "cross-site request refused (Origin)");
    return false;
  }
  auto sent = ctx.req().header(csrf_header);
  if (sent.empty() || sent != s.csrf) {
    ctx.fail(403, "forbidden", "missing or wrong X-CSRF-Token",
             {{"X-CSRF-Token", sent.empty() ? "missing" : "invalid"}});
    return false;
  }
  return true;
}

} // namespace switchboard::app::http
