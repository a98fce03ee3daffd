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
inline constexpr const char* marks_db = "processed_marks";

/// The database of the first layout, (listener, event id) without the
/// company: moved into `marks_db` at open, then dropped.
inline constexpr const char* first_layout_db = "processed";

/// Longest company, listener and event id (bytes).
inline constexpr std::size_t max_name_size = 255;

/// Longest key (LMDB's default): the event id, company and listener have
/// at most 509 bytes together. The event store keeps an event's id and
/// company to 509 as well, and a tenant's company id to 128 bytes, so a
/// listener name of up to 126 bytes fits with any event.
inline constexpr std::size_t max_key_size = 511;

/// A key of `marks_db`: the event id's length (one byte), the event id,
/// the company's length (one byte), the company, the listener. The
/// company is in the key, so that equal ids of two companies are two
/// events; (event id, company) first, so that an event's marks are one
/// range, which the forget of a company deletes by its prefix.
struct mark_key {
  char buf[max_key_size];
  std::size_t size = 0;

  MDB_val val() {
    return MDB_val{size, buf};
  }
  /// The bytes every mark of (event id, company) starts with.
  MDB_val event_prefix() {
    return MDB_val{prefix_size, buf};
  }
  std::size_t prefix_size = 0;
};

/// Builds the key of (`company`, `listener`, `event_id`) (an empty
/// listener: the prefix of the event's marks). Errors:
/// `errc::invalid_argument` (the company longer than 255 bytes, the
/// listener or the event id empty or longer).
inline result<mark_key> make_key(std::string_view company,
                                 std::string_view listener,
                                 std::string_view event_id,
                                 bool prefix_only = false) {
  if (company.size() > max_name_size)
    return fail(errc::invalid_argument,
                "processed: company must have at most 255 bytes");
  if (!prefix_only && (listener.empty() || listener.size() > max_name_size))
    return fail(errc::invalid_argument,
                "processed: listener must have 1 to 255 bytes");
  if (event_id.empty() || event_id.size() > max_name_size)
    return fail(errc::invalid_argument,
                "processed: event id must have 1 to 255 bytes");
  if (2 + event_id.size() + company.size() + listener.size() > max_key_size)
    return fail(errc::invalid_argument,
                "processed: event id, company and listener must have at most "
                "509 bytes together");
  mark_key k;
  auto* p = k.buf;
  *p++ = static_cast<char>(event_id.size());
  std::memcpy(p, event_id.data(), event_id.size());
  p += event_id.size();
  *p++ = static_cast<char>(company.size());
  std::memcpy(p, company.data(), company.size());
  p += company.size();
  k.prefix_size = static_cast<std::size_t>(p - k.buf);
  if (!prefix_only) {
    std::memcpy(p, listener.data(), listener.size());
    p += listener.size();
  }
  k.size = static_cast<std::size_t>(p - k.buf);
  return k;
}

} // namespace switchboard::store::processed_detail
