#pragma once

// Typed folds over stored events: `visit_event` decodes an envelope as the
// registered event type its `type` names and hands the struct to the one
// handler that takes it, so that a fold names event types as types, not
// as strings.

#include <type_traits>

#include <messages/envelope.hpp>
#include <messages/json.hpp>
#include <messages/registry.hpp>

namespace switchboard {

/// Handlers of several types as one callable (`visit_event(ev,
/// overloaded{[](const staff_updated&) {...}, ...})`).
template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

/// Calls `f(e)` with `ev` decoded as its registered type `E`, when `f`
/// takes an `E`. The decode error when the payload does not decode as it;
/// else whether `f` was called (false when it takes no `E`, or when the
/// type is not registered).
template <class F>
expected<bool, decode_error> visit_event_checked(const envelope& ev, F&& f) {
  expected<bool, decode_error> called = false;
  for_each_event_type([&](auto tag) {
    using E = typename decltype(tag)::type;
    if constexpr (std::is_invocable_v<F&, const E&>) {
      if (called && !*called && ev.type == event_traits<E>::wire_name) {
        if (auto e = event_from<E>(ev)) {
          f(static_cast<const E&>(*e));
          called = true;
        } else {
          called = make_unexpected(std::move(e.error()));
        }
      }
    }
  });
  return called;
}

/// As `visit_event_checked`; false as well when the payload does not
/// decode.
template <class F>
bool visit_event(const envelope& ev, F&& f) {
  auto called = visit_event_checked(ev, std::forward<F>(f));
  return called && *called;
}

} // namespace switchboard
