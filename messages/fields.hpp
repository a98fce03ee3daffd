#pragma once

// One field list per message struct. Each struct's header ends with its
// list, written once:
//
//     SB_FIELDS(service, SB_FIELD(id), SB_FIELD(name),
//               SB_FIELD(price_cents, opt), SB_TIME(created_at), ...)
//
// `SB_FIELD(m)` is the member `m` under the JSON name "m"; a member whose
// JSON name differs, or that goes through a wrapper, is written out:
// `field("old", x.old_value, opt)`, `field("data", json_text_ref{x.data})`.
// The macro defines `template <class V> auto fields(V& v, service& x)`,
// which answers `v.list("service", field(...)...)`; where decoding checks
// invariants, the header also has the struct's `checks`. From that list
// come the JSON codec (messages/json.cpp: the field's JSON name, whether it
// may be absent, timestamps as RFC 3339), CAF's `inspect`
// (messages/inspect.hpp: the wire between cluster members, in list order)
// and `==` (below). A new field is one more entry: the three cannot
// disagree.

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace switchboard {

/// How a field behaves in JSON when absent. Required fields must be
/// present (and not null); optional ones default when missing or null;
/// omit_empty ones are optional and also left out of the output when
/// empty.
enum class presence { required, optional, omit_empty };

namespace field_options {

constexpr auto req = presence::required;
constexpr auto opt = presence::optional;
constexpr auto omit = presence::omit_empty;

} // namespace field_options

/// A timestamp field (milliseconds since the epoch), RFC 3339 in JSON
/// (null when optional and 0).
struct time_ref {
  std::int64_t& value;
};

/// A list of timestamps.
struct time_list_ref {
  std::vector<std::int64_t>& values;
};

/// A string that holds JSON text, embedded in JSON as a JSON value.
struct json_text_ref {
  std::string& text;
};

inline time_ref as_time(std::int64_t& x) {
  return {x};
}

inline time_list_ref as_times(std::vector<std::int64_t>& x) {
  return {x};
}

/// One entry of a field list: its JSON name, what it refers to (`T&` for a
/// member, or one of the `_ref` wrappers above) and its presence.
template <class R>
struct field_desc {
  const char* name;
  R ref;
  presence p;
};

template <class T>
field_desc<T&> field(const char* name, T& x, presence p = presence::required) {
  return {name, x, p};
}

inline field_desc<time_ref> field(const char* name, time_ref x,
                                  presence p = presence::required) {
  return {name, x, p};
}

inline field_desc<time_list_ref> field(const char* name, time_list_ref x,
                                       presence p = presence::required) {
  return {name, x, p};
}

inline field_desc<json_text_ref> field(const char* name, json_text_ref x,
                                       presence p = presence::required) {
  return {name, x, p};
}

/// The field list of struct `T` (see the top of this file): the entries
/// are `field(...)` calls or the shorthands below, which name the struct's
/// `x`.
#define SB_FIELDS(T, ...)                                                      \
  template <class V>                                                           \
  auto fields(V& v, T& x) {                                                    \
    using namespace ::switchboard::field_options;                              \
    return v.list(#T, __VA_ARGS__);                                            \
  }

/// `SB_FIELD(m)` or `SB_FIELD(m, presence)`: member `m` as JSON field "m".
#define SB_FIELD(...)                                                          \
  SB_FIELD_PICK(__VA_ARGS__, SB_FIELD_2, SB_FIELD_1, unused)(__VA_ARGS__)

/// `SB_TIME(m)` or `SB_TIME(m, presence)`: timestamp member `m`, RFC 3339
/// in JSON field "m".
#define SB_TIME(...)                                                           \
  SB_FIELD_PICK(__VA_ARGS__, SB_TIME_2, SB_TIME_1, unused)(__VA_ARGS__)

#define SB_FIELD_PICK(a, b, name, ...) name
#define SB_FIELD_1(m) ::switchboard::field(#m, x.m)
#define SB_FIELD_2(m, p) ::switchboard::field(#m, x.m, p)
#define SB_TIME_1(m) ::switchboard::field(#m, ::switchboard::as_time(x.m))
#define SB_TIME_2(m, p) ::switchboard::field(#m, ::switchboard::as_time(x.m), p)

/// The member a field refers to.
template <class T>
T& member_of(T& x) {
  return x;
}

inline std::int64_t& member_of(time_ref x) {
  return x.value;
}

inline std::vector<std::int64_t>& member_of(time_list_ref x) {
  return x.values;
}

inline std::string& member_of(json_text_ref x) {
  return x.text;
}

/// `checks` of a struct whose decoding checks nothing.
template <class V, class T>
void checks(V&, const T&) {
  // Nothing to check.
}

namespace detail {

/// The field list's visitor that answers pointers to the members.
struct member_pointers {
  template <class... Rs>
  auto list(const char*, field_desc<Rs>... ds) {
    return std::make_tuple(&member_of(ds.ref)...);
  }
};

template <class T, class = void>
struct has_fields : std::false_type {};

template <class T>
struct has_fields<T,
                  std::void_t<decltype(fields(std::declval<member_pointers&>(),
                                              std::declval<T&>()))>>
    : std::true_type {};

template <class A, class B, std::size_t... Is>
bool all_equal(const A& a, const B& b, std::index_sequence<Is...>) {
  return ((*std::get<Is>(a) == *std::get<Is>(b)) && ...);
}

} // namespace detail

/// True for the structs with a field list.
template <class T>
inline constexpr bool has_fields_v = detail::has_fields<T>::value;

/// Equal when every field of the list is.
template <class T, class = std::enable_if_t<has_fields_v<T>>>
bool operator==(const T& a, const T& b) {
  detail::member_pointers v;
  // The list takes a mutable reference (one list reads and writes); only
  // reads happen here.
  auto pa = fields(v, const_cast<T&>(a));
  auto pb = fields(v, const_cast<T&>(b));
  return detail::all_equal(
      pa, pb, std::make_index_sequence<std::tuple_size_v<decltype(pa)>>{});
}

template <class T, class = std::enable_if_t<has_fields_v<T>>>
bool operator!=(const T& a, const T& b) {
  return !(a == b);
}

} // namespace switchboard
