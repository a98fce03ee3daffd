#pragma once

#include <messages/entities.hpp>
#include <messages/envelope.hpp>
#include <messages/events.hpp>
#include <messages/inspect.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>

#include <boost/json/value.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

/// Test data: generated samples with every field set, and realistic ones.

namespace switchboard::test {

/// An inspector that sets every field reachable through `inspect` to a
/// distinct non-default value (strings "s<n>", integers n, bools true, two
/// elements per list or map). Values grow in field order, so an end time
/// follows its start time.
class filler {
public:
  using result_type = void;

  explicit filler(int first) : n_(first) {}

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (fill(xs), ...);
  }

private:
  void fill(caf::meta::type_name_t) {}

  void fill(std::string& x) {
    x = "s" + std::to_string(++n_);
  }

  void fill(bool& x) {
    x = true;
  }

  template <class T>
  void fill(std::vector<T>& xs) {
    xs.resize(2);
    for (auto& x : xs)
      fill(x);
  }

  template <class T>
  void fill(std::map<std::string, T>& xs) {
    xs.clear();
    for (int i = 0; i < 2; ++i)
      fill(xs["k" + std::to_string(++n_)]);
  }

  template <class T>
  void fill(T& x) {
    if constexpr (std::is_enum_v<T>) {
      const auto count = enum_names(T{}).size();
      x = static_cast<T>(static_cast<std::size_t>(++n_) % count);
    } else if constexpr (std::is_integral_v<T>) {
      x = static_cast<T>(++n_);
    } else {
      inspect(*this, x);
    }
  }

  int n_;
};

/// Returns a `T` with every field set to a non-default value.
template <class T>
T make_sample(int first = 0) {
  T x{};
  filler f{first};
  inspect(f, x);
  if constexpr (std::is_same_v<T, envelope>)
    x.data = R"({"k":[1,2],"s":"x"})"; // Must be JSON text.
  return x;
}

constexpr timestamp_ms t_0930 = 1714555800000; // 2024-05-01T09:30:00Z

inline appointment sample_appointment() {
  appointment a;
  a.id = "appt-1";
  a.company_id = "c-42";
  a.branch_id = "b-1";
  a.service_id = "svc-cut";
  a.staff_id = "st-anna";
  a.customer_id = "cu-7";
  a.start_time = t_0930;
  a.end_time = t_0930 + 45 * 60'000;
  a.status = appointment_status::scheduled;
  a.price_cents = 4500;
  a.notes = "first visit";
  return a;
}

inline customer sample_customer() {
  return customer{
      "cu-7", "c-42", "Jana Novak", "+4930123456", "jana@example.org",
      true,   true,   false};
}

inline staff sample_staff() {
  staff s;
  s.id = "st-anna";
  s.company_id = "c-42";
  s.branch_id = "b-1";
  s.name = "Anna";
  s.service_ids = {"svc-cut", "svc-color"};
  s.working_hours = {{weekday::monday, 9 * 60, 17 * 60},
                     {weekday::tuesday, 9 * 60, 12 * 60},
                     {weekday::tuesday, 13 * 60, 18 * 60}};
  return s;
}

inline call sample_call() {
  call c;
  c.id = "call-9";
  c.company_id = "c-42";
  c.from_number = "+4915112345678";
  c.to_number = "+4930999000";
  c.state = call_state::analyzed;
  c.started_at = t_0930;
  c.ended_at = t_0930 + 185'000;
  c.duration_s = 185;
  c.transcript = "Hi, I'd like a haircut on Friday.";
  return c;
}

/// An event `type` of aggregate `agg_type`/`agg_id` with `data` (JSON
/// text); its other fields keep their defaults.
inline envelope sample_event(std::string type, std::string agg_type,
                             std::string agg_id, std::string data) {
  envelope e;
  e.type = std::move(type);
  e.aggregate_type = std::move(agg_type);
  e.aggregate_id = std::move(agg_id);
  e.data = std::move(data);
  return e;
}

/// Returns the error message of a failed `expected`, or "" (for test
/// messages, which Boost.Test evaluates even when the check passes).
template <class Expected>
std::string why(const Expected& x) {
  return x ? std::string{} : x.error().message;
}

/// Returns the JSON of `x` with `edit` applied to it (as an object).
template <class T, class F>
boost::json::value edited(const T& x, F edit) {
  auto json = to_json(x);
  edit(json.as_object());
  return json;
}

/// Returns `v` with the member at the JSON pointer `pointer` (an object's
/// key, or an array's index) set to `to`, or erased where `to` is empty
/// (objects only).
inline boost::json::value changed(boost::json::value v,
                                  std::string_view pointer,
                                  const std::optional<boost::json::value>& to) {
  const auto slash = pointer.rfind('/');
  auto& parent = slash == 0 ? v : v.at_pointer(pointer.substr(0, slash));
  const auto key = pointer.substr(slash + 1);
  if (parent.is_array())
    parent.as_array().at(std::stoul(std::string{key})) = to.value();
  else if (to)
    parent.as_object()[key] = *to;
  else
    parent.as_object().erase(key);
  return v;
}

} // namespace switchboard::test
