#pragma once

// What a test can measure in a sanitizer build (scripts/test.sh --sanitize):
// the daemon it starts is built the same way.

namespace switchboard::test {

#if defined(__SANITIZE_ADDRESS__)
/// False under AddressSanitizer: freed memory waits in its quarantine and
/// every allocation carries redzones, so a process's resident memory says
/// nothing about what it keeps. Memory bounds are checked in the normal
/// build only.
inline constexpr bool memory_is_measurable = false;
#else
inline constexpr bool memory_is_measurable = true;
#endif

} // namespace switchboard::test
