#include "actors/cache.hpp"

namespace switchboard {

namespace {

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
  st.entries.erase(i);
}

} // namespace

cache_actor::behavior_type
cache(cache_actor::stateful_pointer<cache_state> self, clock_fn clock) {
  self->state.clock = std::move(clock);
  return {
      [self](get_atom, const std::string& key) -> cache_lookup {
        auto& st = self->state;
        auto i = st.entries.find(key);
        if (i != st.entries.end() && i->second.expires_at != 0
            && i->second.expires_at <= st.clock()) {
          erase_entry(st, key);
          i = st.entries.end();
        }
        if (i == st.entries.end()) {
          ++st.stats.misses;
          return {false, {}};
        }
        ++st.stats.hits;
        return {true, i->second.value};
      },
      [self](put_atom, std::string& key, std::string& value,
             std::vector<std::string>& tags, std::uint32_t ttl_ms) -> ok_atom {
        auto& st = self->state;
        erase_entry(st, key);
        for (const auto& tag : tags)
          st.keys_by_tag[tag].insert(key);
        cache_entry e{std::move(value), std::move(tags),
                      ttl_ms == 0 ? 0 : st.clock() + ttl_ms};
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
        return s;
      },
  };
}

std::vector<std::string> invalidated_tags(std::string_view type) {
  if (type == "appointment.created" || type == "appointment.updated"
      || type == "appointment.cancelled")
    return {"appointments", "availability"};
  if (type == "customer.updated" || type == "customer.created"
      || type == "customer.merged")
    return {"customers"};
  if (type == "staff.updated")
    return {"staff", "availability"};
  if (type == "service.updated")
    return {"services", "availability"};
  return {};
}

sync_listener_actor::behavior_type
cache_invalidator(sync_listener_actor::pointer self, cache_actor target) {
  return {
      [self, target](handle_atom, const envelope& ev) -> caf::result<ok_atom> {
        auto tags = invalidated_tags(ev.type);
        if (tags.empty())
          return ok_atom::value;
        if (!ev.company_id.empty())
          tags.push_back("company:" + ev.company_id);
        // The flush is in the cache's mailbox when this returns, ahead of
        // any lookup sent after the dispatch has answered: no need to wait
        // for the cache to confirm it.
        caf::anon_send(target, flush_atom::value, std::move(tags));
        return ok_atom::value;
      },
  };
}

} // namespace switchboard
