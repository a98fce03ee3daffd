#include "actors/deciders.hpp"

#include <messages/aggregate_types.hpp>

#include <algorithm>
#include <initializer_list>

#include <boost/json.hpp>

#include <actors/payload.hpp>
#include <messages/json.hpp>
#include <store/event_store.hpp>

namespace switchboard {

namespace command_errors {

caf::error not_found(const std::string& what) {
  return make_runtime_error(runtime_errc::not_found, what + " not found");
}

caf::error conflict(const std::string& what) {
  return make_runtime_error(runtime_errc::conflict, what);
}

caf::error taken(const std::string& type, const std::string& id) {
  return conflict(type + " " + id + ": the id is taken");
}

caf::error invalid(const std::string& field, const std::string& what) {
  return make_runtime_error(runtime_errc::invalid_argument,
                            field + ": " + what);
}

} // namespace command_errors

std::string quoted(const std::string& s) {
  return boost::json::serialize(boost::json::value(s));
}

namespace {

using namespace command_errors;

template <class E>
envelope wrap(const E& e, const aggregate_state& st,
              const aggregate_command& cmd, timestamp_ms now) {
  return make_envelope(e, st.id, 0, st.company_id, now, cmd.metadata);
}

/// Why `cmd` (create, or one of `others`) cannot apply to `st`, an
/// aggregate of `type`: a create of an id taken, a change of one that does
/// not exist, or an unknown command; none when it can.
caf::error check_command(const aggregate_state& st,
                         const aggregate_command& cmd, const std::string& type,
                         std::initializer_list<std::string_view> others) {
  bool creating = cmd.name == "create";
  if (creating && st.exists)
    return taken(type, st.id);
  if (!creating && !st.exists)
    return not_found(type + " " + st.id);
  if (!creating
      && std::find(others.begin(), others.end(), cmd.name) == others.end())
    return invalid("command", "unknown " + type + " command " + cmd.name);
  return {};
}

/// Why customer `st` cannot change: it does not exist, or it was merged
/// into another; none when it can.
caf::error cannot_change_customer(const aggregate_state& st) {
  if (!st.exists)
    return not_found("customer " + st.id);
  if (!st.merged_into.empty())
    return conflict("customer " + st.id + " was merged into " + st.merged_into);
  return {};
}

} // namespace

using namespace command_errors;

expected<decision, caf::error> decide_customer(const aggregate_state& st,
                                               const aggregate_command& cmd,
                                               const decide_context& ctx) {
  payload_reader p{cmd.payload};
  auto now = ctx.now;
  decision d;
  d.after = st;
  auto& c = d.after.cust;
  auto read_fields = [&](bool creating) {
    take(p.str("name", creating), c.name);
    take(p.str("phone"), c.phone);
    if (auto v = p.str("email")) {
      if (!v->empty() && v->find('@') == std::string::npos)
        p.problem("email", "must be an email address");
      c.email = *v;
    }
    take(p.boolean("prefers_sms"), c.prefers_sms);
    take(p.boolean("prefers_email"), c.prefers_email);
    take(p.boolean("prefers_whatsapp"), c.prefers_whatsapp);
    if (!c.phone.empty()
        && c.phone.find_first_not_of("+0123456789 -()") != std::string::npos)
      p.problem("phone", "must be a phone number");
  };
  if (cmd.name == "create") {
    if (st.exists)
      return make_unexpected(taken(aggregates::customer, st.id));
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
    if (auto err = cannot_change_customer(st))
      return make_unexpected(std::move(err));
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
    if (auto err = cannot_change_customer(st))
      return make_unexpected(std::move(err));
    auto other = p.str("merged_id", true);
    if (!p.valid())
      return make_unexpected(p.error());
    if (*other == st.id)
      return make_unexpected(
          invalid("merged_id", "cannot merge a customer into itself"));
    auto merged = load_aggregate(*ctx.events, aggregates::customer,
                                 st.company_id, *other);
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

namespace {

/// Decides `cmd` (create, or one of `others`) on `st`, an aggregate of
/// `type` whose entity is the member `entity`: `read(p, e, creating)` takes
/// the payload's fields into the entity, `changes(before, after, out)`
/// lists what changed into the `Event` it records; a create records one
/// even with nothing listed when `record_create` is set.
template <class Event, class Entity, class Read, class Changes>
expected<decision, caf::error>
decide_entity(const aggregate_state& st, const aggregate_command& cmd,
              const decide_context& ctx, const std::string& type,
              std::initializer_list<std::string_view> others,
              Entity aggregate_state::*entity, bool record_create, Read read,
              Changes changes) {
  payload_reader p{cmd.payload};
  decision d;
  d.after = st;
  auto& s = d.after.*entity;
  bool creating = cmd.name == "create";
  if (auto err = check_command(st, cmd, type, others))
    return make_unexpected(std::move(err));
  read(p, s, creating);
  if (!p.valid())
    return make_unexpected(p.error());
  s.id = st.id;
  s.company_id = st.company_id;
  Event e{s, {}};
  changes(st.*entity, s, e.changes);
  if (!e.changes.empty() || (creating && record_create))
    d.events.push_back(wrap(e, st, cmd, ctx.now));
  return d;
}

} // namespace

expected<decision, caf::error> decide_staff(const aggregate_state& st,
                                            const aggregate_command& cmd,
                                            const decide_context& ctx) {
  bool set_hours = cmd.name == "set_working_hours";
  auto read = [set_hours](payload_reader& p, staff& s, bool creating) {
    take(p.str("name", creating), s.name);
    take(p.str("branch_id"), s.branch_id);
    take(p.str("email"), s.email);
    take(p.str("phone"), s.phone);
    take(p.boolean("active"), s.active);
    take(p.strings("service_ids"), s.service_ids);
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
            p.problem(
                at + (w.error().field.empty() ? "" : "." + w.error().field),
                w.error().message);
            continue;
          }
          hours.push_back(*w);
        }
        s.working_hours = std::move(hours);
      }
    } else if (set_hours) {
      p.problem("working_hours", "is required");
    }
  };
  auto changes = [](const staff& b, const staff& s, auto& out) {
    track(out, "name", b.name, s.name);
    track(out, "branch_id", b.branch_id, s.branch_id);
    track(out, "email", b.email, s.email);
    track(out, "phone", b.phone, s.phone);
    track(out, "active", b.active, s.active);
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
      out["service_ids"] = {list_text(b.service_ids, as_string),
                            list_text(s.service_ids, as_string)};
    if (!(b.working_hours == s.working_hours))
      out["working_hours"] = {list_text(b.working_hours, as_json),
                              list_text(s.working_hours, as_json)};
  };
  return decide_entity<staff_updated>(
      st, cmd, ctx, aggregates::staff, {"update", "set_working_hours"},
      &aggregate_state::stf, true, read, changes);
}

expected<decision, caf::error> decide_service(const aggregate_state& st,
                                              const aggregate_command& cmd,
                                              const decide_context& ctx) {
  auto read = [](payload_reader& p, service& s, bool creating) {
    take(p.str("name", creating), s.name);
    take(p.integer("price_cents", creating, 0, INT64_MAX / 2), s.price_cents);
    if (auto v = p.integer("duration_minutes", creating, 5, 24 * 60))
      s.duration_minutes = static_cast<std::int32_t>(*v);
  };
  auto changes = [](const service& b, const service& s, auto& out) {
    track(out, "name", b.name, s.name);
    track(out, "price_cents", b.price_cents, s.price_cents);
    track(out, "duration_minutes", b.duration_minutes, s.duration_minutes);
  };
  return decide_entity<service_updated>(st, cmd, ctx, aggregates::service,
                                        {"update"}, &aggregate_state::svc,
                                        false, read, changes);
}

decide_fn decider_for(std::string_view aggregate_type) {
  if (aggregate_type == aggregates::customer)
    return decide_customer;
  if (aggregate_type == aggregates::staff)
    return decide_staff;
  if (aggregate_type == aggregates::service)
    return decide_service;
  return nullptr;
}

} // namespace switchboard
