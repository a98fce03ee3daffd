#pragma once

// Tables that name an enum's values and map one set of codes onto another,
// so that each name or mapping is written once, as data. Plain C++ (no CAF):
// messages/, telemetry/, store/ and actors/ all use it.

#include <array>
#include <cstddef>
#include <string_view>

namespace switchboard {

/// The names of the values of an enum numbered 0, 1, 2, ... without gaps:
/// `names[i]` names the value `i`. Built by `name_table`.
template <class E, std::size_t N>
struct enum_name_table {
  std::array<const char*, N> names;
  /// The name given to a value the table does not hold.
  const char* unknown;

  /// The name of `value`, or `unknown`.
  constexpr const char* operator()(E value) const noexcept {
    auto i = static_cast<std::size_t>(value);
    return i < N ? names[i] : unknown;
  }

  /// Sets `out` to the value named `text`; false (`out` unchanged) when no
  /// value has that name.
  constexpr bool parse(std::string_view text, E& out) const noexcept {
    for (std::size_t i = 0; i < N; ++i)
      if (text == names[i]) {
        out = static_cast<E>(i);
        return true;
      }
    return false;
  }

  /// True when the table names every value up to `last`, the enum's last
  /// value: pair each table with a static_assert on it.
  static constexpr bool covers(E last) noexcept {
    return static_cast<std::size_t>(last) + 1 == N;
  }
};

/// The table of `names`, given in the order of the enum's values, e.g.
/// `name_table<color>({"red", "green"}, "unknown")`.
template <class E, std::size_t N>
constexpr enum_name_table<E, N> name_table(const char* const (&names)[N],
                                           const char* unknown) noexcept {
  enum_name_table<E, N> out{{}, unknown};
  for (std::size_t i = 0; i < N; ++i)
    out.names[i] = names[i];
  return out;
}

/// One row of a code map: the code `from` becomes `to`.
template <class From, class To>
struct code_mapping {
  From from;
  To to;
};

/// What `rows` maps `code` to (the first row for it), or `otherwise` when
/// no row has it.
template <class From, class To, std::size_t N>
constexpr To map_code(From code, const code_mapping<From, To> (&rows)[N],
                      To otherwise) noexcept {
  for (const auto& row : rows)
    if (row.from == code)
      return row.to;
  return otherwise;
}

} // namespace switchboard
