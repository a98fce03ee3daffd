#pragma once

// Dashboard sessions: a token exchanged once for an HttpOnly cookie, kept
// in memory with an expiry. Each session has its own CSRF token, which
// state-changing requests made with the cookie must send in a header.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <store/tenants.hpp>

namespace switchboard::app::http {

/// The name of the session cookie.
inline constexpr std::string_view session_cookie = "sb_session";

/// The header carrying a session's CSRF token.
inline constexpr std::string_view csrf_header = "x-csrf-token";

/// The header field in which a member of a cluster, forwarding a request
/// one of its sessions made to the member owning the company, names the
/// session's principal: the owner does not know the session. Honoured
/// only on requests a member forwarded; members drop clients' copies.
inline constexpr std::string_view forwarded_session_header
    = "x-switchboard-session-principal";

/// That field's value for `who` (JSON: company_id, admin, user_id).
std::string forwarded_principal(const store::principal& who);

/// The principal of that field's value; nothing when it is malformed.
std::optional<store::principal>
parse_forwarded_principal(std::string_view text);

/// One signed-in browser.
struct session {
  store::principal who;
  std::string csrf; ///< Sent back in `X-CSRF-Token` on state changes.
  std::chrono::steady_clock::time_point expires;
};

/// The sessions of the gateway. Thread-safe.
class session_table {
public:
  using clock = std::chrono::steady_clock;

  /// Sessions last `ttl` from sign-in; at most `max` live at once (the
  /// oldest go first).
  explicit session_table(std::chrono::seconds ttl = std::chrono::hours(8),
                         std::size_t max = 10000)
      : ttl_(ttl), max_(max) {}

  /// Opens a session for `who`; returns its id (256 random bits, hex).
  std::string open(const store::principal& who);

  /// The live session `id`, or nothing (unknown or expired).
  std::optional<session> find(std::string_view id);

  /// Ends session `id` (sign-out).
  void close(std::string_view id);

  /// How long a session lasts.
  std::chrono::seconds ttl() const noexcept {
    return ttl_;
  }

private:
  std::chrono::seconds ttl_;
  std::size_t max_;
  std::mutex mtx_;
  std::map<std::string, session, std::less<>> by_id_;
};

/// The value of cookie `name` in a Cookie header, or "".
std::string_view cookie_value(std::string_view header, std::string_view name);

struct request;
class request_context;

/// True when `req` comes from a page of this server: its Origin is this
/// Host (http or https); without Origin, unless Sec-Fetch-Site says
/// cross-site or same-site.
bool same_origin(const request& req);

/// Checks a request made with session `s`'s cookie: reads pass; a state
/// change must be same-origin and carry the session's CSRF token in
/// `X-CSRF-Token`, else it answers 403 and returns false.
bool allowed_from_session(request_context& ctx, const session& s);

/// 32 random bytes as 64 hex digits (the kernel's random source).
std::string random_hex_256();

} // namespace switchboard::app::http
