#include "actors/aggregate_state.hpp"

#include <messages/aggregate_types.hpp>

#include <actors/event_visit.hpp>
#include <boost/json.hpp>

#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>

namespace switchboard {

std::string calcom_booking_ref(const std::string& company,
                               const std::string& uid) {
  return "appointment-calcom/" + company + "/" + uid;
}

void appointment_refs(const envelope& e, std::vector<std::string>& out) {
  if (e.aggregate_type != aggregates::appointment || e.company_id.empty())
    return;
  aggregate_state st;
  st.type = aggregates::appointment;
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
  if (e.aggregate_type != aggregates::appointment || e.company_id.empty())
    return;
  aggregate_state st;
  st.type = aggregates::appointment;
  apply_event(st, e);
  const auto& a = st.appt;
  const auto& c = e.company_id;
  auto key = appointment_sort_key(a.start_time, e.aggregate_id);
  auto s = std::string{to_string(a.status)};
  out.entries.emplace_back(appointment_list(c, "", "", s), key);
  if (!a.staff_id.empty())
    out.entries.emplace_back(appointment_list(c, a.staff_id, "", s), key);
  if (!a.customer_id.empty())
    out.entries.emplace_back(appointment_list(c, "", a.customer_id, s), key);
}

std::vector<std::string> appointment_lists_of(const std::string& company,
                                              const std::string& staff_id,
                                              const std::string& customer_id,
                                              const std::string& status) {
  std::vector<std::string> out;
  if (!status.empty()) {
    out.push_back(appointment_list(company, staff_id, customer_id, status));
    return out;
  }
  for (auto name : enum_names(appointment_status{}))
    out.push_back(
        appointment_list(company, staff_id, customer_id, std::string{name}));
  return out;
}

std::optional<customer_change> customer_change_of(const envelope& ev) {
  const auto& t = ev.type;
  if (t == event_traits<customer_created>::wire_name) {
    if (auto e = event_from<customer_created>(ev))
      return customer_change{std::move(e->customer), {}};
  } else if (t == event_traits<customer_updated>::wire_name) {
    if (auto e = event_from<customer_updated>(ev))
      return customer_change{std::move(e->customer), {}};
  } else if (t == event_traits<customer_merged>::wire_name) {
    if (auto e = event_from<customer_merged>(ev))
      return customer_change{std::move(e->primary), std::move(e->merged.id)};
  }
  return std::nullopt;
}

expected<std::map<std::string, customer>, caf::error>
current_customers(const store::event_store& events,
                  const std::string& company_id) {
  constexpr std::size_t batch_size = 4096;
  std::map<std::string, customer> out;
  std::uint64_t from = 1;
  for (;;) {
    auto batch = events.read_by_company(company_id, from, batch_size);
    if (!batch)
      return make_unexpected(to_caf_error(batch.error()));
    for (const auto& ev : *batch) {
      from = ev.sequence + 1;
      if (ev.aggregate_type != aggregates::customer)
        continue;
      if (auto change = customer_change_of(ev)) {
        if (!change->merged_away.empty())
          out.erase(change->merged_away);
        auto id = change->now.id;
        out[id] = std::move(change->now);
      }
    }
    if (batch->size() < batch_size)
      return out;
  }
}

void apply_event(aggregate_state& st, const envelope& ev) {
  st.version = ev.version;
  st.company_id = ev.company_id;
  st.id = ev.aggregate_id;
  if (auto c = customer_change_of(ev)) {
    if (c->merged_away == ev.aggregate_id && c->now.id != ev.aggregate_id)
      st.merged_into = c->now.id; // the tombstone of a merged customer
    else
      st.cust = std::move(c->now);
  } else {
    visit_event(ev, overloaded{
                        [&](const staff_updated& e) {
                          st.stf = e.staff;
                        },
                        [&](const service_updated& e) {
                          st.svc = e.service;
                        },
                        [&](const appointment_created& e) {
                          st.appt = e.appointment;
                        },
                        [&](const appointment_updated& e) {
                          st.appt = e.appointment;
                        },
                        [&](const appointment_cancelled& e) {
                          st.appt = e.appointment;
                          st.appt.status = appointment_status::cancelled;
                        },
                        [&](const appointment_completed& e) {
                          st.appt = e.appointment;
                          st.appt.status = appointment_status::completed;
                        },
                    });
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

namespace {

/// `f(entity)` for the entity `st` holds, by its type; `none` for a type
/// that holds none.
template <class R, class F>
R with_entity(const aggregate_state& st, R none, F f) {
  if (st.type == aggregates::customer)
    return f(st.cust);
  if (st.type == aggregates::staff)
    return f(st.stf);
  if (st.type == aggregates::service)
    return f(st.svc);
  if (st.type == aggregates::appointment)
    return f(st.appt);
  return none;
}

} // namespace

boost::json::object state_json(const aggregate_state& st) {
  auto out = with_entity(st, boost::json::object{}, [](const auto& e) {
    return std::move(to_json(e).as_object());
  });
  if (!st.merged_into.empty())
    out["merged_into"] = st.merged_into;
  out["version"] = st.version;
  return out;
}

std::string render_state(const aggregate_state& st) {
  // state_json's text, written without building its object.
  auto out = with_entity(st, std::string{"{}"}, [](const auto& e) {
    return to_json_text(e);
  });
  if (!st.merged_into.empty())
    append_string_member(out, "merged_into", st.merged_into);
  append_member(out, "version", std::to_string(st.version));
  return out;
}

} // namespace switchboard
