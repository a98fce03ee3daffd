#pragma once

// Rendered aggregate states for GET, each kept with the stream version it
// was folded from. A read checks the stream's version (one index probe)
// and answers from here while it is unchanged, instead of reading and
// decoding every event of the stream and serializing the state again.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace switchboard::app::http {

class state_cache {
public:
  /// At most `capacity` entries in all (a full shard is emptied).
  explicit state_cache(std::size_t capacity = 1 << 14)
      : per_shard_(capacity / shards + 1) {}

  struct hit {
    std::string body;
    std::uint64_t version = 0;
  };

  /// The body rendered for (`type`, `id`) of `company`, when the type's
  /// stream generation (event_store::stream_generation) is still the one
  /// at which that body was last found current: no stream of the type
  /// has changed since, so it is current without a look at the stream.
  std::optional<hit> find_current(std::string_view type, std::string_view id,
                                  std::string_view company,
                                  std::uint64_t generation) const {
    return find_if(type, id, company, [generation](entry& e) {
      return e.generation == generation;
    });
  }

  /// The body rendered for (`type`, `id`) of `company` at `version`; it is
  /// then current as of `generation` (read before the version was).
  std::optional<hit> find(std::string_view type, std::string_view id,
                          std::string_view company, std::uint64_t version,
                          std::uint64_t generation) {
    return find_if(type, id, company, [version, generation](entry& e) {
      if (e.version != version)
        return false;
      e.generation = generation;
      return true;
    });
  }

  /// Keeps `body`, the state at `version`, current as of `generation`
  /// (read before the state was).
  void put(std::string_view type, std::string_view id, std::string company,
           std::uint64_t version, std::uint64_t generation, std::string body) {
    auto k = key(type, id);
    auto& s = shard_of(k);
    std::lock_guard<std::mutex> g{s.mtx};
    if (s.map.size() >= per_shard_ && s.map.find(k) == s.map.end())
      s.map.clear();
    s.map[std::move(k)]
        = entry{version, generation, std::move(company), std::move(body)};
  }

private:
  static constexpr std::size_t shards = 16;
  struct entry {
    std::uint64_t version = 0;
    std::uint64_t generation = 0;
    std::string company;
    std::string body;
  };
  struct shard {
    mutable std::mutex mtx;
    std::unordered_map<std::string, entry> map;
  };

  /// The entry of (`type`, `id`) when it is `company`'s and `pred` (which
  /// may update it, under the shard's lock) holds.
  template <class Pred>
  std::optional<hit> find_if(std::string_view type, std::string_view id,
                             std::string_view company, Pred pred) const {
    auto k = key(type, id);
    auto& s = shard_of(k);
    std::lock_guard<std::mutex> g{s.mtx};
    auto i = s.map.find(k);
    if (i == s.map.end() || i->second.company != company || !pred(i->second))
      return std::nullopt;
    return hit{i->second.body, i->second.version};
  }

  static std::string key(std::string_view type, std::string_view id) {
    std::string k;
    k.reserve(type.size() + 1 + id.size());
    k.append(type).push_back('\n');
    k.append(id);
    return k;
  }

  shard& shard_of(const std::string& k) const {
    return shards_[std::hash<std::string>{}(k) % shards];
  }

  std::size_t per_shard_;
  mutable std::array<shard, shards> shards_;
};

} // namespace switchboard::app::http
