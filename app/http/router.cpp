#include "app/http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace switchboard::app::http {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

/// Matches `segs` against `r`; fills params; returns a score (more literal
/// segments first) or -1.
int score(const route& r, const std::vector<std::string_view>& segs,
          std::map<std::string, std::string, std::less<>>* params) {
  if (r.segments.size() != segs.size())
    return -1;
  int literals = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& p = r.segments[i];
    if (is_param(p)) {
      if (segs[i].empty())
        return -1;
      if (params != nullptr)
        params->emplace(p.substr(1, p.size() - 2),
                        percent_decode(segs[i], false));
    } else if (p == segs[i]) {
      ++literals;
    } else {
      return -1;
    }
  }
  return literals;
}

} // namespace

void router::add(std::string method, std::string pattern, access who,
                 handler_fn handler, std::string summary, guard_fn guard) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': "
                                + pattern);
  route r;
  for (auto seg : split_path(pattern)) {
    auto open = std::count(seg.begin(), seg.end(), '{');
    auto close = std::count(seg.begin(), seg.end(), '}');
    if (open != close || open > 1 || (open == 1 && !is_param(seg)))
      throw std::invalid_argument("malformed route pattern: " + pattern);
    r.segments.emplace_back(seg);
  }
  for (const auto& other : routes_)
    if (other.method == method && other.segments.size() == r.segments.size()
        && other.pattern == pattern)
      throw std::invalid_argument("duplicate route: " + method + " " + pattern);
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.access = who;
  r.handler = std::move(handler);
  r.summary = std::move(summary);
  r.guard = std::move(guard);
  auto size = r.segments.size();
  routes_.push_back(std::move(r));
  if (by_size_.size() <= size)
    by_size_.resize(size + 1);
  by_size_[size].push_back(routes_.size() - 1);
}

route_match router::match(std::string_view method,
                          std::string_view path) const {
  route_match out;
  auto segs = split_path(path);
  if (segs.size() >= by_size_.size())
    return out;
  const auto& candidates = by_size_[segs.size()];
  int best = -1;
  // The best-scoring pattern decides the path; then the method.
  for (auto i : candidates)
    best = std::max(best, score(routes_[i], segs, nullptr));
  if (best < 0)
    return out;
  for (auto i : candidates) {
    const auto& r = routes_[i];
    if (score(r, segs, nullptr) != best)
      continue;
    if (r.method == method) {
      out.what = route_match::kind::found;
      out.found = &r;
      score(r, segs, &out.params);
      return out;
    }
    if (std::find(out.allow.begin(), out.allow.end(), r.method)
        == out.allow.end())
      out.allow.push_back(r.method);
  }
  out.what = route_match::kind::method_not_allowed;
  return out;
}

} // namespace switchboard::app::http
