#include "actors/entity_actor.hpp"

#include <memory>

#include <actors/errors.hpp>
#include <store/event_store.hpp>

namespace switchboard {

using namespace command_errors;

namespace {

/// Dispatches `d` for the aggregate in `self`'s state and answers `rp`.
template <class Self>
void commit_decision(Self* self, aggregate_state& st, decision d,
                     const aggregate_command& cmd,
                     caf::typed_response_promise<command_result> rp) {
  if (cmd.check_version && cmd.expected_version != st.version) {
    rp.deliver(make_runtime_error(
        runtime_errc::version_conflict,
        st.type + " " + st.id + " is at version " + std::to_string(st.version)
            + ", expected " + std::to_string(cmd.expected_version)));
    return;
  }
  if (d.events.empty()) {
    rp.deliver(command_result{st.id, st.version, {}, render_state(st), false});
    return;
  }
  dispatch_request req;
  req.typed = true; // data serialized from typed events
  req.events = std::move(d.events);
  req.expect = st.version == 0 ? expect_kind::no_stream : expect_kind::exact;
  req.expected_version = st.version;
  req.linked_versions = std::move(d.linked_versions);
  bool created = !st.exists;
  auto after = std::make_shared<aggregate_state>(std::move(d.after));
  ++self->state.idle.in_flight;
  // `await`: the next command is decided against the state this one
  // leads to, so commands without If-Match serialize instead of failing
  // on a version they could not know.
  self->request(self->state.deps.dispatcher, caf::infinite,
                dispatch_atom::value, std::move(req))
      .await(
          [self, rp, after, created](const dispatch_result& res) mutable {
            --self->state.idle.in_flight;
            auto& cur = self->state.st;
            auto id = cur.id;
            after->version
                = res.versions.empty() ? cur.version : res.versions.back();
            after->exists = true;
            cur = *after;
            rp.deliver(command_result{id, cur.version, res.sequences,
                                      render_state(cur), created});
          },
          [self, rp](caf::error& err) mutable {
            --self->state.idle.in_flight;
            // Our view may be stale (another writer): reload it.
            auto& cur = self->state.st;
            if (auto fresh = load_aggregate(*self->state.deps.events, cur.type,
                                            cur.company_id, cur.id))
              cur = std::move(*fresh);
            rp.deliver(std::move(err));
          });
}

} // namespace

aggregate_actor::behavior_type
entity_actor(aggregate_actor::stateful_pointer<entity_state> self,
             aggregate_state initial, aggregate_deps deps, decide_fn decide) {
  self->state.st = std::move(initial);
  self->state.deps = std::move(deps);
  start_idle_watch(self, self->state.idle, idle_atom::value,
                   self->state.deps.idle_timeout);
  return {
      [self, decide](command_atom, const aggregate_command& cmd)
          -> caf::result<command_result> {
        auto& s = self->state;
        s.idle.touch(self->clock().now());
        // Another actor's command may have written this stream (a merge
        // writes the tombstone of the customer merged away): one index
        // probe tells, and a stale state is read again before deciding.
        if (auto at = s.deps.events->stream_version(s.st.company_id, s.st.type,
                                                    s.st.id);
            at && *at != s.st.version)
          if (auto fresh = load_aggregate(*s.deps.events, s.st.type,
                                          s.st.company_id, s.st.id))
            s.st = std::move(*fresh);
        auto d
            = decide(s.st, cmd, decide_context{s.deps.clock(), s.deps.events});
        if (!d)
          return d.error();
        auto rp = self->make_response_promise<command_result>();
        commit_decision(self, s.st, std::move(*d), cmd, rp);
        return rp;
      },
      [self](get_atom, const std::string&) -> caf::result<std::string> {
        self->state.idle.touch(self->clock().now());
        auto& st = self->state.st;
        if (!st.exists)
          return not_found(st.type + " " + st.id);
        return render_state(st);
      },
      [self](idle_atom) {
        on_idle_check(self, self->state.idle, idle_atom::value, [] {
          return true;
        });
      },
      [self](drain_atom) {
        if (self->state.idle.in_flight == 0)
          self->quit();
      },
  };
}

} // namespace switchboard
