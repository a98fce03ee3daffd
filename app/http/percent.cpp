// Percent-decoding of paths and query strings, apart from the request
// context so that the router can be fuzzed without the runtime
// (tests/fuzz/http_request_fuzz.cpp).

#include "app/http/context.hpp"

#include <store/hex.hpp>

namespace switchboard::app::http {

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = store::hex_value(s[i + 1]);
      int lo = store::hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::map<std::string, std::string, std::less<>>
parse_query(std::string_view q) {
  std::map<std::string, std::string, std::less<>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto k = percent_decode(part.substr(0, eq), true);
    auto v = eq == std::string_view::npos
                 ? std::string{}
                 : percent_decode(part.substr(eq + 1), true);
    out.emplace(std::move(k), std::move(v));
  }
  return out;
}

} // namespace switchboard::app::http
