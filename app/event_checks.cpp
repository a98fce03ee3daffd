#include "app/event_checks.hpp"

#include <messages/aggregate_types.hpp>

#include <algorithm>
#include <vector>

#include <boost/json/array.hpp>

#include <messages/id_check.hpp>
#include <messages/registry.hpp>

namespace switchboard::app {

namespace json = boost::json;

namespace {

/// The member at dotted `path` of `o` ("a.b"), or nullptr.
const json::value* member_at(const json::object& o, std::string_view path) {
  const json::object* cur = &o;
  for (;;) {
    auto dot = path.find('.');
    const auto* v = cur->if_contains(path.substr(0, dot));
    if (v == nullptr || dot == std::string_view::npos)
      return v;
    cur = v->if_object();
    if (cur == nullptr)
      return nullptr;
    path.remove_prefix(dot + 1);
  }
}

/// An id an event's payload names: where (dotted path under data), and
/// the aggregate type it names.
struct reference {
  std::string_view path;
  std::string_view type;
};

/// The ids of other aggregates each event type names.
const std::vector<reference>& references_of(std::string_view type) {
  static const std::vector<reference> none;
  static const std::vector<reference> appt{
      {"appointment.customer_id", aggregates::customer},
      {"appointment.staff_id", aggregates::staff},
      {"appointment.service_id", aggregates::service}};
  static const std::map<std::string_view, std::vector<reference>> table{
      {event_traits<appointment_created>::wire_name, appt},
      {event_traits<appointment_updated>::wire_name, appt},
      {event_traits<appointment_cancelled>::wire_name, appt},
      {event_traits<appointment_completed>::wire_name, appt},
      {event_traits<customer_merged>::wire_name,
       {{"merged.id", aggregates::customer}}},
      {event_traits<staff_updated>::wire_name,
       {{"staff.service_ids", aggregates::service}}},
      {event_traits<appointment_requested>::wire_name,
       {{"customer_id", aggregates::customer},
        {"request.service_id", aggregates::service},
        {"request.staff_id", aggregates::staff}}},
      {event_traits<appointment_failed>::wire_name,
       {{"request.service_id", aggregates::service},
        {"request.staff_id", aggregates::staff}}},
      {event_traits<follow_up_scheduled>::wire_name,
       {{"customer_id", aggregates::customer}}},
      {event_traits<notification_sent>::wire_name,
       {{"appointment_id", aggregates::appointment},
        {"customer_id", aggregates::customer},
        {"call_id", aggregates::call}}},
  };
  auto i = table.find(type);
  return i == table.end() ? none : i->second;
}

/// Where an event's payload holds the id of its own aggregate.
std::string_view own_id_path(std::string_view type) {
  static const std::map<std::string_view, std::string_view> table{
      {event_traits<appointment_created>::wire_name, "appointment.id"},
      {event_traits<appointment_updated>::wire_name, "appointment.id"},
      {event_traits<appointment_cancelled>::wire_name, "appointment.id"},
      {event_traits<appointment_completed>::wire_name, "appointment.id"},
      {event_traits<customer_created>::wire_name, "customer.id"},
      {event_traits<customer_updated>::wire_name, "customer.id"},
      {event_traits<customer_merged>::wire_name, "primary.id"},
      {event_traits<staff_updated>::wire_name, "staff.id"},
      {event_traits<service_updated>::wire_name, "service.id"},
      {event_traits<call_completed>::wire_name, "call.id"},
  };
  if (auto i = table.find(type); i != table.end())
    return i->second;
  const auto* info = find_event_type(type);
  if (info != nullptr && info->aggregate_type == aggregates::call)
    return "call_id";
  return {};
}

} // namespace

std::size_t json_nesting(const json::value& v) {
  std::size_t deepest = 0;
  if (const auto* o = v.if_object())
    for (const auto& kv : *o)
      deepest = std::max(deepest, json_nesting(kv.value()));
  else if (const auto* a = v.if_array())
    for (const auto& x : *a)
      deepest = std::max(deepest, json_nesting(x));
  else
    return 0;
  return deepest + 1;
}

std::string company_named_by(const json::object& data) {
  if (const auto* c = data.if_contains("company_id"); c && c->is_string())
    return std::string{c->get_string()};
  for (const auto& kv : data)
    if (const auto* m = kv.value().if_object())
      if (const auto* c = m->if_contains("company_id"); c && c->is_string())
        return std::string{c->get_string()};
  return {};
}

void check_references(const envelope& env, const json::object& data,
                      const owner_lookup& owner_of, event_problems& errs) {
  auto field = [](std::string_view path) {
    return "data." + std::string{path};
  };
  if (auto path = own_id_path(env.type); !path.empty()) {
    const auto* v = member_at(data, path);
    if (v != nullptr && v->is_string() && v->get_string() != env.aggregate_id)
      errs[field(path)] = "invalid: must equal aggregate_id";
  }
  if (const auto* c = data.if_contains("company_id");
      c != nullptr && c->is_string() && c->get_string() != env.company_id)
    errs["data.company_id"] = "invalid: not the event's company";
  for (const auto& [key, member] : data) {
    const auto* m = member.if_object();
    const auto* c = m != nullptr ? m->if_contains("company_id") : nullptr;
    if (c != nullptr && c->is_string() && c->get_string() != env.company_id)
      errs["data." + std::string{key} + ".company_id"]
          = "invalid: not the event's company";
  }
  for (const auto& ref : references_of(env.type)) {
    const auto* v = member_at(data, ref.path);
    if (v == nullptr || v->is_null())
      continue;
    std::vector<std::string> ids;
    if (v->is_string())
      ids.emplace_back(v->get_string());
    else if (const auto* arr = v->if_array())
      for (const auto& x : *arr)
        if (x.is_string())
          ids.emplace_back(x.get_string());
    for (const auto& id : ids) {
      if (id.empty())
        continue;
      if (auto bad = id_problem(id)) {
        errs[field(ref.path)] = *bad;
        break;
      }
      auto owner = owner_of(ref.type, id);
      if (!owner || *owner != env.company_id) {
        errs[field(ref.path)] = "unknown_value: no " + std::string{ref.type}
                                + " " + id + " in company " + env.company_id;
        break;
      }
    }
  }
}

} // namespace switchboard::app
