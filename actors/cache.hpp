#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <actors/clock.hpp>
#include <actors/interfaces.hpp>

namespace switchboard {

struct cache_entry {
  std::string value;
  std::vector<std::string> tags;
  timestamp_ms expires_at = 0; ///< 0 = never.
};

struct cache_state {
  std::unordered_map<std::string, cache_entry> entries;
  std::unordered_map<std::string, std::set<std::string>> keys_by_tag;
  cache_stats stats;
  clock_fn clock;
  static inline const char* name = "cache";
};

/// The tagged cache (Laravel's Cache::tags): entries carry tags and a TTL;
/// a flush by tags removes every entry that carries any of them.
cache_actor::behavior_type cache(cache_actor::stateful_pointer<cache_state>,
                                 clock_fn clock);

/// The seed's CacheInvalidator map: the tags an event type flushes, before
/// the `company:<id>` tag is added. Empty for types that flush nothing.
std::vector<std::string> invalidated_tags(std::string_view event_type);

/// The CacheInvalidator sync listener: flushes the tags of each event it
/// is given, plus `company:<id>`, from `target`.
sync_listener_actor::behavior_type
cache_invalidator(sync_listener_actor::pointer self, cache_actor target);

} // namespace switchboard
