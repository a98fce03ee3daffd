#include "actors/aggregates.hpp"

#include <messages/aggregate_types.hpp>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <actors/cache.hpp>
#include <actors/calendar.hpp>
#include <actors/call_workflow.hpp>
#include <actors/deciders.hpp>
#include <actors/entity_actor.hpp>
#include <actors/errors.hpp>
#include <actors/local_only.hpp>
#include <actors/log.hpp>
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
    if (auto i = st.aggregates.find(key); i != st.aggregates.end())
      self->send(i->second, drain_atom::value);
    else if (auto j = st.calendars.find(key); j != st.calendars.end())
      self->send(j->second, drain_atom::value);
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
  auto key = key_of(type, company, id);
  return st.aggregates.count(key) > 0 || st.calendars.count(key) > 0;
}

/// Live actors now, for /ready.
void count_live(router_state& st) {
  st.deps.live->store(st.aggregates.size() + st.calendars.size());
}

/// Watches `h`, the new actor of `key`, and lists it as used now.
void enlist(router_ptr self, const std::string& key, const routed_actor& h) {
  auto& st = self->state;
  self->monitor(h);
  st.keys[h.address()] = key;
  (*st.children)[h.address()] = h;
  touch(st, key);
}

/// The calendar of `staff_id` of `company`, spawned (rebuilt from the
/// store) when it is not live.
calendar_actor calendar_for(router_ptr self, const std::string& company,
                            const std::string& staff_id) {
  auto& st = self->state;
  auto key = key_of("calendar", company, staff_id);
  if (auto i = st.calendars.find(key); i != st.calendars.end()) {
    touch(st, key);
    return i->second;
  }
  make_room(self);
  auto h = spawn_local(self->system(), calendar, company, staff_id, st.deps);
  st.calendars[key] = h;
  enlist(self, key, h);
  count_live(st);
  return h;
}

/// The actor of the customer, staff member, service or call (`type`,
/// `id`) of `company`, spawned (rebuilt from its stream) when it is not
/// live; none, with `err` set, when it cannot be loaded.
aggregate_actor aggregate_for(router_ptr self, const std::string& type,
                              const std::string& company, const std::string& id,
                              caf::error& err) {
  auto& st = self->state;
  auto key = key_of(type, company, id);
  if (auto i = st.aggregates.find(key); i != st.aggregates.end()) {
    touch(st, key);
    return i->second;
  }
  make_room(self);
  aggregate_actor h;
  if (type == aggregates::call) {
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
    h = spawn_local(self->system(), entity_actor, std::move(*loaded), st.deps,
                    fn);
  }
  st.aggregates[key] = h;
  enlist(self, key, h);
  count_live(st);
  return h;
}

/// Where an appointment command goes: the staff member whose calendar
/// decides it, and the one whose calendar it leaves (a reassignment).
struct calendar_route {
  std::string staff_id;
  std::string release_from;
};

/// The route of a command for the stored appointment `ref` names: to its
/// staff member's calendar, or to `new_staff`'s when given.
expected<calendar_route, caf::error> route_of(const router_state& st,
                                              const appointment_ref& ref,
                                              const std::string* new_staff) {
  if (ref.appointment_id.empty())
    return make_unexpected(invalid("id", "is required"));
  auto appt = load_aggregate(*st.deps.events, aggregates::appointment,
                             ref.company_id, ref.appointment_id);
  if (!appt)
    return make_unexpected(appt.error());
  if (!appt->exists)
    return make_unexpected(not_found("appointment " + ref.appointment_id));
  calendar_route r;
  r.staff_id = appt->appt.staff_id;
  if (new_staff != nullptr && *new_staff != r.staff_id) {
    r.release_from = std::move(r.staff_id);
    r.staff_id = *new_staff;
  }
  return r;
}

/// Hands `cmd` to the calendar of `r.staff_id` (a staff member the
/// company has), which answers it; a calendar the appointment left
/// forgets it once the command succeeded.
template <class Command>
caf::result<command_result> to_calendar(router_ptr self, const Command& cmd,
                                        calendar_route r) {
  auto& st = self->state;
  const auto& company = cmd.ref.company_id;
  // A staff id no calendar holds costs one read, not an actor: an unknown
  // staff member (or another company's) is refused here.
  if (!is_live(st, "calendar", company, r.staff_id)) {
    auto known
        = belongs_to(*st.deps.events, aggregates::staff, company, r.staff_id);
    if (!known)
      return known.error();
    if (!*known)
      return invalid("staff_id", "no such staff member");
  }
  auto h = calendar_for(self, company, r.staff_id);
  if (r.release_from.empty())
    // The calendar answers the caller itself: one hop less.
    return self->delegate(h, command_atom::value, cmd);
  auto rp = self->make_response_promise<command_result>();
  auto key = key_of("calendar", company, r.release_from);
  auto appointment_id = cmd.ref.appointment_id;
  self->request(h, caf::infinite, command_atom::value, cmd)
      .then(
          [self, rp, key, appointment_id](command_result& res) mutable {
            auto& st = self->state;
            if (auto i = st.calendars.find(key); i != st.calendars.end())
              self->send(i->second, release_atom::value, appointment_id);
            rp.deliver(std::move(res));
          },
          [rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
          });
  return rp;
}

/// Routes a command for an appointment that exists (all but a booking)
/// to the calendar of its staff member.
template <class Command>
caf::result<command_result> route_stored(router_ptr self, const Command& cmd,
                                         const std::string* new_staff
                                         = nullptr) {
  if (cmd.ref.company_id.empty())
    return invalid("company_id", "is required");
  auto r = route_of(self->state, cmd.ref, new_staff);
  if (!r)
    return r.error();
  return to_calendar(self, cmd, std::move(*r));
}

/// The router's handler of `Command`, for an appointment that exists.
template <class Command>
auto routed(router_ptr self) {
  return
      [self](command_atom, const Command& cmd) -> caf::result<command_result> {
        return route_stored(self, cmd);
      };
}

bool known_type(const std::string& t) {
  return t == aggregates::customer || t == aggregates::staff
         || t == aggregates::service || t == aggregates::appointment
         || t == aggregates::call;
}

/// Types whose commands arrive as an aggregate_command (the calendar's
/// are typed).
bool command_type(const std::string& t) {
  return t == aggregates::customer || t == aggregates::staff
         || t == aggregates::service || t == aggregates::call;
}

} // namespace

router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self, aggregate_deps deps) {
  self->state.deps = std::move(deps);
  if (self->state.deps.children)
    self->state.children = self->state.deps.children;
  self->state.log = log::get(log::subsystem::router);
  // Aggregate actors end with the router.
  self->attach_functor([children = self->state.children] {
    for (auto& [addr, h] : *children)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (auto i = st.keys.find(dm.source); i != st.keys.end()) {
      forget(st, i->second);
      st.aggregates.erase(i->second);
      st.calendars.erase(i->second);
      st.keys.erase(i);
    }
    st.children->erase(dm.source);
    count_live(st);
  });
  return {
      [self](drain_atom, const std::string& company) {
        auto& st = self->state;
        std::size_t n = 0;
        auto drain = [&](const auto& live) {
          for (const auto& [key, h] : live) {
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
        };
        drain(st.aggregates);
        drain(st.calendars);
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
        if (cmd.aggregate_type == aggregates::appointment)
          return invalid("aggregate_type",
                         "appointment commands are typed: book_appointment, "
                         "reschedule_appointment, ... "
                         "(messages/calendar_commands.hpp)");
        if (!command_type(cmd.aggregate_type))
          return invalid("aggregate_type",
                         "unknown aggregate type " + cmd.aggregate_type);
        if (cmd.company_id.empty())
          return invalid("company_id", "is required");
        if (cmd.aggregate_id.empty()) {
          if (cmd.name != "create")
            return invalid("id", "is required");
          cmd.aggregate_id = new_event_id();
        }
        // An id no actor holds costs one read, not an actor: a command to
        // an aggregate that does not exist is refused here.
        if (!is_live(st, cmd.aggregate_type, cmd.company_id, cmd.aggregate_id)
            && cmd.aggregate_type != aggregates::call && cmd.name != "create") {
          auto known = belongs_to(*st.deps.events, cmd.aggregate_type,
                                  cmd.company_id, cmd.aggregate_id);
          if (!known)
            return known.error();
          if (!*known)
            return not_found(cmd.aggregate_type + " " + cmd.aggregate_id);
        }
        caf::error err;
        auto h = aggregate_for(self, cmd.aggregate_type, cmd.company_id,
                               cmd.aggregate_id, err);
        if (!h)
          return err;
        // The aggregate answers the caller itself: one hop less.
        return self->delegate(h, command_atom::value, cmd);
      },
      [self](command_atom,
             book_appointment& cmd) -> caf::result<command_result> {
        if (cmd.ref.company_id.empty())
          return invalid("company_id", "is required");
        if (cmd.ref.appointment_id.empty())
          cmd.ref.appointment_id = new_event_id();
        return to_calendar(self, cmd, calendar_route{cmd.staff_id, {}});
      },
      routed<reschedule_appointment>(self),
      [self](command_atom,
             const reassign_appointment& cmd) -> caf::result<command_result> {
        return route_stored(self, cmd, &cmd.staff_id);
      },
      routed<cancel_appointment>(self),
      routed<complete_appointment>(self),
      routed<link_calcom_booking>(self),
      routed<set_appointment_no_show>(self),
      [self](get_atom, const std::string& type, const std::string& company,
             const std::string& id) -> caf::result<std::string> {
        if (!known_type(type))
          return invalid("aggregate_type", "unknown aggregate type " + type);
        if (type == aggregates::call) {
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
                    auto known = belongs_to(*st.deps.events, aggregates::staff,
                                            company, staff_id);
                    if (!known) {
                      rp.deliver(known.error());
                      return;
                    }
                    if (!*known) {
                      rp.deliver(not_found("staff " + staff_id));
                      return;
                    }
                  }
                  auto h = calendar_for(self, company, staff_id);
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