#include "messages/time_zone.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include <messages/time.hpp>

namespace switchboard {

struct time_zone::data {
  std::string name;
  /// Instants (seconds since the epoch, UTC) at which the offset changes,
  /// ascending, and the offset in force from each on.
  std::vector<std::int64_t> at;
  std::vector<std::int32_t> offset;
  /// The offset before the first transition.
  std::int32_t initial = 0;
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
