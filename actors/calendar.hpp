#pragma once

// The staff calendar: the actor that decides every appointment command of
// one staff member, which is what makes double booking impossible.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <actors/aggregates.hpp>
#include <actors/idle_watch.hpp>
#include <actors/interfaces.hpp>

namespace switchboard {

/// The [start, end) intervals of a calendar's appointments, by id and by
/// start. A calendar's booked intervals, in buckets by the day they start on
/// (a sorted vector each): a check reads the few days an overlapping
/// interval can start on, instead of descending a tree of every booking.
class interval_book {
public:
  using interval = std::pair<timestamp_ms, timestamp_ms>;

  void set(const std::string& id, interval iv) {
    erase(id);
    by_id_.emplace(id, iv);
    auto& day = days_[day_of(iv.first)];
    auto at = std::upper_bound(day.begin(), day.end(), iv.first,
                               [](timestamp_ms t, const booked& b) {
                                 return t < b.start;
                               });
    day.insert(at, booked{iv.first, iv.second, id});
    longest_ = std::max(longest_, iv.second - iv.first);
  }

  void erase(const std::string& id) {
    auto i = by_id_.find(id);
    if (i == by_id_.end())
      return;
    auto d = days_.find(day_of(i->second.first));
    if (d != days_.end()) {
      auto& day = d->second;
      auto j = std::find_if(day.begin(), day.end(), [&id](const booked& b) {
        return b.id == id;
      });
      if (j != day.end())
        day.erase(j);
      if (day.empty())
        days_.erase(d);
    }
    by_id_.erase(i);
  }

  std::optional<interval> find(const std::string& id) const {
    auto i = by_id_.find(id);
    if (i == by_id_.end())
      return std::nullopt;
    return i->second;
  }

  /// True when [start, end) meets an interval other than `except`'s.
  bool overlaps(timestamp_ms start, timestamp_ms end,
                const std::string& except) const {
    if (end <= start)
      return false;
    // An interval that meets [start, end) starts before `end`, and after
    // `start` less the longest interval ever booked here.
    auto first = start - longest_;
    for (auto d = day_of(first), last = day_of(end - 1); d <= last; ++d) {
      auto i = days_.find(d);
      if (i == days_.end())
        continue;
      const auto& day = i->second;
      auto j = std::upper_bound(day.begin(), day.end(), first,
                                [](timestamp_ms t, const booked& b) {
                                  return t < b.start;
                                });
      for (; j != day.end() && j->start < end; ++j)
        if (j->end > start && j->id != except)
          return true;
    }
    return false;
  }

private:
  static constexpr timestamp_ms day_ms = 86400000;

  struct booked {
    timestamp_ms start;
    timestamp_ms end;
    std::string id;
  };

  static std::int64_t day_of(timestamp_ms t) {
    return t >= 0 ? t / day_ms : (t - day_ms + 1) / day_ms;
  }

  std::unordered_map<std::string, interval> by_id_;
  std::unordered_map<std::int64_t, std::vector<booked>> days_;
  timestamp_ms longest_ = 0;
};

struct calendar_state {
  std::string company_id;
  std::string staff_id;
  /// Appointments that are not cancelled.
  interval_book booked;
  /// Set when rehydration failed: the calendar refuses every command.
  std::string broken;
  aggregate_deps deps;
  idle_watch idle;
  /// Staff, services and customers this calendar has read, each as of
  /// its stream version: reused while the version is unchanged.
  struct seen_state {
    std::shared_ptr<const aggregate_state> state;
    /// The type's stream_generation read before the version was last
    /// found current: while it is the same, the version is not read.
    std::uint64_t generation = 0;
  };
  std::unordered_map<std::string, seen_state> seen;
  static inline const char* name = "calendar";
};

/// The calendar of staff member `staff_id` of `company_id`: rebuilt from
/// the store's list of the staff member's scheduled appointments, it
/// decides book, reschedule, reassign, cancel and Cal.com's link_calcom
/// and set_no_show (typed commands, messages/calendar_commands.hpp,
/// decoded where they entered the runtime; one function each in
/// calendar.cpp), and answers availability. Stops when idle.
calendar_actor::behavior_type
calendar(calendar_actor::stateful_pointer<calendar_state> self,
         std::string company_id, std::string staff_id, aggregate_deps deps);

} // namespace switchboard
