#include "app/http/limits.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include <messages/text.hpp>
#include <telemetry/metrics.hpp>

namespace switchboard::app::http {

namespace {

telemetry::counter& shed_bookings() {
  static auto& c = telemetry::metrics()
                       .counter("switchboard_bookings_shed_total",
                                "New bookings answered 503 because their "
                                "company's queued work was further behind "
                                "than queues.max_lag_ms")
                       .with();
  return c;
}

bool parse_u32(std::string_view s, std::uint32_t& out) {
  s = trim_blanks(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

} // namespace

expected<std::map<std::string, company_limit, std::less<>>, std::string>
parse_company_limits(std::string_view text, const company_limit& defaults) {
  std::map<std::string, company_limit, std::less<>> out;
  while (!trim_blanks(text).empty()) {
    auto comma = text.find(',');
    auto entry = trim_blanks(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{}
                                           : text.substr(comma + 1);
    if (entry.empty())
      continue;
    // id:rps:in_flight, then :rows if given.
    std::vector<std::string_view> parts;
    for (auto rest = entry;;) {
      auto colon = rest.find(':');
      parts.push_back(rest.substr(0, colon));
      if (colon == std::string_view::npos)
        break;
      rest = rest.substr(colon + 1);
    }
    company_limit l;
    l.rows_per_second = defaults.rows_per_second;
    if (parts.size() < 3 || parts.size() > 4 || trim_blanks(parts[0]).empty()
        || !parse_u32(parts[1], l.requests_per_second)
        || !parse_u32(parts[2], l.commands_in_flight)
        || (parts.size() == 4 && !parse_u32(parts[3], l.rows_per_second)))
      return make_unexpected("\"" + std::string{entry}
                             + "\" is not company:requests_per_second:"
                               "commands_in_flight[:rows_per_second]");
    out[std::string{trim_blanks(parts[0])}] = l;
  }
  return out;
}

const company_limit& company_limits::limit_of(std::string_view company) const {
  auto i = opts_.per_company.find(company);
  return i == opts_.per_company.end() ? opts_.defaults : i->second;
}

std::optional<std::uint32_t>
company_limits::bucket::take(double rate, double cost, clock::time_point now) {
  if (!started) {
    started = true;
    tokens = rate;
    refilled = now;
  } else if (now > refilled) {
    std::chrono::duration<double> dt = now - refilled;
    tokens = std::min(rate, tokens + dt.count() * rate);
    refilled = now;
  }
  cost = std::min(cost, rate);
  if (tokens >= cost) {
    tokens -= cost;
    return std::nullopt;
  }
  auto wait = (cost - tokens) / rate;
  return static_cast<std::uint32_t>(std::max(1.0, std::ceil(wait)));
}

std::optional<std::uint32_t> company_limits::admit(std::string_view company,
                                                   clock::time_point now) {
  const auto& l = limit_of(company);
  if (l.requests_per_second == 0)
    return std::nullopt;
  std::lock_guard<std::mutex> g{mtx_};
  return usage_[std::string{company}].requests.take(l.requests_per_second, 1,
                                                    now);
}

std::optional<std::uint32_t>
company_limits::admit_rows(std::string_view company, std::uint64_t rows,
                           clock::time_point now) {
  const auto& l = limit_of(company);
  if (l.rows_per_second == 0 || rows == 0)
    return std::nullopt;
  std::lock_guard<std::mutex> g{mtx_};
  return usage_[std::string{company}].rows.take(l.rows_per_second,
                                                static_cast<double>(rows), now);
}

bool company_limits::acquire_command(std::string_view company) {
  const auto& l = limit_of(company);
  if (l.commands_in_flight == 0)
    return true;
  std::lock_guard<std::mutex> g{mtx_};
  auto& u = usage_[std::string{company}];
  if (u.in_flight >= l.commands_in_flight)
    return false;
  ++u.in_flight;
  return true;
}

void company_limits::release_command(std::string_view company) {
  if (limit_of(company).commands_in_flight == 0)
    return;
  std::lock_guard<std::mutex> g{mtx_};
  auto i = usage_.find(std::string{company});
  if (i != usage_.end() && i->second.in_flight > 0)
    --i->second.in_flight;
}

company_limits::company_limits(limits_options opts) : opts_(std::move(opts)) {
  shed_bookings(); // listed in /metrics from the start
}

void company_limits::set_queue_lags(
    std::unordered_map<std::string, std::int64_t> lags) {
  std::lock_guard<std::mutex> g{lag_mtx_};
  lags_.swap(lags);
}

void company_limits::set_catch_up_lag(std::int64_t lag_ms) {
  std::lock_guard<std::mutex> g{lag_mtx_};
  catch_up_lag_ = lag_ms;
}

std::int64_t company_limits::queue_lag_ms(std::string_view company) const {
  std::lock_guard<std::mutex> g{lag_mtx_};
  auto it = lags_.find(std::string{company});
  return std::max(catch_up_lag_, it == lags_.end() ? 0 : it->second);
}

std::int64_t company_limits::largest_queue_lag_ms() const {
  std::lock_guard<std::mutex> g{lag_mtx_};
  std::int64_t most = catch_up_lag_;
  for (const auto& [company, lag] : lags_)
    most = std::max(most, lag);
  return most;
}

std::optional<std::int64_t>
company_limits::behind(std::string_view company) const {
  if (opts_.max_queue_lag_ms <= 0)
    return std::nullopt;
  auto lag = queue_lag_ms(company);
  if (lag <= opts_.max_queue_lag_ms)
    return std::nullopt;
  return lag;
}

void company_limits::count_shed_booking() {
  shed_bookings().inc();
}

} // namespace switchboard::app::http
