#pragma once
// The key layout of the processed set (processed.cpp), shared with the
// forget of a company (company_forget.cpp). Not part of the store's
// interface: include store/processed.hpp.

#include "store/error.hpp"

#include <lmdb.h>

#include <cstddef>
#include <cstring>
#include <string_view>

namespace switchboard::store::processed_detail {

/// The database of the processed set.
inline constexpr const char* processed_db = "processed";

/// Longest listener and event id (bytes).
inline constexpr std::size_t max_name_size = 255;

/// The key of (listener, event id): the listener's length (one byte), the
/// listener, the event id.
struct processed_key {
  char buf[1 + 2 * max_name_size];
  std::size_t size = 0;

  MDB_val val() {
    return MDB_val{size, buf};
  }
};

/// Builds the key of (`listener`, `event_id`). Errors:
/// `errc::invalid_argument` (either empty or longer than 255 bytes).
inline result<processed_key> make_key(std::string_view listener,
                                      std::string_view event_id) {
  if (listener.empty() || listener.size() > max_name_size)
    return fail(errc::invalid_argument,
                "processed: listener must have 1 to 255 bytes");
  if (event_id.empty() || event_id.size() > max_name_size)
    return fail(errc::invalid_argument,
                "processed: event id must have 1 to 255 bytes");
  processed_key k;
  k.buf[0] = static_cast<char>(listener.size());
  std::memcpy(k.buf + 1, listener.data(), listener.size());
  std::memcpy(k.buf + 1 + listener.size(), event_id.data(), event_id.size());
  k.size = 1 + listener.size() + event_id.size();
  return k;
}

} // namespace switchboard::store::processed_detail
