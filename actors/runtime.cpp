#include "actors/runtime.hpp"

#include <thread>

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/group.hpp>
#include <caf/io/middleman.hpp>
#include <caf/stateful_actor.hpp>

#include <actors/local_only.hpp>
#include <actors/log.hpp>

#include <actors/errors.hpp>

#include <messages/type_ids.hpp>

namespace switchboard {

runtime_config::runtime_config(std::size_t max_threads,
                               std::size_t sleeping_polls) {
  add_message_types<caf::id_block::switchboard>();
  add_error_category(runtime_error_category(), render_runtime_error);
  load<caf::io::middleman>();
  if (max_threads == 0)
    max_threads = std::max(1u, std::thread::hardware_concurrency());
  set("scheduler.max-threads", max_threads);
  set("work-stealing.moderate-poll-attempts", sleeping_polls);
  // CAF prints unexpected messages to stdout; the daemon's stdout is for
  // its own output, so keep CAF's console logger quiet.
  set("logger.console-verbosity", caf::atom("quiet"));
}

namespace {

struct caf_output_state {
  std::uint64_t lines = 0;
  std::uint64_t reported = 0;
  std::chrono::steady_clock::time_point last_report{};
  std::string last;
  static inline const char* name = "caf_output";
};

constexpr auto caf_output_group = ":caf-output";

} // namespace

void capture_caf_output(caf::actor_system& sys) {
  auto grp = sys.groups().get_local(caf_output_group);
  spawn_local<caf::hidden + caf::lazy_init>(
      sys, [grp](caf::stateful_actor<caf_output_state>* self) -> caf::behavior {
        self->join(grp);
        return {
            [self](const std::string&, std::string& text) {
              auto& st = self->state;
              ++st.lines;
              st.last = std::move(text);
              auto lg = log::get(log::subsystem::caf);
              lg->debug("{}", st.last);
              auto now = std::chrono::steady_clock::now();
              if (now - st.last_report < std::chrono::seconds(10))
                return;
              st.last_report = now;
              lg->warn("CAF reported {} line(s) since the last report (an "
                       "unexpected message each, most often); the last: {}",
                       st.lines - st.reported, st.last.substr(0, 200));
              st.reported = st.lines;
            },
        };
      });
  caf::actor_ostream::redirect_all(sys, caf_output_group);
}

} // namespace switchboard
