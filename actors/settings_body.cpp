#include "actors/settings_body.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>

namespace switchboard {

std::optional<boost::json::object>
settings_object(std::string_view text,
                std::initializer_list<std::string_view> known,
                field_problems& errs) {
  boost::json::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    errs["body"] = "wrong_type: expects a JSON object";
    return std::nullopt;
  }
  std::string expects;
  std::size_t i = 0;
  for (auto name : known) {
    if (i > 0)
      expects += i + 1 == known.size() ? " or " : ", ";
    expects += name;
    ++i;
  }
  auto& o = v.get_object();
  for (const auto& entry : o)
    if (std::find(known.begin(), known.end(), entry.key()) == known.end())
      errs[std::string{entry.key()}] = "unknown: expects " + expects;
  return std::move(o);
}

} // namespace switchboard
