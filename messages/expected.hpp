#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace switchboard {

/// Wraps an error so that `expected<T, E>` can be built from it even when
/// `T` and `E` are the same type.
template <class E>
struct unexpected {
  E error;
};

template <class E>
unexpected<std::decay_t<E>> make_unexpected(E&& e) {
  return {std::forward<E>(e)};
}

/// A value of type `T` or an error of type `E`. The project's errors are
/// values: functions in messages/ and store/ return this and never throw.
template <class T, class E>
class expected {
public:
  expected(T value) : data_(std::in_place_index<0>, std::move(value)) {}
  template <class U>
  expected(unexpected<U> err)
      : data_(std::in_place_index<1>, E(std::move(err.error))) {}

  explicit operator bool() const noexcept {
    return data_.index() == 0;
  }
  bool has_value() const noexcept {
    return data_.index() == 0;
  }
  T& value() & {
    assert(has_value());
    return std::get<0>(data_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(data_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(data_));
  }
  const E& error() const& {
    assert(!has_value());
    return std::get<1>(data_);
  }
  E& error() & {
    assert(!has_value());
    return std::get<1>(data_);
  }
  T& operator*() & {
    return value();
  }
  const T& operator*() const& {
    return value();
  }
  T* operator->() {
    return &value();
  }
  const T* operator->() const {
    return &value();
  }

private:
  std::variant<T, E> data_;
};

/// An operation that yields no value: success, or an error `E`.
template <class E>
class expected<void, E> {
public:
  expected() = default;
  template <class U>
  expected(unexpected<U> err) : err_(std::move(err.error)), ok_(false) {}
  explicit operator bool() const noexcept {
    return ok_;
  }
  bool has_value() const noexcept {
    return ok_;
  }
  const E& error() const {
    assert(!ok_);
    return err_;
  }

private:
  E err_{};
  bool ok_ = true;
};

} // namespace switchboard
