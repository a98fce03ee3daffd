#pragma once

// Counters, gauges and histograms for the Prometheus exposition at
// /metrics (text format 0.0.4). Plain C++, no CAF: the store's writer
// counts here as well as the actors and the gateway.
//
// Counting is lock-free: a metric is a few relaxed atomics, and a caller
// keeps the reference `family::with` returned (children are never moved
// or freed while the registry lives). Only `with` for a new label set, and
// `render`, take a lock.
//
//   auto& commits = telemetry::metrics().counter(
//       "switchboard_store_commits_total", "Write transactions committed");
//   commits.with().inc();
//
//   auto& appended = telemetry::metrics().counter(
//       "switchboard_events_appended_total", "Events stored", {"type"});
//   appended.with({"appointment.created"}).inc();
//
// The process has one registry (`metrics()`), as it has one logger per
// subsystem: it is shared by every layer and outlives all of them. Tests
// may build their own.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace switchboard::telemetry {

/// A monotonic count.
class counter {
public:
  void inc(std::uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(double v) noexcept {
    value_.store(v, std::memory_order_relaxed);
  }
  void add(double d) noexcept;
  double value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<double> value_{0};
};

/// Observations counted into buckets with fixed upper bounds (cumulative
/// only when rendered).
class histogram {
public:
  explicit histogram(const std::vector<double>* bounds);
  void observe(double v) noexcept;
  /// Seconds since `since`, for the `_seconds` histograms.
  template <class TimePoint>
  void observe_since(TimePoint since) noexcept {
    observe(
        std::chrono::duration<double>(TimePoint::clock::now() - since).count());
  }
  std::uint64_t count() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }
  double sum() const noexcept {
    return sum_.load(std::memory_order_relaxed);
  }
  /// Observations in bucket `i` alone (not cumulative); the last one is
  /// +Inf.
  std::uint64_t bucket(std::size_t i) const noexcept {
    return buckets_[i].load(std::memory_order_relaxed);
  }
  const std::vector<double>& bounds() const noexcept {
    return *bounds_;
  }

private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

enum class kind { counter, gauge, histogram };

/// Bucket bounds for durations in seconds: 50 us to 30 s.
const std::vector<double>& duration_buckets();
/// Bucket bounds for sizes and counts: 1 to 4096, by powers of two.
const std::vector<double>& size_buckets();

/// Every metric of one name, one child per label set.
template <class Metric>
class family {
public:
  family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)),
        labels_(std::move(labels)), bounds_(std::move(bounds)) {}
  ~family();
  family(const family&) = delete;
  family& operator=(const family&) = delete;

  /// The child for these label values (in the family's label order),
  /// made on first use. Keep the reference: it stays valid.
  Metric& with(std::initializer_list<std::string_view> values = {});
  Metric& with(const std::vector<std::string>& values);

  const std::string& name() const noexcept {
    return name_;
  }
  const std::string& help() const noexcept {
    return help_;
  }
  const std::vector<std::string>& labels() const noexcept {
    return labels_;
  }
  /// Calls `fn(values, metric)` for every child, in label order.
  void each(const std::function<void(const std::vector<std::string>&,
                                     const Metric&)>& fn) const;

private:
  /// Label values joined by '\x1f': the key of the lock-free index.
  using index = std::unordered_map<std::string, Metric*>;

  Metric* find(const std::string& joined) const noexcept;
  Metric& make(std::vector<std::string> key, const std::string& joined);

  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_; ///< Histograms' upper bounds, ascending.
  mutable std::mutex mtx_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
  /// Read without a lock; replaced (never changed) when a child is added,
  /// the old copies kept until the family goes.
  std::atomic<const index*> index_{nullptr};
  std::vector<std::unique_ptr<const index>> retired_;
};

/// Writes families in the text format, for values read at scrape time
/// (queue depths, the map's size) that no hot path counts.
class exposition {
public:
  /// HELP and TYPE lines of a family.
  void header(std::string_view name, std::string_view help, kind k);
  /// One sample: `name{labels} value`.
  void sample(std::string_view name,
              const std::vector<std::pair<std::string, std::string>>& labels,
              double value);
  /// A whole histogram's samples (`_bucket`, `_sum`, `_count`).
  void histogram_samples(
      std::string_view name,
      const std::vector<std::pair<std::string, std::string>>& labels,
      const histogram& h);
  std::string& text() noexcept {
    return out_;
  }

private:
  std::string out_;
};

/// The `q` quantile of observations counted per bucket (not cumulative;
/// the last count is the +Inf bucket) with upper `bounds`, interpolated
/// linearly inside its bucket; past the last bound, that bound. 0 when
/// empty.
double quantile(const std::vector<std::uint64_t>& buckets, double q,
                const std::vector<double>& bounds = duration_buckets());

/// Escapes a label value: backslash, double quote and line feed.
std::string escape_label(std::string_view v);
/// A sample value: integers without a fraction, +Inf, NaN.
std::string format_value(double v);

/// The registry: families by name, rendered in the order registered.
class registry {
public:
  /// The family of that name, made on first call; later calls must agree
  /// on the kind and labels (a mismatch throws std::logic_error: a
  /// programming error found on first use).
  family<telemetry::counter>& counter(const std::string& name,
                                      const std::string& help,
                                      std::vector<std::string> labels = {});
  family<telemetry::gauge>& gauge(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> labels = {});
  family<telemetry::histogram>&
  histogram(const std::string& name, const std::string& help,
            std::vector<std::string> labels = {},
            const std::vector<double>& bounds = duration_buckets());

  /// Every family in the text format 0.0.4.
  void render(exposition& out) const;

private:
  struct entry {
    kind k;
    std::unique_ptr<family<telemetry::counter>> c;
    std::unique_ptr<family<telemetry::gauge>> g;
    std::unique_ptr<family<telemetry::histogram>> h;
  };
  entry& find_or_add(const std::string& name, kind k,
                     const std::vector<std::string>& labels);
  /// The family of that name in the `slot` of its entry, made on first
  /// call from `name`, `help`, `labels` and `args` (as `counter` says).
  template <class M, class... Args>
  family<M>& family_of(std::unique_ptr<family<M>> entry::*slot, kind k,
                       const std::string& name, const std::string& help,
                       std::vector<std::string> labels, const Args&... args);

  mutable std::mutex mtx_;
  std::vector<std::unique_ptr<entry>> order_;
  std::map<std::string, entry*, std::less<>> by_name_;
};

/// The process's registry.
registry& metrics();

} // namespace switchboard::telemetry
