#include <messages/time.hpp>

#include <messages/civil.hpp>

#include <chrono>
#include <cstdint>

namespace switchboard {

namespace {

constexpr std::int64_t ms_per_day = 86'400'000;

using civil::civil_from_days;
using civil::days_from_civil;
using civil::days_in_month;

constexpr std::int64_t min_time = days_from_civil(0, 1, 1) * ms_per_day;
constexpr std::int64_t max_time = days_from_civil(10000, 1, 1) * ms_per_day - 1;

void put_digits(std::string& out, std::int64_t value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

/// A cursor over the input that reads fixed-width digit groups.
class cursor {
public:
  explicit cursor(std::string_view text) : text_(text) {}

  bool digits(int width, int& out) {
    out = 0;
    for (int i = 0; i < width; ++i) {
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9')
        return false;
      out = out * 10 + (text_[pos_++] - '0');
    }
    return true;
  }

  bool literal(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool at_end() const noexcept {
    return pos_ == text_.size();
  }

  char peek() const noexcept {
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  void advance() noexcept {
    ++pos_;
  }

private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

unexpected<std::string> fail(std::string_view text, const char* what) {
  std::string msg = "not an RFC 3339 timestamp (";
  msg += what;
  msg += "): \"";
  msg.append(text.substr(0, 64));
  msg += '"';
  return make_unexpected(std::move(msg));
}

} // namespace

timestamp_ms now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

std::string format_rfc3339(timestamp_ms t) {
  if (t < min_time)
    t = min_time;
  if (t > max_time)
    t = max_time;
  std::int64_t days = t / ms_per_day;
  std::int64_t rem = t % ms_per_day;
  if (rem < 0) {
    rem += ms_per_day;
    --days;
  }
  const auto date = civil_from_days(days);
  std::string out;
  out.reserve(24);
  put_digits(out, date.year, 4);
  out += '-';
  put_digits(out, date.month, 2);
  out += '-';
  put_digits(out, date.day, 2);
  out += 'T';
  put_digits(out, rem / 3'600'000, 2);
  out += ':';
  put_digits(out, rem / 60'000 % 60, 2);
  out += ':';
  put_digits(out, rem / 1000 % 60, 2);
  if (rem % 1000 != 0) {
    out += '.';
    put_digits(out, rem % 1000, 3);
  }
  out += 'Z';
  return out;
}

expected<timestamp_ms, std::string> parse_rfc3339(std::string_view text) {
  cursor in{text};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!in.digits(4, year) || !in.literal('-') || !in.digits(2, month)
      || !in.literal('-') || !in.digits(2, day))
    return fail(text, "expected YYYY-MM-DD");
  if (!in.literal('T') && !in.literal('t') && !in.literal(' '))
    return fail(text, "expected 'T' after the date");
  if (!in.digits(2, hour) || !in.literal(':') || !in.digits(2, minute)
      || !in.literal(':') || !in.digits(2, second))
    return fail(text, "expected hh:mm:ss");
  if (month < 1 || month > 12)
    return fail(text, "month out of range");
  if (day < 1
      || static_cast<unsigned>(day)
             > days_in_month(year, static_cast<unsigned>(month)))
    return fail(text, "day out of range");
  if (hour > 23)
    return fail(text, "hour out of range");
  if (minute > 59)
    return fail(text, "minute out of range");
  if (second > 60) // 60 is a leap second; it rolls into the next minute.
    return fail(text, "second out of range");
  std::int64_t millis = 0;
  if (in.literal('.')) {
    int ndigits = 0;
    while (in.peek() >= '0' && in.peek() <= '9') {
      if (ndigits < 3)
        millis = millis * 10 + (in.peek() - '0');
      ++ndigits;
      in.advance();
    }
    if (ndigits == 0)
      return fail(text, "expected digits after '.'");
    for (int i = ndigits; i < 3; ++i)
      millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (in.literal('Z') || in.literal('z')) {
    // UTC.
  } else if (in.peek() == '+' || in.peek() == '-') {
    const int sign = in.peek() == '-' ? -1 : 1;
    in.advance();
    int oh = 0, om = 0;
    if (!in.digits(2, oh) || !in.literal(':') || !in.digits(2, om))
      return fail(text, "expected an offset +hh:mm");
    if (oh > 23 || om > 59)
      return fail(text, "offset out of range");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return fail(text, "expected 'Z' or an offset");
  }
  if (!in.at_end())
    return fail(text, "trailing characters");
  const auto days = days_from_civil(year, static_cast<unsigned>(month),
                                    static_cast<unsigned>(day));
  const std::int64_t seconds = days * 86'400 + hour * 3600 + minute * 60
                               + second - offset_minutes * 60;
  return timestamp_ms{seconds * 1000 + millis};
}

} // namespace switchboard
