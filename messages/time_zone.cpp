#include "messages/time_zone.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include <messages/civil.hpp>
#include <messages/time.hpp>

namespace switchboard {

namespace {

/// The day of the year on which a POSIX TZ rule changes the clocks, and the
/// local time of day at which it does (RFC 8536 section 3.3.1).
struct rule_date {
  enum class form : std::uint8_t {
    julian,     ///< Jn: day 1 to 365, February 29 never counted.
    zero_based, ///< n: day 0 to 365, February 29 counted.
    month_week, ///< Mm.w.d: weekday d (0 Sunday) of week w (5: the last).
  };
  form kind = form::month_week;
  int day = 0;
  int week = 0;
  int month = 0;
  /// Seconds after local midnight (-167 to 167 hours; default 02:00).
  std::int32_t time = 7200;
};

/// The days since 1970-01-01 of `d` in year `y`.
std::int64_t rule_day(std::int64_t y, const rule_date& d) {
  auto jan1 = civil::days_from_civil(y, 1, 1);
  switch (d.kind) {
  case rule_date::form::julian:
    return jan1 + d.day - 1 + (civil::is_leap(y) && d.day >= 60 ? 1 : 0);
  case rule_date::form::zero_based:
    return jan1 + d.day;
  case rule_date::form::month_week:
    break;
  }
  auto m = static_cast<unsigned>(d.month);
  auto first = civil::days_from_civil(y, m, 1);
  auto wd = static_cast<int>(civil::weekday_from_days(first));
  auto day = first + (d.day - wd + 7) % 7 + 7 * (d.week - 1);
  while (day >= first + civil::days_in_month(y, m))
    day -= 7;
  return day;
}

/// A POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"): the offsets of standard
/// and daylight-saving time, and when each year the clocks change.
struct posix_rule {
  std::int32_t std_offset = 0; ///< Seconds east of UTC.
  bool has_dst = false;
  std::int32_t dst_offset = 0; ///< Seconds east of UTC.
  rule_date start;             ///< To daylight-saving time (local standard).
  rule_date end;               ///< Back to standard time (local DST).

  /// The offset in force at `secs` (seconds since the epoch, UTC).
  std::int32_t offset_at(std::int64_t secs) const {
    if (!has_dst)
      return std_offset;
    auto local_days = secs + std_offset;
    local_days = (local_days >= 0 ? local_days : local_days - 86399) / 86400;
    auto year = civil::civil_from_days(local_days).year;
    // The changes of the years around `secs`, in order; on a tie (DST all
    // year) the change to DST comes last.
    std::array<std::pair<std::int64_t, bool>, 6> changes;
    std::size_t n = 0;
    for (auto y = year - 1; y <= year + 1; ++y) {
      changes[n++]
          = {rule_day(y, start) * 86400 + start.time - std_offset, true};
      changes[n++] = {rule_day(y, end) * 86400 + end.time - dst_offset, false};
    }
    std::sort(changes.begin(), changes.end());
    bool dst = !changes.front().second;
    for (const auto& [at, to_dst] : changes)
      if (at <= secs)
        dst = to_dst;
    return dst ? dst_offset : std_offset;
  }
};

} // namespace

struct time_zone::data {
  std::string name;
  /// Instants (seconds since the epoch, UTC) at which the offset changes,
  /// ascending, and the offset in force from each on.
  std::vector<std::int64_t> at;
  std::vector<std::int32_t> offset;
  /// The offset before the first transition.
  std::int32_t initial = 0;
  /// The rule from the last transition on (all times when there are none).
  std::optional<posix_rule> rule;
};

namespace {

std::int64_t big_endian(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  if (n == 4)
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

/// Reads a POSIX TZ rule (RFC 8536 section 3.3.1, with its extensions:
/// times of day from -167 to 167 hours, names in angle brackets).
class rule_parser {
public:
  explicit rule_parser(std::string_view text) : text_(text) {}

  expected<posix_rule, std::string> parse() {
    posix_rule r;
    std::int32_t west = 0;
    if (!name() || !hms(west, 24, true))
      return fail();
    r.std_offset = -west;
    if (at_end())
      return r;
    r.has_dst = true;
    if (!name())
      return fail();
    r.dst_offset = r.std_offset + 3600;
    if (!at_end() && peek() != ',') {
      if (!hms(west, 24, true))
        return fail();
      r.dst_offset = -west;
    }
    if (at_end()) {
      // No dates: the US rules, as tzcode's default.
      r.start = {rule_date::form::month_week, 0, 2, 3, 7200};
      r.end = {rule_date::form::month_week, 0, 1, 11, 7200};
      return r;
    }
    if (!literal(',') || !date(r.start) || !literal(',') || !date(r.end)
        || !at_end())
      return fail();
    return r;
  }

private:
  bool at_end() const {
    return pos_ == text_.size();
  }

  char peek() const {
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  bool literal(char c) {
    if (peek() != c)
      return false;
    ++pos_;
    return true;
  }

  static bool alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  static bool digit(char c) {
    return c >= '0' && c <= '9';
  }

  /// A zone abbreviation: three or more letters, or "<...>" holding three
  /// or more letters, digits, '+' and '-'.
  bool name() {
    auto begin = pos_;
    if (literal('<')) {
      while (alpha(peek()) || digit(peek()) || peek() == '+' || peek() == '-')
        ++pos_;
      return pos_ - begin - 1 >= 3 && literal('>');
    }
    while (alpha(peek()))
      ++pos_;
    return pos_ - begin >= 3;
  }

  /// Digits as a number no greater than `max`.
  bool number(int& out, int max) {
    if (!digit(peek()))
      return false;
    out = 0;
    while (digit(peek())) {
      out = out * 10 + (text_[pos_++] - '0');
      if (out > max)
        return false;
    }
    return true;
  }

  /// [+|-]hh[:mm[:ss]] with hh at most `max_hours`, in seconds.
  bool hms(std::int32_t& out, int max_hours, bool sign_allowed) {
    bool negative = false;
    if (sign_allowed && (peek() == '+' || peek() == '-'))
      negative = text_[pos_++] == '-';
    int h = 0;
    int m = 0;
    int s = 0;
    if (!number(h, max_hours))
      return false;
    if (literal(':') && (!number(m, 59) || (literal(':') && !number(s, 59))))
      return false;
    out = (negative ? -1 : 1) * (h * 3600 + m * 60 + s);
    return true;
  }

  /// Jn, n or Mm.w.d, with an optional "/time".
  bool date(rule_date& d) {
    if (literal('J')) {
      d.kind = rule_date::form::julian;
      if (!number(d.day, 365) || d.day < 1)
        return false;
    } else if (literal('M')) {
      d.kind = rule_date::form::month_week;
      if (!number(d.month, 12) || d.month < 1 || !literal('.')
          || !number(d.week, 5) || d.week < 1 || !literal('.')
          || !number(d.day, 6))
        return false;
    } else {
      d.kind = rule_date::form::zero_based;
      if (!number(d.day, 365))
        return false;
    }
    d.time = 7200;
    return !literal('/') || hms(d.time, 167, true);
  }

  unexpected<std::string> fail() const {
    return make_unexpected("POSIX TZ rule \"" + std::string{text_}
                           + "\": malformed at offset " + std::to_string(pos_));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

/// Parses a TZif file (RFC 8536): the 64-bit block of version 2 and later,
/// the 32-bit block of version 1.
expected<std::shared_ptr<time_zone::data>, std::string>
parse_tzif(const std::string& name, const std::string& bytes) {
  auto bad = [&name](const char* what) {
    return make_unexpected("time zone " + name + ": " + what);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  auto size = bytes.size();
  auto header = [&](std::size_t off, std::int64_t(&counts)[6]) {
    if (off + 44 > size || bytes.compare(off, 4, "TZif") != 0)
      return false;
    for (int i = 0; i < 6; ++i)
      counts[i] = big_endian(p + off + 20 + 4 * i, 4);
    return std::all_of(std::begin(counts), std::end(counts),
                       [](std::int64_t c) {
                         return c >= 0 && c < (1 << 20);
                       });
  };
  std::int64_t c[6]; // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  if (!header(0, c))
    return bad("not a TZif file");
  auto block_size = [](const std::int64_t(&k)[6], int time_bytes) {
    return k[3] * time_bytes + k[3] + k[4] * 6 + k[5] + k[2] * (time_bytes + 4)
           + k[1] + k[0];
  };
  std::size_t off = 44;
  int time_bytes = 4;
  if (bytes[4] >= '2') {
    off += static_cast<std::size_t>(block_size(c, 4));
    if (!header(off, c))
      return bad("truncated TZif file");
    off += 44;
    time_bytes = 8;
  }
  if (off + static_cast<std::size_t>(block_size(c, time_bytes)) > size)
    return bad("truncated TZif file");
  auto timecnt = static_cast<std::size_t>(c[3]);
  auto typecnt = static_cast<std::size_t>(c[4]);
  if (typecnt == 0)
    return bad("TZif file without local time types");
  const auto* times = p + off;
  const auto* idx = times + timecnt * time_bytes;
  const auto* types = idx + timecnt;
  auto d = std::make_shared<time_zone::data>();
  d->name = name;
  auto utoff = [&](std::size_t t) {
    return static_cast<std::int32_t>(big_endian(types + 6 * t, 4));
  };
  // The first standard-time type (RFC 8536 3.2), or type 0.
  d->initial = utoff(0);
  for (std::size_t t = 0; t < typecnt; ++t)
    if (types[6 * t + 4] == 0) {
      d->initial = utoff(t);
      break;
    }
  for (std::size_t i = 0; i < timecnt; ++i) {
    if (idx[i] >= typecnt)
      return bad("TZif transition names an unknown type");
    d->at.push_back(big_endian(times + i * time_bytes, time_bytes));
    d->offset.push_back(utoff(idx[i]));
  }
  if (!std::is_sorted(d->at.begin(), d->at.end()))
    return bad("TZif transitions out of order");
  if (time_bytes == 8) {
    // The footer: a POSIX TZ rule between newlines, for the instants after
    // the last transition (an empty one: none).
    auto foot = off + static_cast<std::size_t>(block_size(c, time_bytes));
    auto end = foot < size && bytes[foot] == '\n' ? bytes.find('\n', foot + 1)
                                                  : std::string::npos;
    if (end == std::string::npos)
      return bad("TZif footer missing");
    if (end > foot + 1) {
      auto rule = rule_parser{std::string_view{bytes}.substr(foot + 1,
                                                             end - foot - 1)}
                      .parse();
      if (!rule)
        return make_unexpected("time zone " + name + ": " + rule.error());
      d->rule = *rule;
    }
  }
  return d;
}

} // namespace

time_zone::time_zone() {
  static const auto utc = [] {
    auto d = std::make_shared<data>();
    d->name = "UTC";
    return std::shared_ptr<const data>{d};
  }();
  d_ = utc;
}

time_zone::time_zone(std::shared_ptr<const data> d) : d_(std::move(d)) {}

expected<time_zone, std::string>
time_zone::from_posix_rule(std::string_view rule) {
  auto parsed = rule_parser{rule}.parse();
  if (!parsed)
    return make_unexpected(parsed.error());
  auto d = std::make_shared<data>();
  d->name = std::string{rule};
  d->initial = parsed->std_offset;
  d->rule = *parsed;
  return time_zone{std::shared_ptr<const data>{std::move(d)}};
}

const std::string& time_zone::name() const noexcept {
  return d_->name;
}

bool valid_time_zone_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64 || name.front() == '/'
      || name.find("..") != std::string_view::npos)
    return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '+'
           || ch == '/';
  });
}

expected<time_zone, std::string> time_zone::load(std::string_view name) {
  if (name == "UTC" || name == "Etc/UTC")
    return time_zone{};
  if (!valid_time_zone_name(name))
    return make_unexpected("time zone \"" + std::string{name}
                           + "\": not an IANA zone name such as "
                             "Europe/Berlin");
  static std::mutex mtx;
  static std::map<std::string, std::shared_ptr<const data>, std::less<>> loaded;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto i = loaded.find(name); i != loaded.end())
    return time_zone{i->second};
  const char* dir = std::getenv("TZDIR");
  std::string path
      = std::string{dir != nullptr && *dir != '\0' ? dir
                                                   : "/usr/share/zoneinfo"}
        + "/" + std::string{name};
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_unexpected("unknown time zone \"" + std::string{name} + "\"");
  std::string bytes{std::istreambuf_iterator<char>{in},
                    std::istreambuf_iterator<char>{}};
  auto parsed = parse_tzif(std::string{name}, bytes);
  if (!parsed)
    return make_unexpected(parsed.error());
  std::shared_ptr<const data> d = std::move(*parsed);
  loaded.emplace(std::string{name}, d);
  return time_zone{d};
}

int time_zone::offset_s(timestamp_ms utc) const noexcept {
  const auto& at = d_->at;
  auto secs = utc >= 0 ? utc / 1000 : (utc - 999) / 1000;
  auto i = std::upper_bound(at.begin(), at.end(), secs);
  if (i == at.end() && d_->rule)
    return d_->rule->offset_at(secs);
  if (i == at.begin())
    return d_->initial;
  return d_->offset[static_cast<std::size_t>(i - at.begin() - 1)];
}

std::optional<timestamp_ms>
time_zone::to_utc(timestamp_ms local) const noexcept {
  // The offsets in force within a day of `local` are the candidates; a
  // candidate is right when it is in force at the instant it gives.
  std::optional<timestamp_ms> best;
  for (auto probe : {local - 86400000, local, local + 86400000}) {
    auto off = static_cast<timestamp_ms>(offset_s(probe)) * 1000;
    auto utc = local - off;
    if (static_cast<timestamp_ms>(offset_s(utc)) * 1000 == off
        && (!best || utc < *best))
      best = utc;
  }
  return best;
}

std::string format_rfc3339_in(timestamp_ms utc, const time_zone& tz) {
  auto off = tz.offset_s(utc);
  if (off == 0)
    return format_rfc3339(utc);
  auto text = format_rfc3339(utc + static_cast<timestamp_ms>(off) * 1000);
  text.pop_back(); // the "Z"
  auto a = off < 0 ? -off : off;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600,
                (a / 60) % 60);
  return text + buf;
}

} // namespace switchboard
