#include "app/analytics.hpp"

#include <store/projections.hpp>

namespace switchboard::app {

namespace json = boost::json;

store::result<json::object> analytics_report(const store::projections& proj,
                                             const std::string& company) {
  json::object out;
  for (const char* what : {"appointments", "calls", "customers"}) {
    // The key layout of projection_keys::analytics.
    auto prefix
        = std::string{"analytics/"} + what + "/company=" + company + "/";
    auto counters = proj.counters(prefix);
    if (!counters)
      return make_unexpected(counters.error());
    json::object section{{"count", 0}};
    for (const auto& [key, value] : *counters) {
      auto name = key.substr(prefix.size());
      auto eq = name.find('=');
      if (eq == std::string::npos) {
        section[name] = value;
        continue;
      }
      auto group = "by_" + name.substr(0, eq);
      auto* slot = section.if_contains(group);
      if (slot == nullptr)
        slot = &(section[group] = json::object{});
      slot->as_object()[name.substr(eq + 1)] = value;
    }
    auto count = section.at("count").to_number<std::int64_t>();
    if (auto* lead = section.if_contains("lead_time_hours_sum"))
      section["lead_time_hours_avg"]
          = count > 0 ? static_cast<double>(lead->to_number<std::int64_t>())
                            / static_cast<double>(count)
                      : 0.0;
    if (auto* value = section.if_contains("value_cents"))
      section["value_cents_avg"]
          = count > 0 ? value->to_number<std::int64_t>() / count : 0;
    out[what] = std::move(section);
  }
  return out;
}

} // namespace switchboard::app
