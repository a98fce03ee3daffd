#include "actors/retell.hpp"
#include "actors/settings_body.hpp"

#include <boost/json.hpp>

namespace switchboard {

namespace json = boost::json;

retell_settings retell_settings::defaults() {
  retell_settings s;
  for (const char* f : retell_request_fields)
    s.fields[f] = f;
  return s;
}

expected<retell_settings, field_problems>
parse_retell_settings(const std::string& text) {
  field_problems errs;
  auto body = settings_object(text, {"fields"}, errs);
  if (!body)
    return make_unexpected(errs);
  auto out = retell_settings::defaults();
  if (const auto* f = body->if_contains("fields"); f && !f->is_null()) {
    if (!f->is_object()) {
      errs["fields"] = "wrong_type: expects an object";
    } else {
      for (const auto& [k, key] : f->get_object()) {
        auto name = std::string{k};
        auto where = "fields." + name;
        if (out.fields.count(name) == 0) {
          errs[where] = "unknown: expects service_id, staff_id, branch_id, "
                        "preferred_start, customer_name or notes";
          continue;
        }
        if (!key.is_string() || key.get_string().empty()
            || key.get_string().size() > 128) {
          errs[where] = "invalid: expects a key of 1 to 128 bytes";
          continue;
        }
        out.fields[name] = std::string{key.get_string()};
      }
    }
  }
  if (!errs.empty())
    return make_unexpected(errs);
  return out;
}

std::string retell_json(const retell_settings& s) {
  json::object fields;
  for (const auto& [k, v] : s.fields)
    fields[k] = v;
  return json::serialize(json::object{{"fields", std::move(fields)}});
}

} // namespace switchboard
