#include "actors/cluster_view.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <messages/text.hpp>

namespace switchboard {

namespace {

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

/// 64-bit FNV-1a, then a finaliser (splitmix64) so that names differing
/// in one byte spread over the whole range.
std::uint64_t score(std::string_view member, std::string_view company) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(member);
  mix(std::string_view{"\0", 1});
  mix(company);
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

} // namespace

expected<std::vector<cluster_member>, std::string>
parse_cluster_peers(std::string_view text) {
  std::vector<cluster_member> out;
  std::set<std::string, std::less<>> names;
  text = trim_blanks(text);
  while (!text.empty()) {
    auto comma = text.find(',');
    auto entry = trim_blanks(text.substr(0, comma));
    text = comma == std::string_view::npos
               ? std::string_view{}
               : trim_blanks(text.substr(comma + 1));
    auto at = entry.find('@');
    auto colon = entry.rfind(':');
    auto bad = [&](std::string why) {
      return make_unexpected("entry \"" + std::string{entry} + "\": " + why
                             + " (expected name@host:port)");
    };
    if (at == std::string_view::npos || colon == std::string_view::npos
        || colon < at)
      return bad("malformed");
    auto name = entry.substr(0, at);
    auto host = entry.substr(at + 1, colon - at - 1);
    auto port_text = entry.substr(colon + 1);
    if (!valid_name(name))
      return bad("the name must be 1 to 64 of [A-Za-z0-9_.-]");
    if (host.empty())
      return bad("no host");
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(),
                                     port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size()
        || port == 0 || port > 65535)
      return bad("the port must be 1 to 65535");
    if (!names.emplace(name).second)
      return bad("the name " + std::string{name} + " is listed twice");
    out.push_back({std::string{name}, std::string{host},
                   static_cast<std::uint16_t>(port)});
  }
  return out;
}

std::string rendezvous_owner(const std::vector<std::string>& members,
                             std::string_view company) {
  const std::string* best = nullptr;
  std::uint64_t best_score = 0;
  for (const auto& m : members) {
    auto s = score(m, company);
    if (best == nullptr || s > best_score || (s == best_score && m < *best)) {
      best = &m;
      best_score = s;
    }
  }
  return best != nullptr ? *best : std::string{};
}

std::string placement_table::owner(std::string_view company) const {
  if (auto i = moved.find(company); i != moved.end())
    return i->second;
  return rendezvous_owner(basis, company);
}

std::string cluster_view::owner(std::string_view company) const {
  std::lock_guard<std::mutex> g{mtx_};
  if (placement_.epoch == 0)
    return rendezvous_owner(members_, company);
  return placement_.owner(company);
}

placement_table cluster_view::placement() const {
  std::lock_guard<std::mutex> g{mtx_};
  return placement_;
}

bool cluster_view::adopt(placement_table t) {
  std::lock_guard<std::mutex> g{mtx_};
  if (t.epoch <= placement_.epoch)
    return false;
  placement_ = std::move(t);
  return true;
}

bool cluster_view::try_begin_write(std::string_view company) {
  std::lock_guard<std::mutex> g{mtx_};
  if (frozen_.count(company) > 0)
    return false;
  auto i = writes_.find(company);
  if (i == writes_.end())
    i = writes_.emplace(std::string{company}, 0).first;
  ++i->second;
  return true;
}

void cluster_view::end_write(std::string_view company) {
  std::lock_guard<std::mutex> g{mtx_};
  if (auto i = writes_.find(company); i != writes_.end() && --i->second == 0)
    writes_.erase(i);
}

bool cluster_view::freeze(const std::string& company) {
  std::lock_guard<std::mutex> g{mtx_};
  return frozen_.emplace(company, true).second;
}

void cluster_view::unfreeze(std::string_view company) {
  std::lock_guard<std::mutex> g{mtx_};
  if (auto i = frozen_.find(company); i != frozen_.end())
    frozen_.erase(i);
}

bool cluster_view::frozen(std::string_view company) const {
  std::lock_guard<std::mutex> g{mtx_};
  return frozen_.count(company) > 0;
}

void cluster_view::note_import(const std::string& company) {
  std::lock_guard<std::mutex> g{mtx_};
  imports_[company] = std::chrono::steady_clock::now();
}

bool cluster_view::importing(std::string_view company,
                             std::chrono::steady_clock::duration window) const {
  std::lock_guard<std::mutex> g{mtx_};
  auto i = imports_.find(company);
  return i != imports_.end()
         && std::chrono::steady_clock::now() - i->second < window;
}

std::uint32_t cluster_view::writes_in_flight(std::string_view company) const {
  std::lock_guard<std::mutex> g{mtx_};
  auto i = writes_.find(company);
  return i == writes_.end() ? 0 : i->second;
}

cluster_view::cluster_view(std::string self, std::vector<std::string> members)
    : self_(std::move(self)), members_(std::move(members)) {
  auto now = std::chrono::steady_clock::now();
  for (const auto& m : members_)
    up_[m] = {m == self_, now};
}

bool cluster_view::is_up(std::string_view member) const {
  if (member == self_)
    return true;
  std::lock_guard<std::mutex> g{mtx_};
  auto i = up_.find(member);
  return i != up_.end() && i->second.first;
}

void cluster_view::set_up(const std::string& member, bool up) {
  std::lock_guard<std::mutex> g{mtx_};
  auto& entry = up_[member];
  if (entry.first != up)
    entry = {up, std::chrono::steady_clock::now()};
}

std::vector<cluster_view::member_state> cluster_view::states() const {
  std::vector<member_state> out;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> g{mtx_};
  for (const auto& m : members_) {
    member_state s;
    s.name = m;
    s.self = m == self_;
    auto i = up_.find(m);
    if (i != up_.end()) {
      s.up = s.self || i->second.first;
      s.since_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       now - i->second.second)
                       .count();
    }
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace switchboard
