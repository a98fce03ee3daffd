// The broadcaster (Pusher protocol over WebSocket): its options from the
// configuration, the checks of origins, socket ids and channel names, the
// frames, and the broadcaster's publishing, channel queries and counters.
// The connections themselves are in app/http/broadcast_session.cpp.
#include "app/http/broadcasting.hpp"
#include "app/http/broadcasting_detail.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <app/config.hpp>
#include <messages/registry.hpp>
#include <messages/text.hpp>
#include <store/hmac.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

namespace broadcasting_detail {

/// Frames `payload` as one unmasked, final text frame (RFC 6455 5.2).
frame_ptr encode(std::string_view payload) {
  std::string out;
  auto n = payload.size();
  out.reserve(n + 10);
  out.push_back(static_cast<char>(0x81)); // FIN, text
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(
          static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
  }
  out.append(payload.data(), payload.size());
  return std::make_shared<const std::string>(std::move(out));
}

std::string frame_payload(std::string_view event, std::string_view channel,
                          std::string_view data) {
  json::object o;
  o["event"] = event;
  if (!channel.empty())
    o["channel"] = channel;
  o["data"] = data;
  return json::serialize(o);
}

frame_ptr make_frame(std::string_view event, std::string_view channel,
                     std::string_view data) {
  return encode(frame_payload(event, channel, data));
}

frame_ptr error_frame(std::uint16_t code, std::string_view message) {
  json::object d;
  d["code"] = code;
  d["message"] = message;
  json::object o;
  o["event"] = "pusher:error";
  o["data"] = d;
  return encode(json::serialize(o));
}

std::string channel_auth(const broadcast_options& opts,
                         std::string_view socket_id, std::string_view channel,
                         std::string_view channel_data) {
  std::string text{socket_id};
  text += ':';
  text += channel;
  if (!channel_data.empty()) {
    text += ':';
    text += channel_data;
  }
  return opts.key + ":" + store::hmac_sha256_hex(opts.secret, text);
}

} // namespace broadcasting_detail

using namespace broadcasting_detail;

namespace {

/// Whether host `h` matches `pattern`, where '*' matches any run.
bool glob(std::string_view pattern, std::string_view h) {
  std::size_t p = 0, s = 0, star = std::string_view::npos, mark = 0;
  while (s < h.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = s;
    } else if (p < pattern.size()
               && std::tolower(static_cast<unsigned char>(pattern[p]))
                      == std::tolower(static_cast<unsigned char>(h[s]))) {
      ++p;
      ++s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

/// The host of an Origin header ("https://a.example.com:8443" →
/// "a.example.com").
std::string_view origin_host(std::string_view origin) {
  auto scheme = origin.find("://");
  if (scheme != std::string_view::npos)
    origin.remove_prefix(scheme + 3);
  auto end = origin.find_first_of(":/");
  return origin.substr(0, end);
}

} // namespace

bool origin_allowed(const broadcast_options& opts,
                    std::string_view origin) noexcept {
  const auto& allowed = opts.allowed_origins;
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end())
    return true;
  if (origin.empty())
    return false;
  auto host = origin_host(origin);
  return std::any_of(allowed.begin(), allowed.end(),
                     [host](const std::string& p) {
                       return glob(p, host);
                     });
}

bool valid_socket_id(std::string_view s) noexcept {
  auto dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= s.size()
      || s.size() > 41)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i != dot && (s[i] < '0' || s[i] > '9'))
      return false;
  return true;
}

bool valid_channel_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 200)
    return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '='
              || c == '@' || c == ',' || c == '.' || c == ';';
    if (!ok)
      return false;
  }
  return true;
}

expected<broadcast_options, std::string>
broadcast_options_from(const config& cfg) {
  broadcast_options o;
  o.app_id = cfg.get_string("broadcasting.app_id");
  o.key = cfg.get_string("broadcasting.key");
  o.secret = cfg.get_string("broadcasting.secret");
  std::string missing;
  int set = 0;
  for (auto [name, value] :
       {std::pair{"app_id", &o.app_id}, std::pair{"key", &o.key},
        std::pair{"secret", &o.secret}}) {
    if (value->empty())
      missing
          += std::string{missing.empty() ? "" : ", "} + "broadcasting." + name;
    else
      ++set;
  }
  if (set != 0 && set != 3)
    return make_unexpected("broadcasting needs app_id, key and secret "
                           "together; missing: "
                           + missing);
  o.activity_timeout
      = std::chrono::seconds{cfg.get_int("broadcasting.activity_timeout_s")};
  o.max_message_bytes
      = static_cast<std::size_t>(cfg.get_int("broadcasting.max_message_bytes"));
  o.max_connections
      = static_cast<std::size_t>(cfg.get_int("broadcasting.max_connections"));
  o.allowed_origins.clear();
  for_each_item(cfg.get_string("broadcasting.allowed_origins"), ',',
                [&](std::string_view origin) {
                  o.allowed_origins.emplace_back(origin);
                });
  o.client_events = cfg.get_string("broadcasting.client_events") == "members";
  o.client_events_per_s = static_cast<std::uint32_t>(
      cfg.get_int("broadcasting.client_events_per_s"));
  o.send_queue_frames
      = static_cast<std::size_t>(cfg.get_int("broadcasting.send_queue_frames"));
  return o;
}

void broadcaster::hub::fan_out(const std::string& channel, frame_ptr frame,
                               std::string except, std::uint64_t presence_gen) {
  // Under mtx.
  if (stopped)
    return;
  ++published;
  auto self = shared_from_this();
  post_all([self, channel, frame, except, presence_gen](std::size_t i) {
    self->deliver(i, channel, frame, except, presence_gen);
  });
}

void broadcaster::hub::announce_member(const std::string& channel,
                                       const std::string& user,
                                       const std::string& info, bool added,
                                       const std::string& except) {
  // Under mtx.
  auto gen = ++presence_gen;
  json::object m;
  m["user_id"] = user;
  if (added) {
    std::error_code dec;
    m["user_info"] = json::parse(info, dec);
  }
  fan_out(channel,
          make_frame(added ? "pusher_internal:member_added"
                           : "pusher_internal:member_removed",
                     channel, json::serialize(m)),
          except, gen);
}

void broadcaster::hub::drop_if_empty(const std::string& channel) {
  // Under mtx.
  auto e = channels.find(channel);
  if (e != channels.end() && e->second.subscriptions == 0
      && e->second.members.empty())
    channels.erase(e);
}

void broadcaster::hub::presence_changed() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> g{mtx};
    if (stopped)
      return;
    fn = hooks.presence_changed;
  }
  if (fn)
    fn();
}

void broadcaster::hub::relay(const std::string& channel,
                             const std::string& payload,
                             const std::string& except) {
  decltype(hooks.relay) fn;
  {
    std::lock_guard<std::mutex> g{mtx};
    if (stopped)
      return;
    fn = hooks.relay;
  }
  if (fn)
    fn(channel, payload, except);
}

bool broadcaster::hub::publish_payload(const std::string& channel,
                                       const std::string& payload,
                                       const std::string& except) {
  {
    std::lock_guard<std::mutex> g{mtx};
    if (stopped || channels.count(channel) == 0)
      return false;
  }
  // Framed once, outside the lock, for every subscriber.
  auto frame = encode(payload);
  std::lock_guard<std::mutex> g{mtx};
  fan_out(channel, std::move(frame), except, 0);
  return true;
}

// -- broadcaster --------------------------------------------------------------

broadcaster::broadcaster(broadcast_options opts, std::size_t threads)
    : hub_(std::make_shared<hub>(std::move(opts), threads)) {}

broadcaster::~broadcaster() {
  stop();
}

const broadcast_options& broadcaster::options() const noexcept {
  return hub_->opts;
}

void broadcaster::publish_committed(const std::vector<envelope>& events) {
  for (const auto& ev : events) {
    const auto* info = find_event_type(ev.type);
    if (info == nullptr || info->broadcast_as.empty())
      continue;
    auto ch = broadcast_channel(*info, ev.company_id);
    if (ch.empty())
      continue;
    {
      // Serialized only for a channel somebody subscribes to here (other
      // members have the events themselves).
      std::lock_guard<std::mutex> g{hub_->mtx};
      if (hub_->stopped || hub_->channels.count(ch) == 0)
        continue;
    }
    hub_->publish_payload(ch, frame_payload(info->broadcast_as, ch, ev.data),
                          {});
  }
}

bool broadcaster::publish(std::string_view channel, std::string_view name,
                          std::string_view data,
                          std::string_view except_socket) {
  std::string ch{channel};
  std::string except{except_socket};
  decltype(hub_->hooks.relay) relay;
  {
    // Serialized only when somebody subscribes here or other members may.
    std::lock_guard<std::mutex> g{hub_->mtx};
    if (hub_->stopped)
      return false;
    relay = hub_->hooks.relay;
    if (!relay && hub_->channels.count(ch) == 0)
      return false;
  }
  auto payload = frame_payload(name, ch, data);
  if (relay)
    relay(ch, payload, except);
  return hub_->publish_payload(ch, payload, except);
}

void broadcaster::set_cluster_hooks(cluster_hooks hooks) {
  std::lock_guard<std::mutex> g{hub_->mtx};
  hub_->hooks = std::move(hooks);
}

void broadcaster::publish_relayed(const std::string& channel,
                                  const std::string& payload,
                                  const std::string& except_socket) {
  if (valid_channel_name(channel))
    hub_->publish_payload(channel, payload, except_socket);
}

std::vector<std::string> broadcaster::local_presence() const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> g{hub_->mtx};
  for (const auto& [name, e] : hub_->channels)
    for (const auto& [id, m] : e.members)
      if (m.connections > 0) {
        out.push_back(name);
        out.push_back(id);
        out.push_back(m.info);
      }
  return out;
}

void broadcaster::set_remote_presence(const std::string& member,
                                      const std::vector<std::string>& triples) {
  using key = std::pair<std::string, std::string>;
  std::map<key, std::string> now;
  for (std::size_t i = 0; i + 2 < triples.size(); i += 3)
    if (triples[i].rfind("presence-", 0) == 0 && valid_channel_name(triples[i])
        && !triples[i + 1].empty())
      now.emplace(key{triples[i], triples[i + 1]}, triples[i + 2]);
  auto& h = *hub_;
  std::lock_guard<std::mutex> g{h.mtx};
  if (h.stopped)
    return;
  auto had = std::move(h.remote[member]);
  h.remote.erase(member);
  // Users it no longer has: gone, unless connected elsewhere.
  for (const auto& k : had) {
    if (now.count(k) != 0)
      continue;
    auto e = h.channels.find(k.first);
    if (e == h.channels.end())
      continue;
    auto m = e->second.members.find(k.second);
    if (m == e->second.members.end())
      continue;
    m->second.nodes.erase(member);
    if (!m->second.present()) {
      e->second.members.erase(m);
      h.announce_member(k.first, k.second, {}, false, {});
      h.drop_if_empty(k.first);
    }
  }
  // Users it has now: new ones are announced.
  std::set<key> kept;
  for (const auto& [k, info] : now) {
    kept.insert(k);
    if (had.count(k) != 0)
      continue;
    auto& m = h.channels[k.first].members[k.second];
    bool was = m.present();
    m.nodes.insert(member);
    if (!was) {
      m.info = info;
      h.announce_member(k.first, k.second, info, true, {});
    }
  }
  if (!kept.empty())
    h.remote[member] = std::move(kept);
}

std::string broadcaster::channel_auth(std::string_view socket_id,
                                      std::string_view channel,
                                      std::string_view channel_data) const {
  return broadcasting_detail::channel_auth(hub_->opts, socket_id, channel,
                                           channel_data);
}

std::string broadcaster::sign(std::string_view text) const {
  return store::hmac_sha256_hex(hub_->opts.secret, text);
}

std::vector<channel_summary>
broadcaster::channels(std::string_view prefix) const {
  std::vector<channel_summary> out;
  {
    std::lock_guard<std::mutex> g{hub_->mtx};
    for (const auto& [name, e] : hub_->channels)
      if (name.rfind(prefix, 0) == 0)
        out.push_back({name, e.subscriptions, e.members.size()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.name < b.name;
  });
  return out;
}

std::optional<channel_summary>
broadcaster::channel(std::string_view name) const {
  std::lock_guard<std::mutex> g{hub_->mtx};
  auto i = hub_->channels.find(std::string{name});
  if (i == hub_->channels.end())
    return std::nullopt;
  return channel_summary{i->first, i->second.subscriptions,
                         i->second.members.size()};
}

std::vector<std::string> broadcaster::users(std::string_view name) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> g{hub_->mtx};
  auto i = hub_->channels.find(std::string{name});
  if (i != hub_->channels.end())
    for (const auto& [id, m] : i->second.members)
      out.push_back(id);
  return out;
}

void broadcaster::release() {
  for (auto& t : hub_->threads) {
    t.subscribers.clear();
    t.sessions.clear();
    t.sweeper.reset();
  }
}

broadcast_stats broadcaster::stats() const {
  broadcast_stats s;
  hub_->counters.load_into(s);
  s.slow_closed = hub_->slow_closed.load();
  s.frames_sent = hub_->frames_sent.load();
  s.published = hub_->published.load();
  return s;
}

} // namespace switchboard::app::http
