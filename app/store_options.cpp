#include "app/store_options.hpp"

namespace switchboard::app {

store::options store_options(const config& cfg) {
  store::options opts;
  opts.path = cfg.get_string("store.path");
  constexpr std::size_t mib = 1024 * 1024;
  opts.map_size
      = static_cast<std::size_t>(cfg.get_int("store.map_size_mb")) * mib;
  opts.max_map_size
      = static_cast<std::size_t>(cfg.get_int("store.max_map_size_mb")) * mib;
  auto sync = cfg.get_string("store.sync");
  using mode = store::options::sync_mode;
  opts.sync = sync == "none"           ? mode::none
              : sync == "no_meta_sync" ? mode::no_meta_sync
                                       : mode::full;
  opts.max_batch = static_cast<std::size_t>(cfg.get_int("store.max_batch"));
  opts.commit_delay
      = std::chrono::microseconds{cfg.get_int("store.commit_delay_us")};
  opts.commit_min_batch
      = static_cast<std::size_t>(cfg.get_int("store.commit_min_batch"));
  opts.background_per_commit = static_cast<std::size_t>(
      cfg.get_int("store.background_ops_per_commit"));
  opts.background_group
      = static_cast<std::size_t>(cfg.get_int("store.background_group"));
  opts.stream_index_batch
      = static_cast<std::size_t>(cfg.get_int("store.stream_index_batch"));
  return opts;
}

} // namespace switchboard::app
