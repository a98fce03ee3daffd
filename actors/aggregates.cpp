#include "actors/aggregates.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_map>

#include <boost/json.hpp>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <actors/cache.hpp>
#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/idle_watch.hpp>
#include <actors/log.hpp>
#include <actors/payload.hpp>
#include <messages/ids.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/tenants.hpp>

namespace switchboard {

namespace {

constexpr timestamp_ms minute_ms = 60000;
constexpr timestamp_ms day_ms = 86400000;

caf::error not_found(const std::string& what) {
  return make_runtime_error(runtime_errc::not_found, what + " not found");
}

caf::error conflict(const std::string& what) {
  return make_runtime_error(runtime_errc::conflict, what);
}

/// A create's answer when the company uses the id already (ids are per
/// company: another company's equal id is another stream).
caf::error taken(const std::string& type, const std::string& id) {
  return conflict(type + " " + id + ": the id is taken");
}

caf::error invalid(const std::string& field, const std::string& what) {
  return make_runtime_error(runtime_errc::invalid_argument,
                            field + ": " + what);
}

std::string quoted(const std::string& s) {
  return boost::json::serialize(boost::json::value(s));
}

/// Records a change of `field` when the value differs.
template <class T>
void track(change_set& changes, const char* field, const T& before,
           const T& after) {
  if (before == after)
    return;
  auto text = [](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, std::string>)
      return quoted(v);
    else if constexpr (std::is_same_v<V, bool>)
      return std::string{v ? "true" : "false"};
    else
      return std::to_string(v);
  };
  changes[field] = change{text(before), text(after)};
}

std::string key_of(const std::string& type, const std::string& company,
                   const std::string& id) {
  return type + "/" + company + "/" + id;
}

// -- deciding
// -------------------------------------------------------------------

/// Events a command decides, ready to dispatch.
struct decision {
  std::vector<envelope> events;
  /// Versions expected of the further streams `events` write to, in
  /// order (see dispatch_request::linked_versions).
  std::vector<std::uint64_t> linked_versions;
  aggregate_state after; ///< The state the events lead to.
};

template <class E>
envelope wrap(const E& e, const aggregate_state& st,
              const aggregate_command& cmd, timestamp_ms now) {
  return make_envelope(e, st.id, 0, st.company_id, now, cmd.metadata);
}

expected<decision, caf::error> decide_customer(const aggregate_state& st,
                                               const aggregate_command& cmd,
                                               const aggregate_deps& deps) {
  payload_reader p{cmd.payload};
  auto now = deps.clock();
  decision d;
  d.after = st;
  auto& c = d.after.cust;
  auto read_fields = [&](bool creating) {
    if (auto v = p.str("name", creating))
      c.name = *v;
    if (auto v = p.str("phone"))
      c.phone = *v;
    if (auto v = p.str("email")) {
      if (!v->empty() && v->find('@') == std::string::npos)
        p.problem("email", "must be an email address");
      c.email = *v;
    }
    if (auto v = p.boolean("prefers_sms"))
      c.prefers_sms = *v;
    if (auto v = p.boolean("prefers_email"))
      c.prefers_email = *v;
    if (auto v = p.boolean("prefers_whatsapp"))
      c.prefers_whatsapp = *v;
    if (!c.phone.empty()
        && c.phone.find_first_not_of("+0123456789 -()") != std::string::npos)
      p.problem("phone", "must be a phone number");
  };
  if (cmd.name == "create") {
    if (st.exists)
      return make_unexpected(taken("customer", st.id));
    read_fields(true);
    customer_source source = customer_source::manual;
    if (auto s = p.str("source"))
      if (!parse_enum(*s, source))
        p.problem("source", "must be one of phone, web, import, manual");
    if (!p.valid())
      return make_unexpected(p.error());
    c.id = st.id;
    c.company_id = st.company_id;
    d.events.push_back(wrap(customer_created{c, source}, st, cmd, now));
  } else if (cmd.name == "update") {
    if (!st.exists)
      return make_unexpected(not_found("customer " + st.id));
    if (!st.merged_into.empty())
      return make_unexpected(
          conflict("customer " + st.id + " was merged into " + st.merged_into));
    read_fields(false);
    if (!p.valid())
      return make_unexpected(p.error());
    customer_updated e{c, {}};
    const auto& b = st.cust;
    track(e.changes, "name", b.name, c.name);
    track(e.changes, "phone", b.phone, c.phone);
    track(e.changes, "email", b.email, c.email);
    track(e.changes, "prefers_sms", b.prefers_sms, c.prefers_sms);
    track(e.changes, "prefers_email", b.prefers_email, c.prefers_email);
    track(e.changes, "prefers_whatsapp", b.prefers_whatsapp,
          c.prefers_whatsapp);
    if (!e.changes.empty())
      d.events.push_back(wrap(e, st, cmd, now));
  } else if (cmd.name == "merge") {
    // A merge writes the primary and a tombstone of the customer merged
    // away in one transaction, each at the version it was decided on: of
    // two merges that cross (A into B, B into A), one fails on a version,
    // and a tombstone is never merged, changed or booked again.
    if (!st.exists)
      return make_unexpected(not_found("customer " + st.id));
    if (!st.merged_into.empty())
      return make_unexpected(
          conflict("customer " + st.id + " was merged into " + st.merged_into));
    auto other = p.str("merged_id", true);
    if (!p.valid())
      return make_unexpected(p.error());
    if (*other == st.id)
      return make_unexpected(
          invalid("merged_id", "cannot merge a customer into itself"));
    auto merged
        = load_aggregate(*deps.events, "customer", st.company_id, *other);
    if (!merged && runtime_code(merged.error()) != runtime_errc::not_found)
      return make_unexpected(merged.error());
    // Another company's customer answers as a missing one.
    if (!merged || !merged->exists)
      return make_unexpected(invalid("merged_id", "no such customer"));
    if (!merged->merged_into.empty())
      return make_unexpected(
          invalid("merged_id", "customer " + *other + " was merged into "
                                   + merged->merged_into + " already"));
    customer_merged e;
    e.merged = merged->cust;
    auto take
        = [&](const char* field, std::string& mine, const std::string& theirs) {
            if (mine.empty() && !theirs.empty()) {
              mine = theirs;
              e.merged_data[field] = theirs;
            }
          };
    take("phone", c.phone, merged->cust.phone);
    take("email", c.email, merged->cust.email);
    take("name", c.name, merged->cust.name);
    e.primary = c;
    d.events.push_back(wrap(e, st, cmd, now));
    d.events.push_back(
        make_envelope(e, *other, 0, st.company_id, now, cmd.metadata));
    d.linked_versions.push_back(merged->version);
  } else {
    return make_unexpected(
        invalid("command", "unknown customer command " + cmd.name));
  }
  return d;
}

expected<decision, caf::error> decide_staff(const aggregate_state& st,
                                            const aggregate_command& cmd,
                                            const aggregate_deps& deps) {
  payload_reader p{cmd.payload};
  decision d;
  d.after = st;
  auto& s = d.after.stf;
  bool creating = cmd.name == "create";
  if (creating && st.exists)
    return make_unexpected(taken("staff", st.id));
  if (!creating && !st.exists)
    return make_unexpected(not_found("staff " + st.id));
  if (cmd.name != "create" && cmd.name != "update"
      && cmd.name != "set_working_hours")
    return make_unexpected(
        invalid("command", "unknown staff command " + cmd.name));
  if (auto v = p.str("name", creating))
    s.name = *v;
  if (auto v = p.str("branch_id"))
    s.branch_id = *v;
  if (auto v = p.str("email"))
    s.email = *v;
  if (auto v = p.str("phone"))
    s.phone = *v;
  if (auto v = p.boolean("active"))
    s.active = *v;
  if (auto v = p.strings("service_ids"))
    s.service_ids = *v;
  if (const auto* wh = p.raw("working_hours")) {
    if (!wh->is_array()) {
      p.problem("working_hours", "must be an array");
    } else {
      std::vector<work_interval> hours;
      std::size_t i = 0;
      for (const auto& item : wh->get_array()) {
        auto at = "working_hours[" + std::to_string(i++) + "]";
        auto w = from_json<work_interval>(item);
        if (!w) {
          p.problem(at + (w.error().field.empty() ? "" : "." + w.error().field),
                    w.error().message);
          continue;
        }
        hours.push_back(*w);
      }
      s.working_hours = std::move(hours);
    }
  } else if (cmd.name == "set_working_hours") {
    p.problem("working_hours", "is required");
  }
  if (!p.valid())
    return make_unexpected(p.error());
  s.id = st.id;
  s.company_id = st.company_id;
  staff_updated e{s, {}};
  const auto& b = st.stf;
  track(e.changes, "name", b.name, s.name);
  track(e.changes, "branch_id", b.branch_id, s.branch_id);
  track(e.changes, "email", b.email, s.email);
  track(e.changes, "phone", b.phone, s.phone);
  track(e.changes, "active", b.active, s.active);
  auto list_text = [](const auto& items, auto one) {
    boost::json::array arr;
    for (const auto& x : items)
      arr.push_back(one(x));
    return boost::json::serialize(arr);
  };
  auto as_string = [](const std::string& x) {
    return boost::json::value(x);
  };
  auto as_json = [](const work_interval& x) {
    return to_json(x);
  };
  if (b.service_ids != s.service_ids)
    e.changes["service_ids"] = {list_text(b.service_ids, as_string),
                                list_text(s.service_ids, as_string)};
  if (!(b.working_hours == s.working_hours))
    e.changes["working_hours"] = {list_text(b.working_hours, as_json),
                                  list_text(s.working_hours, as_json)};
  if (!e.changes.empty() || creating)
    d.events.push_back(wrap(e, st, cmd, deps.clock()));
  return d;
}

expected<decision, caf::error> decide_service(const aggregate_state& st,
                                              const aggregate_command& cmd,
                                              const aggregate_deps& deps) {
  payload_reader p{cmd.payload};
  decision d;
  d.after = st;
  auto& s = d.after.svc;
  bool creating = cmd.name == "create";
  if (creating && st.exists)
    return make_unexpected(taken("service", st.id));
  if (!creating && !st.exists)
    return make_unexpected(not_found("service " + st.id));
  if (cmd.name != "create" && cmd.name != "update")
    return make_unexpected(
        invalid("command", "unknown service command " + cmd.name));
  if (auto v = p.str("name", creating))
    s.name = *v;
  if (auto v = p.integer("price_cents", creating, 0, INT64_MAX / 2))
    s.price_cents = *v;
  if (auto v = p.integer("duration_minutes", creating, 5, 24 * 60))
    s.duration_minutes = static_cast<std::int32_t>(*v);
  if (!p.valid())
    return make_unexpected(p.error());
  s.id = st.id;
  s.company_id = st.company_id;
  service_updated e{s, {}};
  track(e.changes, "name", st.svc.name, s.name);
  track(e.changes, "price_cents", st.svc.price_cents, s.price_cents);
  track(e.changes, "duration_minutes", st.svc.duration_minutes,
        s.duration_minutes);
  if (!e.changes.empty())
    d.events.push_back(wrap(e, st, cmd, deps.clock()));
  return d;
}

// -- generic aggregate actor
// ------------------------------------------------------

using decide_fn = expected<decision, caf::error> (*)(const aggregate_state&,
                                                     const aggregate_command&,
                                                     const aggregate_deps&);

struct entity_state {
  aggregate_state st;
  aggregate_deps deps;
  idle_watch idle;
  static inline const char* name = "aggregate";
};

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
        auto d = decide(s.st, cmd, s.deps);
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
      [](release_atom, const std::string&) {},
      [](availability_atom, const std::string&,
         timestamp_ms) -> caf::result<std::string> {
        return make_runtime_error(runtime_errc::invalid_argument,
                                  "not a calendar");
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

// -- the staff calendar
// -----------------------------------------------------------

/// The [start, end) intervals of a calendar's appointments, by id and by
/// start. A calendar's booked intervals, in buckets by the day they start on
/// (a sorted vector each): a check reads the few days an overlapping
/// interval can start on, instead of descending a tree of every booking.
class interval_book {
public:
  using interval = std::pair<timestamp_ms, timestamp_ms>;

  void set(const std::string& id, interval iv) {
    erase(id);
    by_id_.emplace(id, iv);
    auto& day = days_[day_of(iv.first)];
    auto at = std::upper_bound(day.begin(), day.end(), iv.first,
                               [](timestamp_ms t, const booked& b) {
                                 return t < b.start;
                               });
    day.insert(at, booked{iv.first, iv.second, id});
    longest_ = std::max(longest_, iv.second - iv.first);
  }

  void erase(const std::string& id) {
    auto i = by_id_.find(id);
    if (i == by_id_.end())
      return;
    auto d = days_.find(day_of(i->second.first));
    if (d != days_.end()) {
      auto& day = d->second;
      auto j = std::find_if(day.begin(), day.end(), [&id](const booked& b) {
        return b.id == id;
      });
      if (j != day.end())
        day.erase(j);
      if (day.empty())
        days_.erase(d);
    }
    by_id_.erase(i);
  }

  std::optional<interval> find(const std::string& id) const {
    auto i = by_id_.find(id);
    if (i == by_id_.end())
      return std::nullopt;
    return i->second;
  }

  /// True when [start, end) meets an interval other than `except`'s.
  bool overlaps(timestamp_ms start, timestamp_ms end,
                const std::string& except) const {
    if (end <= start)
      return false;
    // An interval that meets [start, end) starts before `end`, and after
    // `start` less the longest interval ever booked here.
    auto first = start - longest_;
    for (auto d = day_of(first), last = day_of(end - 1); d <= last; ++d) {
      auto i = days_.find(d);
      if (i == days_.end())
        continue;
      const auto& day = i->second;
      auto j = std::upper_bound(day.begin(), day.end(), first,
                                [](timestamp_ms t, const booked& b) {
                                  return t < b.start;
                                });
      for (; j != day.end() && j->start < end; ++j)
        if (j->end > start && j->id != except)
          return true;
    }
    return false;
  }

private:
  struct booked {
    timestamp_ms start;
    timestamp_ms end;
    std::string id;
  };

  static std::int64_t day_of(timestamp_ms t) {
    return t >= 0 ? t / day_ms : (t - day_ms + 1) / day_ms;
  }

  std::unordered_map<std::string, interval> by_id_;
  std::unordered_map<std::int64_t, std::vector<booked>> days_;
  timestamp_ms longest_ = 0;
};

struct calendar_state {
  std::string company_id;
  std::string staff_id;
  /// Appointments that are not cancelled.
  interval_book booked;
  /// Set when rehydration failed: the calendar refuses every command.
  std::string broken;
  aggregate_deps deps;
  idle_watch idle;
  /// Staff, services and customers this calendar has read, each as of
  /// its stream version: reused while the version is unchanged.
  struct seen_state {
    std::shared_ptr<const aggregate_state> state;
    /// The type's stream_generation read before the version was last
    /// found current: while it is the same, the version is not read.
    std::uint64_t generation = 0;
  };
  std::unordered_map<std::string, seen_state> seen;
  static inline const char* name = "calendar";
};

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
      st.type = "appointment";
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

aggregate_actor::behavior_type
calendar_actor(aggregate_actor::stateful_pointer<calendar_state> self,
               std::string company_id, std::string staff_id,
               aggregate_deps deps) {
  auto& cal = self->state;
  cal.company_id = std::move(company_id);
  cal.staff_id = std::move(staff_id);
  cal.deps = std::move(deps);
  rehydrate(cal);
  start_idle_watch(self, cal.idle, idle_atom::value, cal.deps.idle_timeout);
  return {
      [self](command_atom,
             const aggregate_command& cmd) -> caf::result<command_result> {
        auto& cal = self->state;
        cal.idle.touch(self->clock().now());
        if (!cal.broken.empty())
          return make_runtime_error(runtime_errc::storage, cal.broken);
        auto now = cal.deps.clock();
        payload_reader p{cmd.payload};
        auto st = load_aggregate(*cal.deps.events, "appointment",
                                 cal.company_id, cmd.aggregate_id);
        if (!st)
          return st.error();
        decision d;
        d.after = *st;
        auto& a = d.after.appt;
        // Cal.com's webhook and sync name the booking uid and the id of
        // the event a delivery makes (a redelivery stores nothing new).
        bool from_calcom = cmd.metadata.source == "calcom";
        auto event_id = from_calcom ? p.str("event_id") : std::nullopt;
        auto staff_state = load_seen(cal, "staff", cal.staff_id);
        if (!staff_state)
          return staff_state.error();
        if (!(*staff_state)->exists)
          return invalid("staff_id", "no such staff member");
        const auto& stf = (*staff_state)->stf;
        std::string release_from;
        if (cmd.name == "book") {
          if (st->exists)
            return taken("appointment", cmd.aggregate_id);
          auto customer_id = p.str("customer_id", true);
          auto service_id = p.str("service_id", true);
          auto start = p.time("start_time", true);
          auto branch = p.str("branch_id");
          auto notes = p.str("notes");
          auto source = p.str("source");
          auto calcom_uid = from_calcom ? p.str("calcom_uid") : std::nullopt;
          if (!p.valid())
            return p.error();
          auto svc = load_seen(cal, "service", *service_id);
          if (!svc)
            return svc.error();
          if (!(*svc)->exists)
            p.problem("service_id", "no such service");
          auto cust = load_seen(cal, "customer", *customer_id);
          if (!cust)
            return cust.error();
          if (!(*cust)->exists)
            p.problem("customer_id", "no such customer");
          else if (!(*cust)->merged_into.empty())
            p.problem("customer_id", "customer " + *customer_id
                                         + " was merged into "
                                         + (*cust)->merged_into);
          if (!p.valid())
            return p.error();
          if (!stf.active)
            return invalid("staff_id", "staff member is not active");
          if (!performs(stf, *service_id))
            return invalid("service_id", "staff member " + stf.id
                                             + " does not perform service "
                                             + *service_id);
          if (*start <= now)
            return invalid("start_time", "must be in the future");
          a.id = cmd.aggregate_id;
          a.company_id = cal.company_id;
          a.branch_id = branch ? *branch : stf.branch_id;
          a.service_id = *service_id;
          a.staff_id = cal.staff_id;
          a.customer_id = *customer_id;
          a.start_time = *start;
          a.end_time = *start + (*svc)->svc.duration_minutes * minute_ms;
          a.status = appointment_status::scheduled;
          a.price_cents = (*svc)->svc.price_cents;
          a.notes = notes ? *notes : std::string{};
          a.calcom_uid = calcom_uid ? *calcom_uid : std::string{};
          if (!within_hours(
                  stf, a.start_time, a.end_time,
                  zone_at(cal.deps.tenants, cal.company_id, stf.branch_id)))
            return invalid("start_time", "outside the staff member's hours");
          if (overlaps(cal, a.start_time, a.end_time, a.id))
            return conflict("the slot is taken");
          string_map meta;
          if (!cmd.metadata.user_id.empty())
            meta["user_id"] = cmd.metadata.user_id;
          d.events.push_back(make_envelope(
              appointment_created{a, source ? *source : std::string{"api"},
                                  meta},
              a.id, 0, a.company_id, now, cmd.metadata));
        } else if (cmd.name == "reschedule" || cmd.name == "reassign") {
          if (!st->exists)
            return not_found("appointment " + cmd.aggregate_id);
          if (cmd.name == "reschedule" && a.staff_id != cal.staff_id)
            return conflict("appointment " + a.id
                            + " moved to another staff member; retry");
          if (a.status != appointment_status::scheduled)
            return conflict("appointment " + a.id + " is "
                            + to_string(a.status));
          auto start = p.time("start_time", cmd.name == "reschedule");
          auto notes = p.str("notes");
          auto calcom_uid = from_calcom ? p.str("calcom_uid") : std::nullopt;
          if (!p.valid())
            return p.error();
          appointment_updated e;
          auto before = a;
          if (calcom_uid && !calcom_uid->empty())
            a.calcom_uid = *calcom_uid;
          if (start) {
            auto length = a.end_time - a.start_time;
            a.start_time = *start;
            a.end_time = *start + length;
            if (a.start_time <= now)
              return invalid("start_time", "must be in the future");
          }
          if (cmd.name == "reassign" && a.staff_id != cal.staff_id) {
            if (!stf.active)
              return invalid("staff_id", "staff member is not active");
            if (!performs(stf, a.service_id))
              return invalid("staff_id", "staff member " + stf.id
                                             + " does not perform service "
                                             + a.service_id);
            release_from = a.staff_id;
            a.staff_id = cal.staff_id;
          }
          if (notes)
            a.notes = *notes;
          if (!within_hours(
                  stf, a.start_time, a.end_time,
                  zone_at(cal.deps.tenants, cal.company_id, stf.branch_id)))
            return invalid("start_time", "outside the staff member's hours");
          if (overlaps(cal, a.start_time, a.end_time, a.id))
            return conflict("the slot is taken");
          if (before.start_time != a.start_time) {
            e.changes["start_time"]
                = {quoted(format_rfc3339(before.start_time)),
                   quoted(format_rfc3339(a.start_time))};
            e.changes["end_time"] = {quoted(format_rfc3339(before.end_time)),
                                     quoted(format_rfc3339(a.end_time))};
          }
          track(e.changes, "staff_id", before.staff_id, a.staff_id);
          track(e.changes, "notes", before.notes, a.notes);
          track(e.changes, "calcom_uid", before.calcom_uid, a.calcom_uid);
          e.appointment = a;
          e.updated_by = cmd.metadata.user_id;
          if (!e.changes.empty())
            d.events.push_back(
                make_envelope(e, a.id, 0, a.company_id, now, cmd.metadata));
        } else if (cmd.name == "link_calcom" || cmd.name == "set_no_show") {
          // Cal.com's side of a booking: the uid its API answered, or
          // whether the attendee came.
          if (!st->exists)
            return not_found("appointment " + cmd.aggregate_id);
          if (!from_calcom)
            return invalid("command", cmd.name + " is Cal.com's");
          appointment_updated e;
          auto before = a;
          if (cmd.name == "link_calcom") {
            auto uid = p.str("calcom_uid", true);
            if (!p.valid())
              return p.error();
            a.calcom_uid = *uid;
          } else {
            auto no_show = p.boolean("no_show", true);
            if (!p.valid())
              return p.error();
            if (*no_show && a.status == appointment_status::scheduled)
              a.status = appointment_status::no_show;
            else if (!*no_show && a.status == appointment_status::no_show) {
              if (overlaps(cal, a.start_time, a.end_time, a.id))
                return conflict("the slot is taken");
              a.status = appointment_status::scheduled;
            }
          }
          track(e.changes, "calcom_uid", before.calcom_uid, a.calcom_uid);
          if (before.status != a.status)
            e.changes["status"]
                = {quoted(std::string{to_string(before.status)}),
                   quoted(std::string{to_string(a.status)})};
          e.appointment = a;
          e.updated_by = cmd.metadata.user_id;
          if (!e.changes.empty())
            d.events.push_back(
                make_envelope(e, a.id, 0, a.company_id, now, cmd.metadata));
        } else if (cmd.name == "cancel") {
          if (!st->exists)
            return not_found("appointment " + cmd.aggregate_id);
          if (a.staff_id != cal.staff_id)
            return conflict("appointment " + a.id
                            + " moved to another staff member; retry");
          if (a.status == appointment_status::cancelled)
            return conflict("appointment " + a.id + " is already cancelled");
          auto reason = p.str("reason");
          if (!p.valid())
            return p.error();
          a.status = appointment_status::cancelled;
          d.events.push_back(make_envelope(
              appointment_cancelled{a, reason ? *reason : std::string{},
                                    cmd.metadata.user_id},
              a.id, 0, a.company_id, now, cmd.metadata));
        } else {
          return invalid("command", "unknown appointment command " + cmd.name);
        }
        if (event_id && !event_id->empty() && !d.events.empty())
          d.events.front().id = *event_id;
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
        if (cmd.check_version && cmd.expected_version != st->version) {
          if (previous)
            cal.booked.set(id, *previous);
          else
            cal.booked.erase(id);
          return make_runtime_error(runtime_errc::version_conflict,
                                    "appointment " + id + " is at version "
                                        + std::to_string(st->version)
                                        + ", expected "
                                        + std::to_string(cmd.expected_version));
        }
        if (d.events.empty())
          return command_result{id, st->version, {}, render_state(*st), false};
        auto rp = self->make_response_promise<command_result>();
        dispatch_request req;
        req.typed = true; // data serialized from typed events
        req.events = std::move(d.events);
        req.expect
            = st->version == 0 ? expect_kind::no_stream : expect_kind::exact;
        req.expected_version = st->version;
        auto after = std::make_shared<aggregate_state>(std::move(d.after));
        bool created = !st->exists;
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
                  auto now = load_aggregate(*cal.deps.events, "appointment",
                                            cal.company_id, id);
                  if (now && now->exists && now->appt.staff_id == cal.staff_id
                      && now->appt.status == appointment_status::scheduled)
                    cal.booked.set(id,
                                   {now->appt.start_time, now->appt.end_time});
                  else
                    cal.booked.erase(id);
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [](get_atom, const std::string&) -> caf::result<std::string> {
        return make_runtime_error(runtime_errc::invalid_argument,
                                  "a calendar has no state of its own");
      },
      [self](release_atom, const std::string& appointment_id) {
        self->state.booked.erase(appointment_id);
      },
      [self](availability_atom, const std::string& service_id,
             timestamp_ms day_start) -> caf::result<std::string> {
        auto& cal = self->state;
        cal.idle.touch(self->clock().now());
        auto svc = load_seen(cal, "service", service_id);
        if (!svc)
          return svc.error();
        if (!(*svc)->exists)
          return invalid("service_id", "no such service");
        auto stf_state = load_seen(cal, "staff", cal.staff_id);
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

} // namespace

// -- state
// ----------------------------------------------------------------------

std::string calcom_booking_ref(const std::string& company,
                               const std::string& uid) {
  return "appointment-calcom/" + company + "/" + uid;
}

void appointment_refs(const envelope& e, std::vector<std::string>& out) {
  if (e.aggregate_type != "appointment" || e.company_id.empty())
    return;
  aggregate_state st;
  st.type = "appointment";
  apply_event(st, e);
  if (!st.appt.calcom_uid.empty())
    out.push_back(calcom_booking_ref(e.company_id, st.appt.calcom_uid));
}

std::string appointment_sort_key(timestamp_ms start, const std::string& id) {
  auto u = store::order_preserving(start);
  std::string k(8, '\0');
  for (int i = 0; i < 8; ++i)
    k[static_cast<std::size_t>(i)] = static_cast<char>(u >> (56 - 8 * i));
  return k + id;
}

std::string appointment_list(const std::string& company,
                             const std::string& staff_id,
                             const std::string& customer_id,
                             const std::string& status) {
  auto name = !staff_id.empty() ? "appt-staff/" + company + "/" + staff_id
              : !customer_id.empty()
                  ? "appt-customer/" + company + "/" + customer_id
                  : "appt/" + company;
  if (!status.empty())
    name += "?status=" + status;
  return name;
}

void appointment_lists(const envelope& e, store::listing& out) {
  if (e.aggregate_type != "appointment" || e.company_id.empty())
    return;
  aggregate_state st;
  st.type = "appointment";
  apply_event(st, e);
  const auto& a = st.appt;
  const auto& c = e.company_id;
  auto key = appointment_sort_key(a.start_time, e.aggregate_id);
  auto status = std::string{to_string(a.status)};
  for (const auto& s : {std::string{}, status}) {
    out.entries.emplace_back(appointment_list(c, "", "", s), key);
    if (!a.staff_id.empty())
      out.entries.emplace_back(appointment_list(c, a.staff_id, "", s), key);
    if (!a.customer_id.empty())
      out.entries.emplace_back(appointment_list(c, "", a.customer_id, s), key);
  }
}

void apply_event(aggregate_state& st, const envelope& ev) {
  st.version = ev.version;
  st.company_id = ev.company_id;
  st.id = ev.aggregate_id;
  const auto& t = ev.type;
  if (t == "customer.created") {
    if (auto e = event_from<customer_created>(ev))
      st.cust = e->customer;
  } else if (t == "customer.updated") {
    if (auto e = event_from<customer_updated>(ev))
      st.cust = e->customer;
  } else if (t == "customer.merged") {
    if (auto e = event_from<customer_merged>(ev)) {
      if (e->merged.id == ev.aggregate_id && e->primary.id != ev.aggregate_id)
        st.merged_into = e->primary.id; // the tombstone of a merged customer
      else
        st.cust = e->primary;
    }
  } else if (t == "staff.updated") {
    if (auto e = event_from<staff_updated>(ev))
      st.stf = e->staff;
  } else if (t == "service.updated") {
    if (auto e = event_from<service_updated>(ev))
      st.svc = e->service;
  } else if (t == "appointment.created") {
    if (auto e = event_from<appointment_created>(ev))
      st.appt = e->appointment;
  } else if (t == "appointment.updated") {
    if (auto e = event_from<appointment_updated>(ev))
      st.appt = e->appointment;
  } else if (t == "appointment.cancelled") {
    if (auto e = event_from<appointment_cancelled>(ev)) {
      st.appt = e->appointment;
      st.appt.status = appointment_status::cancelled;
    }
  }
  st.exists = true;
}

expected<aggregate_state, caf::error>
load_aggregate(const store::event_store& events, const std::string& type,
               const std::string& company_id, const std::string& id) {
  aggregate_state st;
  st.type = type;
  st.id = id;
  st.company_id = company_id;
  std::uint64_t from = 1;
  for (;;) {
    auto batch = events.read_stream(company_id, type, id, from, 1024);
    if (!batch)
      return make_unexpected(to_caf_error(batch.error()));
    // The company's own stream: another company's equal id is another
    // stream, never read here.
    for (const auto& ev : *batch)
      apply_event(st, ev);
    if (batch->size() < 1024)
      break;
    from = batch->back().version + 1;
  }
  return st;
}

boost::json::object state_json(const aggregate_state& st) {
  boost::json::object out;
  if (st.type == "customer")
    out = to_json(st.cust).as_object();
  else if (st.type == "staff")
    out = to_json(st.stf).as_object();
  else if (st.type == "service")
    out = to_json(st.svc).as_object();
  else if (st.type == "appointment")
    out = to_json(st.appt).as_object();
  if (!st.merged_into.empty())
    out["merged_into"] = st.merged_into;
  out["version"] = st.version;
  return out;
}

std::string render_state(const aggregate_state& st) {
  return boost::json::serialize(state_json(st));
}

// -- router
// ---------------------------------------------------------------------

namespace {

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
    decide_fn fn = type == "customer" ? decide_customer
                   : type == "staff"  ? decide_staff
                                      : decide_service;
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
