#include <telemetry/metrics.hpp>

#include <messages/enum_table.hpp>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <type_traits>

namespace switchboard::telemetry {

namespace {

void add_double(std::atomic<double>& target, double d) noexcept {
  auto cur = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed))
    ;
}

} // namespace

void gauge::add(double d) noexcept {
  add_double(value_, d);
}

histogram::histogram(const std::vector<double>* bounds)
    : bounds_(bounds),
      buckets_(new std::atomic<std::uint64_t>[bounds->size() + 1]) {
  for (std::size_t i = 0; i <= bounds->size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) noexcept {
  // Bounds are few (under 20): a linear scan beats a binary search.
  std::size_t i = 0;
  const auto& b = *bounds_;
  while (i < b.size() && v > b[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> b{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return b;
}

const std::vector<double>& size_buckets() {
  static const std::vector<double> b{1,   2,   4,   8,    16,   32,  64,
                                     128, 256, 512, 1024, 2048, 4096};
  return b;
}

double quantile(const std::vector<std::uint64_t>& buckets, double q,
                const std::vector<double>& bounds) {
  std::uint64_t total = 0;
  for (auto n : buckets)
    total += n;
  if (total == 0 || bounds.empty())
    return 0;
  auto rank = q * static_cast<double>(total);
  double seen = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    auto n = static_cast<double>(buckets[i]);
    if (n > 0 && seen + n >= rank) {
      if (i >= bounds.size())
        return bounds.back();
      double lower = i == 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return bounds.back();
}

// -- family -------------------------------------------------------------------

namespace {

void join_into(std::string& out, std::string_view v, bool first) {
  if (!first)
    out += '\x1f';
  out += v;
}

} // namespace

template <class Metric>
family<Metric>::~family() {
  delete index_.load();
}

template <class Metric>
Metric* family<Metric>::find(const std::string& joined) const noexcept {
  const auto* idx = index_.load(std::memory_order_acquire);
  if (idx == nullptr)
    return nullptr;
  auto i = idx->find(joined);
  return i == idx->end() ? nullptr : i->second;
}

template <class Metric>
Metric& family<Metric>::with(std::initializer_list<std::string_view> values) {
  // The hot path: no lock and, once the buffer has grown, no allocation.
  thread_local std::string joined;
  joined.clear();
  bool first = true;
  for (auto v : values) {
    join_into(joined, v, first);
    first = false;
  }
  if (auto* m = find(joined); m != nullptr && values.size() == labels_.size())
    return *m;
  std::vector<std::string> key;
  key.reserve(values.size());
  for (auto v : values)
    key.emplace_back(v);
  return make(std::move(key), joined);
}

template <class Metric>
Metric& family<Metric>::with(const std::vector<std::string>& values) {
  std::string joined;
  bool first = true;
  for (const auto& v : values) {
    join_into(joined, v, first);
    first = false;
  }
  if (auto* m = find(joined); m != nullptr && values.size() == labels_.size())
    return *m;
  return make(values, joined);
}

template <class Metric>
Metric& family<Metric>::make(std::vector<std::string> key,
                             const std::string& joined) {
  if (key.size() != labels_.size())
    throw std::logic_error(
        "metric " + name_ + ": " + std::to_string(labels_.size())
        + " label values expected, got " + std::to_string(key.size()));
  std::lock_guard<std::mutex> lock{mtx_};
  auto i = children_.find(key);
  if (i != children_.end())
    return *i->second;
  std::unique_ptr<Metric> m;
  if constexpr (std::is_same_v<Metric, telemetry::histogram>)
    m = std::make_unique<Metric>(&bounds_);
  else
    m = std::make_unique<Metric>();
  auto& ref = *m;
  children_.emplace(std::move(key), std::move(m));
  // Publish a new index with the child; readers of the old one finish
  // with it safely, since it is kept.
  const auto* old = index_.load(std::memory_order_relaxed);
  auto next = old != nullptr ? std::make_unique<index>(*old)
                             : std::make_unique<index>();
  next->emplace(joined, &ref);
  index_.store(next.release(), std::memory_order_release);
  if (old != nullptr)
    retired_.emplace_back(old);
  return ref;
}

template <class Metric>
void family<Metric>::each(
    const std::function<void(const std::vector<std::string>&, const Metric&)>&
        fn) const {
  std::lock_guard<std::mutex> lock{mtx_};
  for (const auto& [k, m] : children_)
    fn(k, *m);
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// -- exposition ---------------------------------------------------------------

namespace {

/// `v` with backslash and line feed escaped, and double quotes too when
/// `quotes`.
std::string escape(std::string_view v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (quotes && c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace

std::string escape_label(std::string_view v) {
  return escape(v, true);
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

namespace {

/// Help text escaping: backslash and line feed only.
std::string escape_help(std::string_view v) {
  return escape(v, false);
}

void put_labels(std::string& out,
                const std::vector<std::pair<std::string, std::string>>& labels,
                const char* extra_name = nullptr,
                const std::string* extra_value = nullptr) {
  if (labels.empty() && extra_name == nullptr)
    return;
  out += '{';
  bool first = true;
  auto put = [&](std::string_view name, std::string_view value) {
    if (!first)
      out += ',';
    first = false;
    out += name;
    out += "=\"";
    out += value;
    out += '"';
  };
  for (const auto& [k, v] : labels)
    put(k, escape_label(v));
  if (extra_name != nullptr)
    put(extra_name, *extra_value);
  out += '}';
}

/// One sample line: `name`, its labels (and the extra one), `value`.
void put_sample(std::string& out, std::string_view name,
                const std::vector<std::pair<std::string, std::string>>& labels,
                const std::string& value, const char* extra_name = nullptr,
                const std::string* extra_value = nullptr) {
  out += name;
  put_labels(out, labels, extra_name, extra_value);
  out += ' ';
  out += value;
  out += '\n';
}

constexpr auto kind_name
    = name_table<kind>({"counter", "gauge", "histogram"}, "untyped");
static_assert(kind_name.covers(kind::histogram));

} // namespace

void exposition::header(std::string_view name, std::string_view help, kind k) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += kind_name(k);
  out_ += '\n';
}

void exposition::sample(
    std::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels,
    double value) {
  put_sample(out_, name, labels, format_value(value));
}

void exposition::histogram_samples(
    std::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels,
    const histogram& h) {
  // Read the buckets first and derive the count from them, so that the
  // +Inf bucket equals _count even while observations come in.
  const auto& b = h.bounds();
  std::uint64_t cumulative = 0;
  std::string bucket_name{name};
  bucket_name += "_bucket";
  for (std::size_t i = 0; i <= b.size(); ++i) {
    cumulative += h.bucket(i);
    auto le = i < b.size() ? format_value(b[i]) : std::string{"+Inf"};
    put_sample(out_, bucket_name, labels, std::to_string(cumulative), "le",
               &le);
  }
  std::string n{name};
  sample(n + "_sum", labels, h.sum());
  sample(n + "_count", labels, static_cast<double>(cumulative));
}

// -- registry -----------------------------------------------------------------

registry::entry& registry::find_or_add(const std::string& name, kind k,
                                       const std::vector<std::string>& labels) {
  if (auto i = by_name_.find(name); i != by_name_.end()) {
    auto& e = *i->second;
    const std::vector<std::string>* have = nullptr;
    if (e.k == kind::counter)
      have = &e.c->labels();
    else if (e.k == kind::gauge)
      have = &e.g->labels();
    else
      have = &e.h->labels();
    if (e.k != k || *have != labels)
      throw std::logic_error("metric " + name
                             + " registered twice with another kind or labels");
    return e;
  }
  order_.push_back(std::make_unique<entry>());
  auto& e = *order_.back();
  e.k = k;
  by_name_.emplace(name, &e);
  return e;
}

template <class M, class... Args>
family<M>& registry::family_of(std::unique_ptr<family<M>> entry::*slot, kind k,
                               const std::string& name, const std::string& help,
                               std::vector<std::string> labels,
                               const Args&... args) {
  std::lock_guard<std::mutex> lock{mtx_};
  auto& e = find_or_add(name, k, labels);
  if (!(e.*slot))
    e.*slot
        = std::make_unique<family<M>>(name, help, std::move(labels), args...);
  return *(e.*slot);
}

family<counter>& registry::counter(const std::string& name,
                                   const std::string& help,
                                   std::vector<std::string> labels) {
  return family_of(&entry::c, kind::counter, name, help, std::move(labels));
}

family<gauge>& registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels) {
  return family_of(&entry::g, kind::gauge, name, help, std::move(labels));
}

family<histogram>& registry::histogram(const std::string& name,
                                       const std::string& help,
                                       std::vector<std::string> labels,
                                       const std::vector<double>& bounds) {
  return family_of(&entry::h, kind::histogram, name, help, std::move(labels),
                   bounds);
}

namespace {

std::vector<std::pair<std::string, std::string>>
zip(const std::vector<std::string>& names,
    const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i)
    out.emplace_back(names[i], values[i]);
  return out;
}

} // namespace

void registry::render(exposition& out) const {
  std::lock_guard<std::mutex> lock{mtx_};
  for (const auto& e : order_) {
    switch (e->k) {
    case kind::counter: {
      const auto& f = *e->c;
      out.header(f.name(), f.help(), kind::counter);
      f.each([&](const auto& values, const telemetry::counter& m) {
        out.sample(f.name(), zip(f.labels(), values),
                   static_cast<double>(m.value()));
      });
      break;
    }
    case kind::gauge: {
      const auto& f = *e->g;
      out.header(f.name(), f.help(), kind::gauge);
      f.each([&](const auto& values, const telemetry::gauge& m) {
        out.sample(f.name(), zip(f.labels(), values), m.value());
      });
      break;
    }
    case kind::histogram: {
      const auto& f = *e->h;
      out.header(f.name(), f.help(), kind::histogram);
      f.each([&](const auto& values, const telemetry::histogram& m) {
        out.histogram_samples(f.name(), zip(f.labels(), values), m);
      });
      break;
    }
    }
  }
}

registry& metrics() {
  static registry r;
  return r;
}

} // namespace switchboard::telemetry
