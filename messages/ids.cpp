#include <messages/id_check.hpp>
#include <messages/ids.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace switchboard {

namespace {

/// Millisecond time (48 bits) and counter (12 bits) of the last id issued.
std::atomic<std::uint64_t> last_stamp{0};

std::uint64_t next_stamp() noexcept {
  using namespace std::chrono;
  const auto ms = static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch())
          .count());
  const std::uint64_t fresh = (ms & 0xFFFF'FFFF'FFFFull) << 12;
  auto prev = last_stamp.load(std::memory_order_relaxed);
  for (;;) {
    const auto next = fresh > prev ? fresh : prev + 1;
    if (last_stamp.compare_exchange_weak(prev, next, std::memory_order_relaxed))
      return next;
  }
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  return engine;
}

constexpr char hex_digits[] = "0123456789abcdef";

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
         || (c >= 'A' && c <= 'F');
}

} // namespace

std::string new_event_id() {
  const std::uint64_t stamp = next_stamp();
  // Layout: 48 bits ms | 4 bits version | 12 bits counter | 2 bits variant |
  // 62 bits random.
  const std::uint64_t hi
      = ((stamp >> 12) << 16) | (0x7ull << 12) | (stamp & 0xFFFull);
  const std::uint64_t lo = (rng()() >> 2) | (0x2ull << 62);
  std::string out(36, '-');
  std::size_t pos = 0;
  auto put = [&](std::uint64_t word) {
    for (int i = 0; i < 16; ++i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
        ++pos;
      out[pos++] = hex_digits[(word >> (60 - 4 * i)) & 0xF];
    }
  };
  put(hi);
  put(lo);
  return out;
}

bool is_uuid(std::string_view text) noexcept {
  if (text.size() != 36)
    return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !is_hex(text[i]))
      return false;
  }
  return true;
}

std::optional<std::string> id_problem(std::string_view id) {
  if (id.empty())
    return std::string{"missing: must not be empty"};
  if (id.size() > max_id_size)
    return "invalid: longer than " + std::to_string(max_id_size) + " bytes";
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f)
      return std::string{
          "invalid: only printable ASCII without whitespace or control "
          "characters"};
    if (c == '/' || c == '?' || c == '#' || c == '%')
      return std::string{"invalid: must not contain '/', '?', '#' or '%'"};
  }
  return std::nullopt;
}

bool is_derived_id(std::string_view id) noexcept {
  return is_uuid(id) && id[14] == '8';
}

} // namespace switchboard
