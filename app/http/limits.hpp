#pragma once

// Fair shares between companies at the gateway: a request rate and a rate
// of listed rows (token buckets) and a number of commands in flight per
// company, each refused with 429 and Retry-After. Thread-safe; never blocks
// beyond a short lock.

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
  /// Rows per second that listings may return: a listing costs its page
  /// size before it runs, as query-cost limits charge (a bucket of one
  /// second's worth; a page larger than that costs the whole bucket).
  std::uint32_t rows_per_second = 0;
};

/// The limits of every company, with overrides by company id.
struct limits_options {
  company_limit defaults;
  std::map<std::string, company_limit, std::less<>> per_company;
  /// Backpressure: a company's new bookings get 503 while its oldest ready
  /// job has waited longer than this (`queues.max_lag_ms`); 0: never.
  std::int64_t max_queue_lag_ms = 0;
};

/// Parses `[limits] per_company`: "id:rps:in_flight[:rows]" entries
/// separated by commas (spaces allowed), e.g. "acme:500:64, big:0:1024:0";
/// without `rows`, the default rows_per_second. Errors: the text names the
/// entry at fault.
expected<std::map<std::string, company_limit, std::less<>>, std::string>
parse_company_limits(std::string_view text, const company_limit& defaults = {});

class company_limits {
public:
  using clock = std::chrono::steady_clock;

  explicit company_limits(limits_options opts);

  /// Takes one request of `company` from its bucket. Returns the seconds
  /// to wait (for Retry-After) when the bucket is empty, nothing when the
  /// request may go on.
  std::optional<std::uint32_t> admit(std::string_view company,
                                     clock::time_point now = clock::now());

  /// Takes `rows` (a listing's page size) from `company`'s rows bucket,
  /// as `admit` does for requests.
  std::optional<std::uint32_t> admit_rows(std::string_view company,
                                          std::uint64_t rows,
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

  /// Sets how long the oldest event the catch-up listeners have not
  /// applied has waited (ms; 0: they are through the log). Their readers
  /// take every company's events in log order, so it is every company's.
  void set_catch_up_lag(std::int64_t lag_ms);

  /// How long `company`'s oldest ready job, or the oldest event a
  /// catch-up listener has not applied, has waited (ms; 0: none).
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
  /// A token bucket holding one second's worth, refilled continuously.
  struct bucket {
    double tokens = 0;
    clock::time_point refilled{};
    bool started = false;
    /// Takes `cost` tokens (at most `rate`); else the seconds to wait.
    std::optional<std::uint32_t> take(double rate, double cost,
                                      clock::time_point now);
  };
  struct usage {
    bucket requests;
    bucket rows;
    std::uint32_t in_flight = 0;
  };
  limits_options opts_;
  std::mutex mtx_;
  /// Companies seen (bounded by the companies with tokens).
  std::unordered_map<std::string, usage> usage_;
  mutable std::mutex lag_mtx_;
  std::unordered_map<std::string, std::int64_t> lags_;
  std::int64_t catch_up_lag_ = 0;
};

} // namespace switchboard::app::http
