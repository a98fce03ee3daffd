#include "actors/calendar.hpp"

#include <messages/aggregate_types.hpp>

#include <map>

#include <boost/json.hpp>

#include <actors/branches.hpp>
#include <actors/deciders.hpp>
#include <actors/errors.hpp>
#include <actors/event_visit.hpp>
#include <actors/payload.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>

namespace switchboard {

using namespace command_errors;

namespace {

constexpr timestamp_ms minute_ms = 60000;
constexpr timestamp_ms day_ms = 86400000;

/// Bound of `calendar_state::seen` (emptied when reached).
constexpr std::size_t max_seen = 256;

/// The state of (`type`, `id`) of the calendar's company: from `seen`
/// when its stream is still at the version read, loaded otherwise. While
/// no stream of `type` has changed since the last check, there is nothing
/// to read; a version lookup costs one index probe; a load also reads and
/// decodes every event of the stream.
expected<std::shared_ptr<const aggregate_state>, caf::error>
load_seen(calendar_state& cal, const std::string& type, const std::string& id) {
  const auto& events = *cal.deps.events;
  // Read first: a commit counted after this is seen by the reads below.
  auto generation = events.stream_generation(type);
  auto key = type + '\n' + id;
  auto i = cal.seen.find(key);
  if (i != cal.seen.end() && i->second.generation == generation)
    return i->second.state;
  auto version = events.stream_version(cal.company_id, type, id);
  if (!version)
    return make_unexpected(to_caf_error(version.error()));
  if (i != cal.seen.end() && i->second.state->version == *version) {
    i->second.generation = generation;
    return i->second.state;
  }
  // The calendar's company's own: another company's equal id is another
  // stream, and to this calendar it does not exist.
  auto loaded = load_aggregate(events, type, cal.company_id, id);
  if (!loaded)
    return make_unexpected(loaded.error());
  auto st = std::make_shared<const aggregate_state>(std::move(*loaded));
  if (cal.seen.size() >= max_seen)
    cal.seen.clear();
  cal.seen[key] = {st, generation};
  return st;
}

bool overlaps(const calendar_state& cal, timestamp_ms start, timestamp_ms end,
              const std::string& except) {
  return cal.booked.overlaps(start, end, except);
}

/// Minutes since midnight and weekday (Monday = 0) of `t`, a wall-clock
/// time written as if it were UTC.
std::pair<int, int> day_and_minute(timestamp_ms t) {
  auto days = t >= 0 ? t / day_ms : (t - day_ms + 1) / day_ms;
  // 1970-01-01 was a Thursday (3 when Monday is 0).
  int weekday_idx = static_cast<int>(((days % 7) + 7 + 3) % 7);
  int minute = static_cast<int>((t - days * day_ms) / minute_ms);
  return {weekday_idx, minute};
}

/// True when `s` performs `service_id`: a staff member without a list of
/// services performs every service.
bool performs(const staff& s, const std::string& service_id) {
  return s.service_ids.empty()
         || std::find(s.service_ids.begin(), s.service_ids.end(), service_id)
                != s.service_ids.end();
}

/// True when [start, end) lies within one of `s`'s working intervals,
/// which are wall-clock times of `tz`, the zone of `s`'s branch.
bool within_hours(const staff& s, timestamp_ms start, timestamp_ms end,
                  const time_zone& tz) {
  if (s.working_hours.empty())
    return true; // no hours set: any time
  auto [day, from] = day_and_minute(tz.to_local(start));
  auto to = from + static_cast<int>((end - start) / minute_ms);
  for (const auto& w : s.working_hours)
    if (static_cast<int>(w.day) == day && w.start_minute <= from
        && to <= w.end_minute)
      return true;
  return false;
}

/// Why `a` cannot have its slot in `cal`: outside the working hours of
/// `stf` (the staff member), or over another booking; none when it can.
caf::error slot_problem(const calendar_state& cal, const staff& stf,
                        const appointment& a) {
  if (!within_hours(stf, a.start_time, a.end_time,
                    zone_at(cal.deps.tenants, cal.company_id, stf.branch_id)))
    return invalid("start_time", "outside the staff member's hours");
  if (overlaps(cal, a.start_time, a.end_time, a.id))
    return conflict("the slot is taken");
  return {};
}

/// Rebuilds the calendar from its staff member's scheduled appointments
/// (the store's sorted list of them, each as of its last event).
void rehydrate(calendar_state& cal) {
  auto list
      = appointment_list(cal.company_id, cal.staff_id, "",
                         std::string{to_string(appointment_status::scheduled)});
  std::string from;
  for (;;) {
    auto page = cal.deps.events->read_list(list, from, "", 4096);
    if (!page) {
      cal.broken
          = "cannot read the calendar: " + store::to_string(page.error());
      return;
    }
    for (const auto& entry : *page) {
      aggregate_state st;
      st.type = aggregates::appointment;
      apply_event(st, entry.event);
      const auto& a = st.appt;
      if (a.staff_id == cal.staff_id
          && a.status == appointment_status::scheduled)
        cal.booked.set(a.id, {a.start_time, a.end_time});
    }
    if (page->size() < 4096)
      return;
    from = page->back().sort_key + '\0';
  }
}

// -- commands
// -------------------------------------------------------------------

using calendar_ptr = calendar_actor::stateful_pointer<calendar_state>;

/// What every appointment command of a calendar reads before deciding.
struct calendar_command {
  const appointment_ref& ref;
  /// The appointment as stored (`exists` false before it is booked).
  const aggregate_state& stored;
  /// The calendar's staff member.
  const staff& stf;
  /// Whether Cal.com's webhook or sync sent the command.
  bool from_calcom = false;
  timestamp_ms now = 0;
};

/// Why `stf` cannot serve `service_id`: inactive (named as staff_id), or
/// not performing it (named as `field`); none when it can.
caf::error cannot_serve(const staff& stf, const std::string& service_id,
                        const char* field) {
  if (!stf.active)
    return invalid("staff_id", "staff member is not active");
  if (!performs(stf, service_id))
    return invalid(field, "staff member " + stf.id
                              + " does not perform service " + service_id);
  return {};
}

/// A decision that starts from the stored appointment of `c`, with no
/// events yet.
decision from_stored(const calendar_command& c) {
  decision d;
  d.after = c.stored;
  return d;
}

/// A new appointment for `customer_id` and `service_id` at `start_time`:
/// the staff member is active, performs the service and works then, and
/// the slot is free.
expected<decision, caf::error> decide_book(calendar_state& cal,
                                           const calendar_command& c,
                                           const book_appointment& cmd) {
  const auto& stf = c.stf;
  auto now = c.now;
  auto d = from_stored(c);
  auto& a = d.after.appt;
  if (c.stored.exists)
    return make_unexpected(
        taken(aggregates::appointment, c.ref.appointment_id));
  std::map<std::string, std::string> problems;
  auto svc = load_seen(cal, aggregates::service, cmd.service_id);
  if (!svc)
    return make_unexpected(svc.error());
  if (!(*svc)->exists)
    problems.emplace("service_id", "no such service");
  auto cust = load_seen(cal, aggregates::customer, cmd.customer_id);
  if (!cust)
    return make_unexpected(cust.error());
  if (!(*cust)->exists)
    problems.emplace("customer_id", "no such customer");
  else if (!(*cust)->merged_into.empty())
    problems.emplace("customer_id", "customer " + cmd.customer_id
                                        + " was merged into "
                                        + (*cust)->merged_into);
  if (!problems.empty())
    return make_unexpected(field_problems_error(problems));
  if (auto err = cannot_serve(stf, cmd.service_id, "service_id"))
    return make_unexpected(std::move(err));
  if (cmd.start_time <= now)
    return make_unexpected(invalid("start_time", "must be in the future"));
  a.id = c.ref.appointment_id;
  a.company_id = cal.company_id;
  a.branch_id = cmd.set_branch ? cmd.branch_id : stf.branch_id;
  a.service_id = cmd.service_id;
  a.staff_id = cal.staff_id;
  a.customer_id = cmd.customer_id;
  a.start_time = cmd.start_time;
  a.end_time = cmd.start_time + (*svc)->svc.duration_minutes * minute_ms;
  a.status = appointment_status::scheduled;
  a.price_cents = (*svc)->svc.price_cents;
  a.notes = cmd.notes;
  a.calcom_uid = c.from_calcom ? cmd.calcom_uid : std::string{};
  if (auto err = slot_problem(cal, stf, a))
    return make_unexpected(std::move(err));
  string_map meta;
  const auto& md = c.ref.metadata;
  if (!md.user_id.empty())
    meta["user_id"] = md.user_id;
  d.events.push_back(
      make_known_envelope(appointment_created{a, cmd.source, meta}, a.id, 0,
                          a.company_id, now, md));
  return d;
}

/// What a reschedule or a reassignment changes.
struct move {
  /// Moves to this calendar's staff member (a reassignment); otherwise
  /// the appointment must be this staff member's already.
  bool reassign = false;
  const timestamp_ms* start_time = nullptr; ///< The new start, if any.
  const std::string* notes = nullptr;       ///< The new notes, if any.
  std::string calcom_uid;                   ///< Cal.com's new uid, if any.
};

/// Why a command may not change the appointment it names here: it is not
/// stored, or it moved to another staff member's calendar (`any_staff`,
/// for a reassignment, accepts that); none when it may.
caf::error not_here(const calendar_state& cal, const calendar_command& c,
                    bool any_staff = false) {
  if (!c.stored.exists)
    return not_found("appointment " + c.ref.appointment_id);
  if (!any_staff && c.stored.appt.staff_id != cal.staff_id)
    return conflict("appointment " + c.stored.appt.id
                    + " moved to another staff member; retry");
  return {};
}

/// A scheduled appointment at another time (`m.reassign` false: the time
/// is given and the appointment stays with this staff member) or with
/// this calendar's staff member (`m.reassign`: the time is optional).
expected<decision, caf::error>
decide_move(calendar_state& cal, const calendar_command& c, const move& m) {
  const auto& stf = c.stf;
  const auto& md = c.ref.metadata;
  auto now = c.now;
  auto d = from_stored(c);
  auto& a = d.after.appt;
  if (auto err = not_here(cal, c, m.reassign))
    return make_unexpected(std::move(err));
  if (a.status != appointment_status::scheduled)
    return make_unexpected(
        conflict("appointment " + a.id + " is " + to_string(a.status)));
  appointment_updated e;
  auto before = a;
  if (c.from_calcom && !m.calcom_uid.empty())
    a.calcom_uid = m.calcom_uid;
  if (m.start_time != nullptr) {
    auto length = a.end_time - a.start_time;
    a.start_time = *m.start_time;
    a.end_time = *m.start_time + length;
    if (a.start_time <= now)
      return make_unexpected(invalid("start_time", "must be in the future"));
  }
  if (m.reassign && a.staff_id != cal.staff_id) {
    if (auto err = cannot_serve(stf, a.service_id, "staff_id"))
      return make_unexpected(std::move(err));
    a.staff_id = cal.staff_id;
  }
  if (m.notes != nullptr)
    a.notes = *m.notes;
  if (auto err = slot_problem(cal, stf, a))
    return make_unexpected(std::move(err));
  if (before.start_time != a.start_time) {
    e.changes["start_time"] = {quoted(format_rfc3339(before.start_time)),
                               quoted(format_rfc3339(a.start_time))};
    e.changes["end_time"] = {quoted(format_rfc3339(before.end_time)),
                             quoted(format_rfc3339(a.end_time))};
  }
  track(e.changes, "staff_id", before.staff_id, a.staff_id);
  track(e.changes, "notes", before.notes, a.notes);
  track(e.changes, "calcom_uid", before.calcom_uid, a.calcom_uid);
  e.appointment = a;
  e.updated_by = md.user_id;
  if (!e.changes.empty())
    d.events.push_back(make_known_envelope(e, a.id, 0, a.company_id, now, md));
  return d;
}

/// A scheduled appointment of this staff member at `start_time`.
expected<decision, caf::error>
decide_reschedule(calendar_state& cal, const calendar_command& c,
                  const reschedule_appointment& cmd) {
  move m;
  m.start_time = &cmd.start_time;
  m.notes = cmd.set_notes ? &cmd.notes : nullptr;
  m.calcom_uid = cmd.calcom_uid;
  return decide_move(cal, c, m);
}

/// A scheduled appointment moved to this calendar's staff member (and,
/// with `start_time`, to another time).
expected<decision, caf::error>
decide_reassign(calendar_state& cal, const calendar_command& c,
                const reassign_appointment& cmd) {
  move m;
  m.reassign = true;
  m.start_time = cmd.set_start_time ? &cmd.start_time : nullptr;
  m.notes = cmd.set_notes ? &cmd.notes : nullptr;
  return decide_move(cal, c, m);
}

/// Cal.com's side of a booking (the uid its API answered, or whether the
/// attendee came): `change` applies it to the appointment, and the
/// update records what changed. `what` names the command.
template <class Change>
expected<decision, caf::error> decide_calcom_update(const calendar_command& c,
                                                    const char* what,
                                                    Change change) {
  const auto& md = c.ref.metadata;
  auto d = from_stored(c);
  auto& a = d.after.appt;
  if (!c.stored.exists)
    return make_unexpected(not_found("appointment " + c.ref.appointment_id));
  if (!c.from_calcom)
    return make_unexpected(
        invalid("command", std::string{what} + " is Cal.com's"));
  appointment_updated e;
  auto before = a;
  if (auto err = change(a))
    return make_unexpected(std::move(err));
  track(e.changes, "calcom_uid", before.calcom_uid, a.calcom_uid);
  if (before.status != a.status)
    e.changes["status"] = {quoted(std::string{to_string(before.status)}),
                           quoted(std::string{to_string(a.status)})};
  e.appointment = a;
  e.updated_by = md.user_id;
  if (!e.changes.empty())
    d.events.push_back(
        make_known_envelope(e, a.id, 0, a.company_id, c.now, md));
  return d;
}

/// The uid of the Cal.com booking of an appointment (Cal.com only).
expected<decision, caf::error>
decide_link_calcom(calendar_state&, const calendar_command& c,
                   const link_calcom_booking& cmd) {
  return decide_calcom_update(c, "link_calcom",
                              [&cmd](appointment& a) -> caf::error {
                                a.calcom_uid = cmd.calcom_uid;
                                return {};
                              });
}

/// Whether the attendee came (Cal.com only): a no-show frees the slot,
/// and undoing one takes it again when it is still free.
expected<decision, caf::error>
decide_no_show(calendar_state& cal, const calendar_command& c,
               const set_appointment_no_show& cmd) {
  return decide_calcom_update(
      c, "set_no_show", [&cal, &cmd](appointment& a) -> caf::error {
        if (cmd.no_show && a.status == appointment_status::scheduled)
          a.status = appointment_status::no_show;
        else if (!cmd.no_show && a.status == appointment_status::no_show) {
          if (overlaps(cal, a.start_time, a.end_time, a.id))
            return conflict("the slot is taken");
          a.status = appointment_status::scheduled;
        }
        return {};
      });
}

/// A cancelled appointment of this staff member, with an optional reason.
expected<decision, caf::error> decide_cancel(calendar_state& cal,
                                             const calendar_command& c,
                                             const cancel_appointment& cmd) {
  const auto& md = c.ref.metadata;
  auto d = from_stored(c);
  auto& a = d.after.appt;
  if (auto err = not_here(cal, c))
    return make_unexpected(std::move(err));
  if (a.status == appointment_status::cancelled)
    return make_unexpected(
        conflict("appointment " + a.id + " is already cancelled"));
  a.status = appointment_status::cancelled;
  d.events.push_back(
      make_known_envelope(appointment_cancelled{a, cmd.reason, md.user_id},
                          a.id, 0, a.company_id, c.now, md));
  return d;
}

/// An appointment of this staff member that took place: only a scheduled
/// one that has started. Its slot is no longer held.
expected<decision, caf::error> decide_complete(calendar_state& cal,
                                               const calendar_command& c,
                                               const complete_appointment&) {
  const auto& md = c.ref.metadata;
  auto d = from_stored(c);
  auto& a = d.after.appt;
  if (auto err = not_here(cal, c))
    return make_unexpected(std::move(err));
  if (a.status != appointment_status::scheduled)
    return make_unexpected(conflict("appointment " + a.id + " is "
                                    + std::string{to_string(a.status)}
                                    + ", not scheduled"));
  if (a.start_time > c.now)
    return make_unexpected(conflict("appointment " + a.id
                                    + " has not started yet (it starts at "
                                    + format_rfc3339(a.start_time) + ")"));
  a.status = appointment_status::completed;
  d.events.push_back(make_known_envelope(appointment_completed{a, md.user_id},
                                         a.id, 0, a.company_id, c.now, md));
  return d;
}

/// Reserves the slot of the appointment `d` leads to and dispatches `d`;
/// answers the command.
caf::result<command_result> commit(calendar_ptr self,
                                   const appointment_ref& ref,
                                   const aggregate_state& stored, decision d) {
  auto& cal = self->state;
  const auto& a = d.after.appt;
  // Reserve at once so that the next command in the mailbox sees it;
  // undo when the dispatch fails.
  auto id = a.id;
  auto previous = cal.booked.find(id);
  if (a.status == appointment_status::scheduled)
    cal.booked.set(id, {a.start_time, a.end_time});
  else
    cal.booked.erase(id);
  // Answered here, before a response promise exists: once one is
  // made, a returned value no longer reaches the caller.
  if (ref.check_version && ref.expected_version != stored.version) {
    if (previous)
      cal.booked.set(id, *previous);
    else
      cal.booked.erase(id);
    return make_runtime_error(
        runtime_errc::version_conflict,
        "appointment " + id + " is at version " + std::to_string(stored.version)
            + ", expected " + std::to_string(ref.expected_version));
  }
  if (d.events.empty())
    return command_result{id, stored.version, {}, render_state(stored), false};
  auto rp = self->make_response_promise<command_result>();
  dispatch_request req;
  req.typed = true; // data serialized from typed events
  req.events = std::move(d.events);
  req.expect
      = stored.version == 0 ? expect_kind::no_stream : expect_kind::exact;
  req.expected_version = stored.version;
  auto after = std::make_shared<aggregate_state>(std::move(d.after));
  bool created = !stored.exists;
  // `await`: the calendar takes no other command until this one's
  // fate is known, so its bookings always match what is stored.
  self->request(cal.deps.dispatcher, caf::infinite, dispatch_atom::value,
                std::move(req))
      .await(
          [rp, after, created, id](const dispatch_result& res) mutable {
            after->version = res.versions.back();
            after->exists = true;
            rp.deliver(command_result{id, after->version, res.sequences,
                                      render_state(*after), created});
          },
          [self, rp, id](caf::error& err) mutable {
            // An error does not always mean nothing was stored (a
            // timeout after the commit): rebuild this appointment's
            // slot from the store.
            auto& cal = self->state;
            auto now = load_aggregate(*cal.deps.events, aggregates::appointment,
                                      cal.company_id, id);
            if (now && now->exists && now->appt.staff_id == cal.staff_id
                && now->appt.status == appointment_status::scheduled)
              cal.booked.set(id, {now->appt.start_time, now->appt.end_time});
            else
              cal.booked.erase(id);
            rp.deliver(std::move(err));
          });
  return rp;
}

/// Decides `cmd` with `decide` against the stored appointment and the
/// calendar's staff member, then commits what it decided.
template <class Command, class Decide>
caf::result<command_result> handle(calendar_ptr self, const Command& cmd,
                                   Decide decide) {
  auto& cal = self->state;
  const auto& ref = cmd.ref;
  cal.idle.touch(self->clock().now());
  if (!cal.broken.empty())
    return make_runtime_error(runtime_errc::storage, cal.broken);
  auto now = cal.deps.clock();
  auto st = load_aggregate(*cal.deps.events, aggregates::appointment,
                           cal.company_id, ref.appointment_id);
  if (!st)
    return st.error();
  auto staff_state = load_seen(cal, aggregates::staff, cal.staff_id);
  if (!staff_state)
    return staff_state.error();
  if (!(*staff_state)->exists)
    return invalid("staff_id", "no such staff member");
  calendar_command c{ref, *st, (*staff_state)->stf,
                     ref.metadata.source == "calcom", now};
  auto d = decide(cal, c, cmd);
  if (!d)
    return d.error();
  // Cal.com's webhook and sync name the id of the event a delivery makes
  // (a redelivery stores nothing new).
  if (!ref.event_id.empty() && !d->events.empty())
    d->events.front().id = ref.event_id;
  return commit(self, ref, *st, std::move(*d));
}

/// The calendar's handler of `Command`, which `decide` decides.
template <class Command, class Decide>
auto decided_by(calendar_ptr self, Decide decide) {
  return [self, decide](command_atom,
                        const Command& cmd) -> caf::result<command_result> {
    return handle(self, cmd, decide);
  };
}

} // namespace

calendar_actor::behavior_type
calendar(calendar_actor::stateful_pointer<calendar_state> self,
         std::string company_id, std::string staff_id, aggregate_deps deps) {
  auto& cal = self->state;
  cal.company_id = std::move(company_id);
  cal.staff_id = std::move(staff_id);
  cal.deps = std::move(deps);
  rehydrate(cal);
  start_idle_watch(self, cal.idle, idle_atom::value, cal.deps.idle_timeout);
  return {
      decided_by<book_appointment>(self, decide_book),
      decided_by<reschedule_appointment>(self, decide_reschedule),
      decided_by<reassign_appointment>(self, decide_reassign),
      decided_by<cancel_appointment>(self, decide_cancel),
      decided_by<complete_appointment>(self, decide_complete),
      decided_by<link_calcom_booking>(self, decide_link_calcom),
      decided_by<set_appointment_no_show>(self, decide_no_show),
      [self](release_atom, const std::string& appointment_id) {
        self->state.booked.erase(appointment_id);
      },
      [self](availability_atom, const std::string& service_id,
             timestamp_ms day_start) -> caf::result<std::string> {
        auto& cal = self->state;
        cal.idle.touch(self->clock().now());
        auto svc = load_seen(cal, aggregates::service, service_id);
        if (!svc)
          return svc.error();
        if (!(*svc)->exists)
          return invalid("service_id", "no such service");
        auto stf_state = load_seen(cal, aggregates::staff, cal.staff_id);
        if (!stf_state)
          return stf_state.error();
        if (!(*stf_state)->exists)
          return not_found("staff " + cal.staff_id);
        const auto& stf = (*stf_state)->stf;
        if (!performs(stf, service_id))
          return invalid("service_id", "staff member " + stf.id
                                           + " does not perform service "
                                           + service_id);
        auto length = (*svc)->svc.duration_minutes * minute_ms;
        // `day_start` is the midnight of a date of the calendar of the
        // staff member's branch (or company); the working hours are its
        // wall-clock times, each turned into an instant (a time the clocks
        // skip is no slot).
        auto tz = zone_at(cal.deps.tenants, cal.company_id, stf.branch_id);
        auto [day, unused] = day_and_minute(day_start);
        (void)unused;
        boost::json::array slots;
        auto now = cal.deps.clock();
        std::vector<std::pair<int, int>> windows;
        for (const auto& w : stf.working_hours)
          if (static_cast<int>(w.day) == day)
            windows.emplace_back(w.start_minute, w.end_minute);
        if (stf.working_hours.empty())
          windows.emplace_back(0, 24 * 60);
        for (auto [from, to] : windows) {
          for (auto local = day_start + from * minute_ms;
               local + length <= day_start + to * minute_ms; local += length) {
            auto t = tz.to_utc(local);
            if (t && *t > now && !overlaps(cal, *t, *t + length, {}))
              slots.emplace_back(format_rfc3339_in(*t, tz));
          }
        }
        boost::json::object out{
            {"staff_id", cal.staff_id},
            {"service_id", service_id},
            {"date", format_rfc3339(day_start).substr(0, 10)},
            {"slots", std::move(slots)}};
        return boost::json::serialize(out);
      },
      [self](idle_atom) {
        // A dispatch in flight is awaited: this check waits behind it.
        on_idle_check(self, self->state.idle, idle_atom::value, [] {
          return true;
        });
      },
      [self](drain_atom) {
        // Behind any awaited dispatch too: nothing is in flight here.
        self->quit();
      },
  };
}

} // namespace switchboard
