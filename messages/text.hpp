#pragma once

// Small text helpers shared by the parsers of list-valued settings.

#include <string_view>

namespace switchboard {

/// `s` without the characters in `chars` at either end.
inline std::string_view trim_any(std::string_view s, std::string_view chars) {
  auto first = s.find_first_not_of(chars);
  if (first == std::string_view::npos)
    return {};
  return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

/// `s` without the spaces and tabs at either end.
inline std::string_view trim_blanks(std::string_view s) {
  return trim_any(s, " \t");
}

/// Calls `f` with each item of the `sep`-separated `list`, without the
/// spaces at either end, in order; empty items are skipped.
template <class F>
void for_each_item(std::string_view list, char sep, F&& f) {
  while (!list.empty()) {
    auto end = list.find(sep);
    if (auto item = trim_any(list.substr(0, end), " "); !item.empty())
      f(item);
    list = end == std::string_view::npos ? std::string_view{}
                                         : list.substr(end + 1);
  }
}

} // namespace switchboard
