#include "actors/cache.hpp"

#include <map>
#include <string_view>

#include <messages/registry.hpp>

namespace switchboard {

namespace {

/// What an entry counts against max_bytes besides its strings: the map
/// node, list node, tag set entries (roughly).
constexpr std::size_t entry_overhead = 160;

void erase_entry(cache_state& st, const std::string& key) {
  auto i = st.entries.find(key);
  if (i == st.entries.end())
    return;
  for (const auto& tag : i->second.tags) {
    auto t = st.keys_by_tag.find(tag);
    if (t != st.keys_by_tag.end()) {
      t->second.erase(key);
      if (t->second.empty())
        st.keys_by_tag.erase(t);
    }
  }
  st.lru.erase(i->second.lru);
  if (i->second.expiry != st.by_expiry.end())
    st.by_expiry.erase(i->second.expiry);
  st.bytes -= i->second.bytes;
  st.entries.erase(i);
}

/// Drops every entry whose TTL has passed.
void sweep(cache_state& st) {
  auto now = st.clock();
  while (!st.by_expiry.empty() && st.by_expiry.begin()->first <= now) {
    auto key = st.by_expiry.begin()->second;
    erase_entry(st, key);
    ++st.stats.expired;
  }
}

} // namespace

cache_actor::behavior_type
cache(cache_actor::stateful_pointer<cache_state> self, clock_fn clock,
      cache_options opts) {
  self->state.clock = std::move(clock);
  self->state.opts = opts;
  self->delayed_send(self, opts.sweep_interval, tick_atom::value);
  return {
      [self](get_atom, const std::string& key) -> cache_lookup {
        auto& st = self->state;
        auto i = st.entries.find(key);
        if (i != st.entries.end() && i->second.expires_at != 0
            && i->second.expires_at <= st.clock()) {
          erase_entry(st, key);
          ++st.stats.expired;
          i = st.entries.end();
        }
        if (i == st.entries.end()) {
          ++st.stats.misses;
          return {false, {}};
        }
        ++st.stats.hits;
        st.lru.splice(st.lru.end(), st.lru, i->second.lru);
        return {true, i->second.value};
      },
      [self](put_atom, std::string& key, std::string& value,
             std::vector<std::string>& tags, std::uint32_t ttl_ms) -> ok_atom {
        auto& st = self->state;
        erase_entry(st, key);
        auto bytes = entry_overhead + 2 * key.size() + value.size();
        for (const auto& tag : tags)
          bytes += 2 * tag.size() + key.size();
        if (bytes > st.opts.max_bytes)
          return ok_atom::value; // never fits: not kept
        while (!st.lru.empty() && st.bytes + bytes > st.opts.max_bytes) {
          auto victim = st.lru.front();
          erase_entry(st, victim);
          ++st.stats.evicted;
        }
        for (const auto& tag : tags)
          st.keys_by_tag[tag].insert(key);
        cache_entry e;
        e.value = std::move(value);
        e.tags = std::move(tags);
        e.expires_at = ttl_ms == 0 ? 0 : st.clock() + ttl_ms;
        e.bytes = bytes;
        e.lru = st.lru.insert(st.lru.end(), key);
        e.expiry = e.expires_at == 0 ? st.by_expiry.end()
                                     : st.by_expiry.emplace(e.expires_at, key);
        st.bytes += bytes;
        st.entries.emplace(std::move(key), std::move(e));
        return ok_atom::value;
      },
      [self](flush_atom,
             const std::vector<std::string>& tags) -> std::uint64_t {
        auto& st = self->state;
        ++st.stats.flushes;
        std::uint64_t removed = 0;
        for (const auto& tag : tags) {
          auto t = st.keys_by_tag.find(tag);
          if (t == st.keys_by_tag.end())
            continue;
          auto keys = t->second; // erase_entry edits the set
          for (const auto& key : keys) {
            erase_entry(st, key);
            ++removed;
          }
        }
        st.stats.flushed_entries += removed;
        return removed;
      },
      [self](stats_atom) -> cache_stats {
        auto s = self->state.stats;
        s.entries = self->state.entries.size();
        s.bytes = self->state.bytes;
        return s;
      },
      [self](tick_atom) {
        sweep(self->state);
        self->delayed_send(self, self->state.opts.sweep_interval,
                           tick_atom::value);
      },
  };
}

std::vector<std::string> invalidated_tags(std::string_view type) {
  using tags = std::vector<std::string>;
  static const tags appointments{"appointments", "availability"};
  static const tags customers{"customers"};
  static const std::map<std::string_view, tags> table{
      {event_traits<appointment_created>::wire_name, appointments},
      {event_traits<appointment_updated>::wire_name, appointments},
      {event_traits<appointment_cancelled>::wire_name, appointments},
      {event_traits<appointment_completed>::wire_name, appointments},
      {event_traits<customer_created>::wire_name, customers},
      {event_traits<customer_updated>::wire_name, customers},
      {event_traits<customer_merged>::wire_name, customers},
      {event_traits<staff_updated>::wire_name, {"staff", "availability"}},
      {event_traits<service_updated>::wire_name, {"services", "availability"}},
  };
  auto i = table.find(type);
  return i == table.end() ? tags{} : i->second;
}

std::string company_tag(std::string_view tag, std::string_view company) {
  std::string out{tag};
  out += ':';
  out += company;
  return out;
}

sync_listener_actor::behavior_type
cache_invalidator(sync_listener_actor::pointer self, cache_actor target) {
  return {
      [self, target](handle_atom, const envelope& ev) -> caf::result<ok_atom> {
        auto tags = invalidated_tags(ev.type);
        if (tags.empty())
          return ok_atom::value;
        if (!ev.company_id.empty()) {
          // One company's change flushes its own entries only.
          for (auto& tag : tags)
            tag = company_tag(tag, ev.company_id);
          tags.push_back("company:" + ev.company_id);
        }
        // The flush is in the cache's mailbox when this returns, ahead of
        // any lookup sent after the dispatch has answered: no need to wait
        // for the cache to confirm it.
        caf::anon_send(target, flush_atom::value, std::move(tags));
        return ok_atom::value;
      },
  };
}

} // namespace switchboard
