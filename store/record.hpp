#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

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
  const std::string& bytes() const {
    return buf_;
  }

private:
  std::string buf_;
};

/// Reads what record_writer wrote; any read past the end marks it failed.
class record_reader {
public:
  record_reader(const void* data, std::size_t size)
      : p_(static_cast<const char*>(data)), end_(p_ + size) {}
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
  /// True when every read so far was within the record.
  bool ok() const {
    return ok_;
  }

private:
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

} // namespace switchboard::store
