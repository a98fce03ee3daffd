#pragma once

#include <string>
#include <string_view>

namespace switchboard {

/// Returns a new UUIDv7 (RFC 9562) in canonical lower-case form, e.g.
/// "01890a5d-ac96-7c3e-8b2d-3f9e0c1a2b4c".
///
/// The first 48 bits are the Unix time in milliseconds and the next 12 bits
/// a counter, drawn from one process-wide atomic: every id is greater,
/// bytewise and as a string, than every id returned before it in this
/// process, on any thread (the store's event-id index appends at its right
/// edge). When more than 4096 ids are drawn in one millisecond the embedded
/// time runs ahead of the clock until the clock catches up. The last 62 bits
/// come from a thread-local random generator. Thread-safe and lock-free.
std::string new_event_id();

/// Returns whether `text` is a UUID in canonical 8-4-4-4-12 hex form (any
/// version, either case).
bool is_uuid(std::string_view text) noexcept;

} // namespace switchboard
