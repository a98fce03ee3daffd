#include "actors/runtime.hpp"

#include <thread>

#include <caf/io/middleman.hpp>

#include <actors/errors.hpp>

#include <messages/type_ids.hpp>

namespace switchboard {

runtime_config::runtime_config(std::size_t max_threads) {
  add_message_types<caf::id_block::switchboard>();
  add_error_category(runtime_error_category(), render_runtime_error);
  load<caf::io::middleman>();
  if (max_threads == 0)
    max_threads = std::max(1u, std::thread::hardware_concurrency());
  set("scheduler.max-threads", max_threads);
  // CAF prints unexpected messages to stdout; the daemon's stdout is for
  // its own output, so keep CAF's console logger quiet.
  set("logger.console-verbosity", caf::atom("quiet"));
}

} // namespace switchboard
