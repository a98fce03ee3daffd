#include "actors/listener_registry.hpp"

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

} // namespace

bool listener_registry::listen_sync(std::string_view event_type,
                                    sync_listener_spec spec) {
  if (find_event_type(event_type) == nullptr)
    return false;
  auto& list = sync_[std::string{event_type}];
  list.push_back(std::move(spec));
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return a.order < b.order;
  });
  return true;
}

namespace {

/// What the job queue accepts (store/job_queue.hpp): a spec it would refuse
/// is refused here, at registration, and never half-way through an append.
bool storable(const queued_listener_spec& spec) {
  return !spec.name.empty() && spec.name.size() <= 255 && !spec.queue.empty()
         && spec.queue.size() <= 255 && spec.retry.backoff_s.size() <= 64
         && spec.retry.backoff_ms.size() <= 64;
}

} // namespace

bool listener_registry::listen_queued(std::string_view event_type,
                                      queued_listener_spec spec) {
  if (find_event_type(event_type) == nullptr || !storable(spec))
    return false;
  queued_[std::string{event_type}].push_back(std::move(spec));
  return true;
}

bool listener_registry::subscribe(const subscriber_spec& sub) {
  for (const auto& type : sub.event_types) {
    queued_listener_spec probe;
    probe.name = sub.name + "@" + type;
    probe.queue = sub.queue;
    probe.retry = sub.retry;
    if (find_event_type(type) == nullptr || !storable(probe))
      return false;
  }
  for (const auto& type : sub.event_types) {
    queued_listener_spec spec;
    spec.name = sub.name + "@" + type;
    spec.queue = sub.queue;
    spec.retry = sub.retry;
    queued_[type].push_back(std::move(spec));
    subscribers_[sub.name].push_back(type);
  }
  return true;
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

std::vector<std::string> listener_registry::queues() const {
  std::set<std::string> names;
  for (const auto& [type, list] : queued_)
    for (const auto& spec : list)
      names.insert(spec.queue);
  return {names.begin(), names.end()};
}

std::vector<std::string> listener_registry::queued_listener_names() const {
  std::set<std::string> names;
  for (const auto& [type, list] : queued_)
    for (const auto& spec : list)
      names.insert(spec.name);
  return {names.begin(), names.end()};
}

} // namespace switchboard
