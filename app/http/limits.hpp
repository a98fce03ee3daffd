#pragma once

// Fair shares between companies at the gateway: a request rate (token
// bucket) and a number of commands in flight per company, each refused
// with 429 and Retry-After. Thread-safe; never blocks beyond a short lock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <messages/expected.hpp>

namespace switchboard::app::http {

/// One company's limits; 0 means none.
struct company_limit {
  /// Requests per second (a bucket of one second's worth, refilled
  /// continuously).
  std::uint32_t requests_per_second = 0;
  /// Commands (writes through the aggregates) answered not yet.
  std::uint32_t commands_in_flight = 0;
};

/// The limits of every company, with overrides by company id.
struct limits_options {
  company_limit defaults;
  std::map<std::string, company_limit, std::less<>> per_company;
  /// Backpressure: a company's new bookings get 503 while its oldest ready
  /// job has waited longer than this (`queues.max_lag_ms`); 0: never.
  std::int64_t max_queue_lag_ms = 0;
};

/// Parses `[limits] per_company`: "id:rps:in_flight" entries separated by
/// commas (spaces allowed), e.g. "acme:500:64, big:0:1024". Errors: the
/// text names the entry at fault.
expected<std::map<std::string, company_limit, std::less<>>, std::string>
parse_company_limits(std::string_view text);

class company_limits {
public:
  using clock = std::chrono::steady_clock;

  explicit company_limits(limits_options opts);

  /// Takes one request of `company` from its bucket. Returns the seconds
  /// to wait (for Retry-After) when the bucket is empty, nothing when the
  /// request may go on.
  std::optional<std::uint32_t> admit(std::string_view company,
                                     clock::time_point now = clock::now());

  /// Counts one more command in flight for `company`; false (and nothing
  /// counted) when it has its limit in flight already.
  bool acquire_command(std::string_view company);

  /// The command counted by `acquire_command` has been answered.
  void release_command(std::string_view company);

  const company_limit& limit_of(std::string_view company) const;

  /// Sets how long each company's oldest ready job has waited (ms; the
  /// gateway's sampler reads it from the queues a few times a second).
  /// Companies left out have none waiting.
  void set_queue_lags(std::unordered_map<std::string, std::int64_t> lags);

  /// How long `company`'s oldest ready job has waited (ms; 0: none).
  std::int64_t queue_lag_ms(std::string_view company) const;

  /// The largest lag of any company (ms; 0: none waiting).
  std::int64_t largest_queue_lag_ms() const;

  /// When `company`'s queued work is further behind than
  /// `max_queue_lag_ms`: its lag in ms (a new booking is refused), else
  /// nothing.
  std::optional<std::int64_t> behind(std::string_view company) const;

  /// Counts a booking refused for the lag (switchboard_bookings_shed_total).
  void count_shed_booking();

  std::int64_t max_queue_lag_ms() const noexcept {
    return opts_.max_queue_lag_ms;
  }

private:
  struct usage {
    double tokens = 0;
    clock::time_point refilled{};
    bool started = false;
    std::uint32_t in_flight = 0;
  };
  limits_options opts_;
  std::mutex mtx_;
  /// Companies seen (bounded by the companies with tokens).
  std::unordered_map<std::string, usage> usage_;
  mutable std::mutex lag_mtx_;
  std::unordered_map<std::string, std::int64_t> lags_;
};

} // namespace switchboard::app::http
