#include "actors/listener_registry.hpp"

#include "messages/enum_table.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace switchboard {

std::int64_t retry_delay_ms(const retry_policy& p, std::uint32_t attempts_done,
                            double random_unit) {
  if (attempts_done == 0)
    attempts_done = 1;
  if (p.exponential) {
    auto shift = std::min<std::uint32_t>(attempts_done - 1, 40);
    double wait_s
        = std::min<double>(static_cast<double>(p.base_s)
                               * std::ldexp(1.0, static_cast<int>(shift)),
                           static_cast<double>(p.cap_s));
    if (p.jitter)
      wait_s *= std::clamp(random_unit, 0.0, 1.0);
    return static_cast<std::int64_t>(wait_s * 1000.0);
  }
  if (!p.backoff_ms.empty()) {
    auto i = std::min<std::size_t>(attempts_done - 1, p.backoff_ms.size() - 1);
    return static_cast<std::int64_t>(p.backoff_ms[i]);
  }
  if (p.backoff_s.empty())
    return 0;
  auto i = std::min<std::size_t>(attempts_done - 1, p.backoff_s.size() - 1);
  return static_cast<std::int64_t>(p.backoff_s[i]) * 1000;
}

namespace {

const std::vector<sync_listener_spec> no_sync;
const std::vector<queued_listener_spec> no_queued;

constexpr auto registration_errc_names = name_table<registration_errc>(
    {"none", "unknown_event_type", "invalid_name", "duplicate_listener",
     "unknown_queue", "invalid_policy", "unknown_listener"},
    "unknown");
static_assert(
    registration_errc_names.covers(registration_errc::unknown_listener));

} // namespace

std::string_view to_string(registration_errc code) noexcept {
  return registration_errc_names(code);
}

std::string to_string(const registration_error& err) {
  std::string out = "listener " + err.listener;
  if (!err.event_type.empty())
    out += " for " + err.event_type;
  out += " refused (";
  out += to_string(err.code);
  out += "): " + err.reason;
  return out;
}

namespace {

/// What the job queue stores (store/job_queue.hpp): longer names and
/// backoff lists are refused here, at registration, and never half-way
/// through an append.
constexpr std::size_t max_name = 255;
constexpr std::size_t max_backoff_steps = 64;

unexpected<registration_error> refuse(registration_errc code,
                                      std::string_view listener,
                                      std::string_view event_type,
                                      std::string reason) {
  return make_unexpected(registration_error{
      code, std::string{listener}, std::string{event_type}, std::move(reason)});
}

registration_result check_event_type(std::string_view event_type,
                                     std::string_view listener) {
  if (find_event_type(event_type) == nullptr)
    return refuse(registration_errc::unknown_event_type, listener, event_type,
                  "no event type is named '" + std::string{event_type} + "'");
  return {};
}

registration_result check_name(std::string_view event_type,
                               std::string_view listener) {
  if (listener.empty())
    return refuse(registration_errc::invalid_name, listener, event_type,
                  "the listener has no name");
  if (listener.size() > max_name)
    return refuse(registration_errc::invalid_name, listener, event_type,
                  "the name is longer than " + std::to_string(max_name)
                      + " bytes");
  return {};
}

/// A queued listener's spec as the job queue would store it.
registration_result check_queued(std::string_view event_type,
                                 const queued_listener_spec& spec) {
  if (auto ok = check_name(event_type, spec.name); !ok)
    return ok;
  if (spec.queue.empty() || spec.queue.size() > max_name)
    return refuse(registration_errc::unknown_queue, spec.name, event_type,
                  "the queue name must have 1 to " + std::to_string(max_name)
                      + " bytes");
  if (spec.retry.backoff_s.size() > max_backoff_steps
      || spec.retry.backoff_ms.size() > max_backoff_steps)
    return refuse(registration_errc::invalid_policy, spec.name, event_type,
                  "more than " + std::to_string(max_backoff_steps)
                      + " backoff steps");
  return {};
}

} // namespace

registration_result listener_registry::listen_sync(std::string_view event_type,
                                                   sync_listener_spec spec) {
  if (auto ok = check_event_type(event_type, spec.name); !ok)
    return ok;
  if (auto ok = check_name(event_type, spec.name); !ok)
    return ok;
  auto& list = sync_[std::string{event_type}];
  for (const auto& other : list)
    if (other.name == spec.name)
      return refuse(registration_errc::duplicate_listener, spec.name,
                    event_type,
                    "a sync listener of that name already listens to it");
  list.push_back(std::move(spec));
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return a.order < b.order;
  });
  return {};
}

registration_result
listener_registry::check_queued_name(std::string_view event_type,
                                     const queued_listener_spec& spec) const {
  for (const auto& [type, list] : queued_)
    for (const auto& other : list) {
      if (other.name != spec.name)
        continue;
      if (type == event_type)
        return refuse(registration_errc::duplicate_listener, spec.name,
                      event_type,
                      "a queued listener of that name already listens to it");
      if (other.queue != spec.queue)
        return refuse(registration_errc::duplicate_listener, spec.name,
                      event_type,
                      "a queued listener of that name already uses queue '"
                          + other.queue + "', not '" + spec.queue + "'");
    }
  return {};
}

registration_result
listener_registry::check_queued_listener(std::string_view event_type,
                                         const queued_listener_spec& spec,
                                         std::string_view listener) const {
  if (auto ok = check_event_type(event_type, listener); !ok)
    return ok;
  if (auto ok = check_queued(event_type, spec); !ok)
    return ok;
  return check_queued_name(event_type, spec);
}

registration_result
listener_registry::listen_queued(std::string_view event_type,
                                 queued_listener_spec spec) {
  if (auto ok = check_queued_listener(event_type, spec, spec.name); !ok)
    return ok;
  queued_[std::string{event_type}].push_back(std::move(spec));
  return {};
}

registration_result listener_registry::subscribe(const subscriber_spec& sub) {
  if (sub.event_types.empty())
    return refuse(registration_errc::unknown_event_type, sub.name, {},
                  "the subscriber handles no event type");
  if (subscribers_.count(sub.name) > 0)
    return refuse(registration_errc::duplicate_listener, sub.name, {},
                  "a subscriber of that name is already registered");
  std::vector<queued_listener_spec> handlers;
  for (const auto& type : sub.event_types) {
    queued_listener_spec spec;
    spec.name = sub.name + "@" + type;
    spec.queue = sub.queue;
    spec.retry = sub.retry;
    if (auto ok = check_queued_listener(type, spec, sub.name); !ok)
      return ok;
    for (const auto& h : handlers)
      if (h.name == spec.name)
        return refuse(registration_errc::duplicate_listener, sub.name, type,
                      "the subscriber lists the event type twice");
    handlers.push_back(std::move(spec));
  }
  for (std::size_t i = 0; i < handlers.size(); ++i) {
    queued_[sub.event_types[i]].push_back(std::move(handlers[i]));
    subscribers_[sub.name].push_back(sub.event_types[i]);
  }
  return {};
}

bool listener_registry::override_queued(std::string_view name,
                                        const listener_override& o) {
  if (o.backoff_ms && o.backoff_ms->size() > 64)
    return false;
  bool found = false;
  std::string handler_prefix = std::string{name} + "@";
  for (auto& [type, list] : queued_) {
    for (auto& spec : list) {
      if (spec.name != name && spec.name.rfind(handler_prefix, 0) != 0)
        continue;
      found = true;
      if (o.tries)
        spec.retry.tries = *o.tries;
      if (o.backoff_ms) {
        spec.retry.backoff_ms = *o.backoff_ms;
        spec.retry.exponential = false;
      }
      if (o.delay_ms)
        spec.delay_ms = *o.delay_ms;
      if (o.timeout_ms)
        spec.retry.timeout = std::chrono::milliseconds(*o.timeout_ms);
      if (o.poll_ms)
        spec.poll_ms = *o.poll_ms;
    }
  }
  return found;
}

const std::vector<sync_listener_spec>&
listener_registry::sync_for(std::string_view event_type) const {
  auto i = sync_.find(event_type);
  return i == sync_.end() ? no_sync : i->second;
}

const std::vector<queued_listener_spec>&
listener_registry::queued_for(std::string_view event_type) const {
  auto i = queued_.find(event_type);
  return i == queued_.end() ? no_queued : i->second;
}

const queued_listener_spec*
listener_registry::find_queued(std::string_view name) const {
  for (const auto& [type, list] : queued_)
    for (const auto& spec : list)
      if (spec.name == name)
        return &spec;
  return nullptr;
}

bool listener_registry::is_listening(std::string_view event_type,
                                     std::string_view listener) const {
  for (const auto& s : sync_for(event_type))
    if (s.name == listener)
      return true;
  for (const auto& q : queued_for(event_type))
    if (q.name == listener)
      return true;
  if (auto i = subscribers_.find(listener); i != subscribers_.end())
    return std::find(i->second.begin(), i->second.end(), event_type)
           != i->second.end();
  return false;
}

namespace {

/// The distinct values of `field` over the specs of every event type in
/// `by_type`, sorted.
template <class Map, class Field>
std::vector<std::string> distinct(const Map& by_type, Field field) {
  std::set<std::string> values;
  for (const auto& [type, list] : by_type)
    for (const auto& spec : list)
      values.insert(spec.*field);
  return {values.begin(), values.end()};
}

} // namespace

std::vector<std::string> listener_registry::queues() const {
  return distinct(queued_, &queued_listener_spec::queue);
}

std::vector<std::string> listener_registry::queued_listener_names() const {
  return distinct(queued_, &queued_listener_spec::name);
}

std::vector<std::string> listener_registry::sync_listener_names() const {
  return distinct(sync_, &sync_listener_spec::name);
}

} // namespace switchboard
