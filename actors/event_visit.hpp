#pragma once

// Typed folds over stored events: `visit_event` decodes an envelope as the
// registered event type its `type` names and hands the struct to the one
// handler that takes it, so that a fold names event types as types, not
// as strings.

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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

/// Events of type `E` decoded lately, by their payload: the listeners of
/// one event (its lists and references at append, then each queued job)
/// decode the same text within moments of each other, and decoding is
/// most of what a light listener costs. A slot holds the payload it was
/// decoded from and answers only for equal text, so an entry is never
/// wrong, only gone when another payload takes its slot. Thread-safe.
template <class E>
class decoded_events {
public:
  /// Slots per event type; payloads longer than `max_text` are not kept.
  /// The catch-up readers decode an event a poll (100 ms) to a batch
  /// (4,096 events) after its append did: 512 slots missed most of them
  /// at 6,000 bookings/s, where 8,192 hold about a second and a half.
  static constexpr std::size_t slots = 8192;
  static constexpr std::size_t max_text = 16 * 1024;

  static decoded_events& instance() {
    static decoded_events cache;
    return cache;
  }

  /// `event_from<E>(ev)`, shared with the other decoders of equal text.
  expected<std::shared_ptr<const E>, decode_error> get(const envelope& ev) {
    if (ev.type != event_traits<E>::wire_name || ev.data.size() > max_text)
      return decode(ev);
    auto hash = std::hash<std::string_view>{}(ev.data);
    auto& s = slots_[hash % slots];
    {
      std::lock_guard<std::mutex> guard{s.mtx};
      if (s.value && s.hash == hash && s.text == ev.data)
        return s.value;
    }
    auto decoded = decode(ev);
    if (decoded)
      keep(s, hash, ev.data, *decoded);
    return decoded;
  }

  /// Keeps `value` as the decoding of `ev`, whose text was encoded from
  /// it: every event type decodes to what it was encoded from
  /// (tests/messages/json_test.cpp), so the listeners that decode `ev`
  /// next find it here without parsing.
  void put(const envelope& ev, std::shared_ptr<const E> value) {
    if (ev.type != event_traits<E>::wire_name || ev.data.size() > max_text)
      return;
    auto hash = std::hash<std::string_view>{}(ev.data);
    keep(slots_[hash % slots], hash, ev.data, std::move(value));
  }

private:
  struct slot {
    std::mutex mtx;
    std::size_t hash = 0;
    std::string text;
    std::shared_ptr<const E> value;
  };

  static void keep(slot& s, std::size_t hash, const std::string& text,
                   std::shared_ptr<const E> value) {
    std::lock_guard<std::mutex> guard{s.mtx};
    s.hash = hash;
    s.text = text;
    s.value = std::move(value);
  }

  static expected<std::shared_ptr<const E>, decode_error>
  decode(const envelope& ev) {
    auto e = event_from<E>(ev);
    if (!e)
      return make_unexpected(std::move(e.error()));
    return std::make_shared<const E>(std::move(*e));
  }

  std::array<slot, slots> slots_;
};

/// `make_envelope(event, args...)`, with `event` kept as its decoding, so
/// that the appends' indexes and the listeners do not parse the text the
/// decider has just written.
template <class E, class... Args>
envelope make_known_envelope(const E& event, Args&&... args) {
  auto env = make_envelope(event, std::forward<Args>(args)...);
  decoded_events<E>::instance().put(env, std::make_shared<const E>(event));
  return env;
}

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
        if (auto e = decoded_events<E>::instance().get(ev)) {
          f(static_cast<const E&>(**e));
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
