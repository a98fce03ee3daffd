#pragma once

#include <chrono>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <actors/clock.hpp>
#include <actors/interfaces.hpp>

namespace switchboard {

/// Bounds of the tagged cache.
struct cache_options {
  /// Most bytes the entries may take (keys, values and tags, plus a fixed
  /// overhead each); past it the least recently used go first.
  std::size_t max_bytes = std::size_t{64} << 20;
  /// How often entries past their TTL are dropped (besides on lookup).
  std::chrono::milliseconds sweep_interval{1000};
};

struct cache_entry {
  std::string value;
  std::vector<std::string> tags;
  timestamp_ms expires_at = 0;          ///< 0 = never.
  std::size_t bytes = 0;                ///< What it counts against max_bytes.
  std::list<std::string>::iterator lru; ///< Its place in `cache_state::lru`.
  /// Its place in `cache_state::by_expiry` (end: no TTL).
  std::multimap<timestamp_ms, std::string>::iterator expiry;
};

struct cache_state {
  std::unordered_map<std::string, cache_entry> entries;
  std::unordered_map<std::string, std::set<std::string>> keys_by_tag;
  /// Keys, least recently used first.
  std::list<std::string> lru;
  /// Keys with a TTL by expiry time, for the sweep.
  std::multimap<timestamp_ms, std::string> by_expiry;
  std::size_t bytes = 0;
  cache_options opts;
  cache_stats stats;
  clock_fn clock;
  static inline const char* name = "cache";
};

/// The tagged cache (Laravel's Cache::tags): entries carry tags and a TTL;
/// a flush by tags removes every entry that carries any of them. Bounded
/// in bytes (least recently used evicted first); a timer drops expired
/// entries every `sweep_interval`.
cache_actor::behavior_type cache(cache_actor::stateful_pointer<cache_state>,
                                 clock_fn clock, cache_options opts = {});

/// The seed's CacheInvalidator map: the tags an event type flushes. The
/// invalidator scopes each to the event's company (`tag:<company>`) and
/// adds `company:<company>`; events without a company flush the bare
/// tags. Empty for types that flush nothing.
std::vector<std::string> invalidated_tags(std::string_view event_type);

/// The tag under which entries of `company` for `tag` are kept and
/// flushed (e.g. availability:acme).
std::string company_tag(std::string_view tag, std::string_view company);

/// The CacheInvalidator sync listener: flushes the tags of each event it
/// is given, scoped to its company (see invalidated_tags), from `target`.
sync_listener_actor::behavior_type
cache_invalidator(sync_listener_actor::pointer self, cache_actor target);

} // namespace switchboard
