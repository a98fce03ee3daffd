#include "actors/aggregates.hpp"

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <actors/cache.hpp>
#include <actors/calendar.hpp>
#include <actors/call_workflow.hpp>
#include <actors/deciders.hpp>
#include <actors/entity_actor.hpp>
#include <actors/errors.hpp>
#include <actors/log.hpp>
#include <actors/payload.hpp>
#include <messages/ids.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>

namespace switchboard {

using namespace command_errors;

namespace {

std::string key_of(const std::string& type, const std::string& company,
                   const std::string& id) {
  return type + "/" + company + "/" + id;
}

using router_ptr = router_actor::stateful_pointer<router_state>;

/// Marks `key` used now (most recently used).
void touch(router_state& st, const std::string& key) {
  if (auto i = st.lru_at.find(key); i != st.lru_at.end()) {
    st.lru.splice(st.lru.end(), st.lru, i->second);
    return;
  }
  st.lru_at[key] = st.lru.insert(st.lru.end(), key);
}

void forget(router_state& st, const std::string& key) {
  if (auto i = st.lru_at.find(key); i != st.lru_at.end()) {
    st.lru.erase(i->second);
    st.lru_at.erase(i);
  }
}

/// Makes room for one more actor: while `max_live` are listed, the least
/// recently used is asked to passivate (it stops unless busy, and the
/// router forgets it when it is down).
void make_room(router_ptr self) {
  auto& st = self->state;
  while (!st.lru.empty() && st.lru.size() >= st.deps.max_live) {
    auto key = std::move(st.lru.front());
    st.lru.pop_front();
    st.lru_at.erase(key);
    if (auto i = st.actors.find(key); i != st.actors.end())
      self->send(i->second, drain_atom::value);
  }
}

/// Whether `company` has a stream (`type`, `id`): one index probe and one
/// event read, checked before an actor is spawned for an id that comes
/// from a request.
expected<bool, caf::error> belongs_to(const store::event_store& events,
                                      const std::string& type,
                                      const std::string& company,
                                      const std::string& id) {
  auto first = events.read_stream(company, type, id, 1, 1);
  if (!first)
    return make_unexpected(to_caf_error(first.error()));
  return !first->empty();
}

bool is_live(const router_state& st, const std::string& type,
             const std::string& company, const std::string& id) {
  return st.actors.count(key_of(type, company, id)) > 0;
}

aggregate_actor spawn_for(router_ptr self, const std::string& type,
                          const std::string& company, const std::string& id,
                          caf::error& err) {
  auto& st = self->state;
  auto key = key_of(type, company, id);
  if (auto i = st.actors.find(key); i != st.actors.end()) {
    touch(st, key);
    return i->second;
  }
  make_room(self);
  aggregate_actor h;
  if (type == "calendar") {
    h = self->system().spawn(calendar_actor, company, id, st.deps);
  } else if (type == "call") {
    auto loaded = load_call(*st.deps.events, company, id);
    if (!loaded) {
      err = loaded.error();
      return {};
    }
    h = spawn_call_actor(self->system(), std::move(*loaded), st.deps,
                         caf::actor_cast<router_actor>(self));
  } else {
    auto loaded = load_aggregate(*st.deps.events, type, company, id);
    if (!loaded) {
      err = loaded.error();
      return {};
    }
    auto fn = decider_for(type);
    if (fn == nullptr) {
      err = invalid("aggregate_type", "unknown aggregate type " + type);
      return {};
    }
    h = self->system().spawn(entity_actor, std::move(*loaded), st.deps, fn);
  }
  self->monitor(h);
  st.actors[key] = h;
  st.keys[h.address()] = key;
  (*st.children)[h.address()] = h;
  touch(st, key);
  st.deps.live->store(st.actors.size());
  return h;
}

bool known_type(const std::string& t) {
  return t == "customer" || t == "staff" || t == "service" || t == "appointment"
         || t == "call";
}

} // namespace

router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self, aggregate_deps deps) {
  self->state.deps = std::move(deps);
  if (self->state.deps.children)
    self->state.children = self->state.deps.children;
  self->state.log = log::get("router");
  // Aggregate actors end with the router.
  self->attach_functor([children = self->state.children] {
    for (auto& [addr, h] : *children)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (auto i = st.keys.find(dm.source); i != st.keys.end()) {
      forget(st, i->second);
      st.actors.erase(i->second);
      st.keys.erase(i);
    }
    st.children->erase(dm.source);
    st.deps.live->store(st.actors.size());
  });
  return {
      [self](drain_atom, const std::string& company) {
        auto& st = self->state;
        std::size_t n = 0;
        for (const auto& [key, h] : st.actors) {
          auto slash = key.find('/');
          if (slash == std::string::npos
              || key.compare(slash + 1, company.size(), company) != 0
              || key.size() <= slash + 1 + company.size()
              || key[slash + 1 + company.size()] != '/')
            continue;
          forget(st, key);
          self->send(h, drain_atom::value);
          ++n;
        }
        self->request(
                st.deps.cache, caf::infinite, flush_atom::value,
                std::vector<std::string>{company_tag("availability", company)})
            .then([](std::uint64_t) {}, [](caf::error&) {});
        if (n > 0)
          st.log->info("passivated {} actor(s) of company {}", n, company);
      },
      [self](command_atom,
             aggregate_command& cmd) -> caf::result<command_result> {
        auto& st = self->state;
        if (!known_type(cmd.aggregate_type))
          return invalid("aggregate_type",
                         "unknown aggregate type " + cmd.aggregate_type);
        if (cmd.company_id.empty())
          return invalid("company_id", "is required");
        if (cmd.aggregate_id.empty()) {
          if (cmd.name != "create" && cmd.name != "book")
            return invalid("id", "is required");
          cmd.aggregate_id = new_event_id();
        }
        std::string target_type = cmd.aggregate_type;
        std::string target_id = cmd.aggregate_id;
        std::string release_from;
        if (cmd.aggregate_type == "appointment") {
          // Appointments are decided by the calendar of their staff member.
          target_type = "calendar";
          payload_reader p{cmd.payload};
          auto staff_id
              = p.str("staff_id", cmd.name == "book" || cmd.name == "reassign");
          if (!p.valid())
            return p.error();
          if (cmd.name == "book" || cmd.name == "reassign") {
            target_id = *staff_id;
          }
          if (cmd.name != "book") {
            auto appt = load_aggregate(*st.deps.events, "appointment",
                                       cmd.company_id, cmd.aggregate_id);
            if (!appt)
              return appt.error();
            if (!appt->exists)
              return not_found("appointment " + cmd.aggregate_id);
            if (cmd.name == "reassign") {
              if (appt->appt.staff_id != target_id)
                release_from = appt->appt.staff_id;
            } else {
              target_id = appt->appt.staff_id;
            }
          }
        }
        // An id no actor holds costs one read, not an actor: an unknown
        // staff member (or another company's) is refused here, as is a
        // command to an aggregate that does not exist.
        if (!is_live(st, target_type, cmd.company_id, target_id)) {
          if (target_type == "calendar") {
            auto known = belongs_to(*st.deps.events, "staff", cmd.company_id,
                                    target_id);
            if (!known)
              return known.error();
            if (!*known)
              return invalid("staff_id", "no such staff member");
          } else if (target_type != "call" && cmd.name != "create") {
            auto known = belongs_to(*st.deps.events, target_type,
                                    cmd.company_id, target_id);
            if (!known)
              return known.error();
            if (!*known)
              return not_found(target_type + " " + target_id);
          }
        }
        caf::error err;
        auto h = spawn_for(self, target_type, cmd.company_id, target_id, err);
        if (!h)
          return err;
        if (release_from.empty())
          // The aggregate answers the caller itself: one hop less.
          return self->delegate(h, command_atom::value, cmd);
        auto rp = self->make_response_promise<command_result>();
        auto company = cmd.company_id;
        auto appointment_id = cmd.aggregate_id;
        self->request(h, caf::infinite, command_atom::value, cmd)
            .then(
                [self, rp, release_from, company,
                 appointment_id](command_result& res) mutable {
                  if (!release_from.empty()) {
                    auto& st = self->state;
                    auto key = key_of("calendar", company, release_from);
                    if (auto i = st.actors.find(key); i != st.actors.end())
                      self->send(i->second, release_atom::value,
                                 appointment_id);
                  }
                  rp.deliver(std::move(res));
                },
                [rp](caf::error& err) mutable {
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [self](get_atom, const std::string& type, const std::string& company,
             const std::string& id) -> caf::result<std::string> {
        if (!known_type(type))
          return invalid("aggregate_type", "unknown aggregate type " + type);
        if (type == "call") {
          auto call = load_call(*self->state.deps.events, company, id);
          if (!call)
            return call.error();
          if (!call->exists)
            return not_found("call " + id);
          return render_call(*call);
        }
        auto loaded
            = load_aggregate(*self->state.deps.events, type, company, id);
        if (!loaded)
          return loaded.error();
        if (!loaded->exists)
          return not_found(type + " " + id);
        return render_state(*loaded);
      },
      [self](availability_atom, const std::string& company,
             const std::string& staff_id, const std::string& service_id,
             const std::string& date) -> caf::result<std::string> {
        auto day = parse_rfc3339(date + "T00:00:00Z");
        if (date.size() != 10 || !day)
          return invalid("date", "must be YYYY-MM-DD");
        auto& st = self->state;
        auto key = "availability:" + company + ":" + staff_id + ":" + service_id
                   + ":" + date;
        auto rp = self->make_response_promise<std::string>();
        auto day_start = *day;
        self->request(st.deps.cache, caf::infinite, get_atom::value, key)
            .then(
                [self, rp, key, company, staff_id, service_id,
                 day_start](const cache_lookup& hit) mutable {
                  if (hit.found) {
                    rp.deliver(hit.value);
                    return;
                  }
                  auto& st = self->state;
                  if (!is_live(st, "calendar", company, staff_id)) {
                    auto known = belongs_to(*st.deps.events, "staff", company,
                                            staff_id);
                    if (!known) {
                      rp.deliver(known.error());
                      return;
                    }
                    if (!*known) {
                      rp.deliver(not_found("staff " + staff_id));
                      return;
                    }
                  }
                  caf::error err;
                  auto h = spawn_for(self, "calendar", company, staff_id, err);
                  if (!h) {
                    rp.deliver(std::move(err));
                    return;
                  }
                  self->request(h, caf::infinite, availability_atom::value,
                                service_id, day_start)
                      .then(
                          [self, rp, key, company](std::string& json) mutable {
                            // Flushed by this company's changes only.
                            std::vector<std::string> tags{
                                company_tag("availability", company)};
                            self->request(self->state.deps.cache, caf::infinite,
                                          put_atom::value, key, json, tags,
                                          self->state.deps.availability_ttl_ms)
                                .then([](ok_atom) {}, [](caf::error&) {});
                            rp.deliver(std::move(json));
                          },
                          [rp](caf::error& e) mutable {
                            rp.deliver(std::move(e));
                          });
                },
                [rp](caf::error& e) mutable {
                  rp.deliver(std::move(e));
                });
        return rp;
      },
  };
}

} // namespace switchboard