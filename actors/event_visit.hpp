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
/// takes an `E`. False when it does not, when the type is not registered,
/// or when the payload does not decode as it.
template <class F>
bool visit_event(const envelope& ev, F&& f) {
  bool called = false;
  for_each_event_type([&](auto tag) {
    using E = typename decltype(tag)::type;
    if constexpr (std::is_invocable_v<F&, const E&>) {
      if (!called && ev.type == event_traits<E>::wire_name) {
        if (auto e = event_from<E>(ev)) {
          f(static_cast<const E&>(*e));
          called = true;
        }
      }
    }
  });
  return called;
}

} // namespace switchboard
