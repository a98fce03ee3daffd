#pragma once

// The dashboard's files (web/), embedded in the binary at build time by
// cmake/embed_web.cmake.

#include <string_view>

namespace switchboard::app::http {

/// One embedded file.
struct web_asset {
  std::string_view name;         ///< Its name in web/, e.g. "dashboard.js".
  std::string_view content_type; ///< From its extension.
  std::string_view bytes;
};

/// The embedded file `name`, or null.
const web_asset* find_web_asset(std::string_view name);

} // namespace switchboard::app::http
