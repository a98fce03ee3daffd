#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "store/codec.hpp"

namespace switchboard::store {

/// Builds a small binary record: fixed-width big-endian integers and
/// length-prefixed strings, after a format-version byte. For the records of
/// the audit log, the message outbox and projections.
class record_writer {
public:
  explicit record_writer(std::uint8_t format) {
    buf_.push_back(static_cast<char>(format));
  }
  record_writer& u64(std::uint64_t x) {
    char b[8];
    put_be64(b, x);
    buf_.append(b, 8);
    return *this;
  }
  record_writer& i64(std::int64_t x) {
    return u64(static_cast<std::uint64_t>(x));
  }
  record_writer& str(std::string_view s) {
    auto n = static_cast<std::uint32_t>(s.size());
    char b[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                 static_cast<char>(n >> 8), static_cast<char>(n)};
    buf_.append(b, 4);
    buf_.append(s.data(), s.size());
    return *this;
  }
  /// Writes each field of `fields` (a `std::tie` of a record's members):
  /// unsigned integers as u64, signed ones as i64, strings as str.
  template <class... Ts>
  record_writer& put(const std::tuple<Ts&...>& fields) {
    std::apply(
        [this](const auto&... x) {
          (put_one(x), ...);
        },
        fields);
    return *this;
  }
  const std::string& bytes() const {
    return buf_;
  }

private:
  template <class T>
  void put_one(const T& x) {
    if constexpr (std::is_same_v<T, std::uint64_t>)
      u64(x);
    else if constexpr (std::is_same_v<T, std::int64_t>)
      i64(x);
    else
      str(x);
  }

  std::string buf_;
};

/// Reads what record_writer wrote; any read past the end marks it failed.
class record_reader {
public:
  record_reader(const void* data, std::size_t size)
      : p_(static_cast<const char*>(data)), end_(p_ + size) {}
  /// Decodes the record of `size` bytes at `data`, whose format byte must
  /// be from `oldest` to `newest`, into a T: `read(r, out)` reads what
  /// follows that byte (`r.format_read()` tells which format it is) and
  /// returns nothing or a result<void>. Errors: `errc::corrupt` ("<what>:
  /// unknown format", "<what>: truncated"), those `read` returns.
  template <class T, class Read>
  static result<T> decode(const void* data, std::size_t size,
                          std::uint8_t oldest, std::uint8_t newest,
                          std::string_view what, Read&& read) {
    record_reader r{data, size};
    r.format_read_ = r.format();
    if (r.format_read_ < oldest || r.format_read_ > newest)
      return fail(errc::corrupt, std::string{what} + ": unknown format");
    T out;
    if constexpr (std::is_void_v<decltype(read(r, out))>) {
      read(r, out);
    } else {
      if (auto ok = read(r, out); !ok)
        return make_unexpected(ok.error());
    }
    if (!r.ok_)
      return fail(errc::corrupt, std::string{what} + ": truncated");
    return out;
  }
  /// The format byte `decode` read.
  std::uint8_t format_read() const {
    return format_read_;
  }
  std::uint8_t format() {
    if (p_ >= end_) {
      ok_ = false;
      return 0;
    }
    return static_cast<std::uint8_t>(*p_++);
  }
  std::uint64_t u64() {
    if (end_ - p_ < 8) {
      ok_ = false;
      return 0;
    }
    auto x = get_be64(p_);
    p_ += 8;
    return x;
  }
  std::int64_t i64() {
    return static_cast<std::int64_t>(u64());
  }
  std::string str() {
    if (end_ - p_ < 4) {
      ok_ = false;
      return {};
    }
    auto u = reinterpret_cast<const unsigned char*>(p_);
    std::uint32_t n = (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16)
                      | (std::uint32_t{u[2]} << 8) | std::uint32_t{u[3]};
    p_ += 4;
    if (static_cast<std::size_t>(end_ - p_) < n) {
      ok_ = false;
      return {};
    }
    std::string s{p_, n};
    p_ += n;
    return s;
  }
  /// Reads each field of `fields` (a `std::tie` of a record's members) as
  /// record_writer::put wrote it.
  template <class... Ts>
  record_reader& get(const std::tuple<Ts&...>& fields) {
    std::apply(
        [this](auto&... x) {
          (get_one(x), ...);
        },
        fields);
    return *this;
  }
  /// True when every read so far was within the record.
  bool ok() const {
    return ok_;
  }

private:
  template <class T>
  void get_one(T& x) {
    if constexpr (std::is_same_v<T, std::uint64_t>)
      x = u64();
    else if constexpr (std::is_same_v<T, std::int64_t>)
      x = i64();
    else
      x = str();
  }

  const char* p_;
  const char* end_;
  bool ok_ = true;
  std::uint8_t format_read_ = 0;
};

} // namespace switchboard::store
