#include <messages/registry.hpp>

#include <messages/json.hpp>
#include <messages/php_class.hpp>

#include <algorithm>

namespace switchboard {

namespace {

template <class E>
expected<void, decode_error> validate_as(std::string_view data) {
  auto json = parse_json(data);
  if (!json)
    return make_unexpected(json.error());
  auto event = from_json<E>(*json);
  if (!event)
    return make_unexpected(event.error());
  return {};
}

std::vector<event_type_info> make_table() {
  std::vector<event_type_info> result;
  result.reserve(event_type_count);
  for_each_event_type([&](auto tag) {
    using E = typename decltype(tag)::type;
    using traits = event_traits<E>;
    result.push_back({traits::wire_name, traits::cpp_name,
                      traits::aggregate_type, traits::audited,
                      traits::broadcast_as, traits::channel_prefix,
                      traits::index, &validate_as<E>});
  });
  return result;
}

} // namespace

const std::vector<event_type_info>& all_event_types() noexcept {
  static const std::vector<event_type_info> table = make_table();
  return table;
}

const event_type_info* find_event_type(std::string_view wire_name) noexcept {
  const auto& table = all_event_types();
  auto i = std::find_if(table.begin(), table.end(), [&](const auto& info) {
    return info.wire_name == wire_name;
  });
  return i != table.end() ? &*i : nullptr;
}

std::string php_class_snake_name(std::string_view php_class) {
  auto slash = php_class.find_last_of('\\');
  if (slash != std::string_view::npos)
    php_class.remove_prefix(slash + 1);
  std::string snake;
  for (char c : php_class) {
    if (c >= 'A' && c <= 'Z') {
      if (!snake.empty())
        snake += '_';
      snake += static_cast<char>(c - 'A' + 'a');
    } else {
      snake += c;
    }
  }
  return snake;
}

const event_type_info* find_event_type_by_class(std::string_view php_class) {
  auto snake = php_class_snake_name(php_class);
  if (snake.empty())
    return nullptr;
  const auto& table = all_event_types();
  auto i = std::find_if(table.begin(), table.end(), [&](const auto& info) {
    return info.cpp_name == snake;
  });
  return i != table.end() ? &*i : nullptr;
}

std::string broadcast_channel(const event_type_info& info,
                              std::string_view company_id) {
  if (info.broadcast_as.empty() || info.channel_prefix.empty())
    return {};
  std::string result = "private-";
  result += info.channel_prefix;
  result += '.';
  result += company_id;
  return result;
}

} // namespace switchboard
