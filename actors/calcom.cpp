#include "actors/calcom.hpp"
#include "actors/settings_body.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>

namespace switchboard {

namespace {

namespace json = boost::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return s;
}

bool valid_id(const std::string& s) {
  if (s.empty() || s.size() > 128)
    return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '.' || c == '-';
  });
}

json::object to_object(const calcom_settings& s, bool hide) {
  json::object types;
  for (const auto& [k, v] : s.event_types)
    types[k] = v;
  json::object hosts;
  for (const auto& [k, v] : s.hosts)
    hosts[k] = v;
  return {{"secret", hide && !s.secret.empty() ? std::string{"***"} : s.secret},
          {"event_types", std::move(types)},
          {"hosts", std::move(hosts)}};
}

} // namespace

std::string
calcom_settings::event_type_of(const std::string& service_id) const {
  for (const auto& [id, svc] : event_types)
    if (svc == service_id)
      return id;
  return {};
}

std::string calcom_settings::staff_of(const std::string& email) const {
  auto i = hosts.find(lower(email));
  return i != hosts.end() ? i->second : std::string{};
}

std::string calcom_settings::service_of(const std::string& id) const {
  auto i = event_types.find(id);
  return i != event_types.end() ? i->second : std::string{};
}

expected<calcom_settings, calcom_problems>
parse_calcom_settings(const std::string& text, const calcom_settings& keep) {
  calcom_problems errs;
  auto body = settings_object(text, {"secret", "event_types", "hosts"}, errs);
  if (!body)
    return make_unexpected(errs);
  const auto& o = *body;
  calcom_settings out;
  out.secret = keep.secret;
  if (const auto* s = o.if_contains("secret"); s && !s->is_null()) {
    if (!s->is_string())
      errs["secret"] = "wrong_type: expects a string";
    else if (s->get_string().size() > 256)
      errs["secret"] = "too_long: at most 256 bytes";
    else
      out.secret = std::string{s->get_string()};
  }
  auto read_map = [&](const char* field, bool keys_are_ids,
                      std::map<std::string, std::string>& to) {
    const auto* m = o.if_contains(field);
    if (m == nullptr || m->is_null())
      return;
    if (!m->is_object()) {
      errs[field] = "wrong_type: expects an object";
      return;
    }
    if (m->get_object().size() > 1000) {
      errs[field] = "too_many: at most 1000 entries";
      return;
    }
    for (const auto& [k, val] : m->get_object()) {
      auto key = std::string{k};
      auto where = std::string{field} + "." + key;
      if (keys_are_ids) {
        if (key.empty() || key.size() > 18
            || key.find_first_not_of("0123456789") != std::string::npos) {
          errs[where] = "invalid: a Cal.com event type id is a number";
          continue;
        }
      } else if (key.find('@') == std::string::npos || key.size() > 254) {
        errs[where] = "invalid: expects an email address";
        continue;
      }
      if (!val.is_string() || !valid_id(std::string{val.get_string()})) {
        errs[where] = "invalid: expects an id of 1 to 128 bytes of "
                      "[A-Za-z0-9_.-]";
        continue;
      }
      to[keys_are_ids ? key : lower(key)] = std::string{val.get_string()};
    }
  };
  read_map("event_types", true, out.event_types);
  read_map("hosts", false, out.hosts);
  if (!errs.empty())
    return make_unexpected(errs);
  return out;
}

std::string to_stored_json(const calcom_settings& s) {
  return json::serialize(to_object(s, false));
}

std::string to_public_json(const calcom_settings& s) {
  return json::serialize(to_object(s, true));
}

} // namespace switchboard
