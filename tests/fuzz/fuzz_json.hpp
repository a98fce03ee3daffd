#pragma once

// The JSON targets' input: the fuzzer's bytes parsed as one JSON value.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <messages/json.hpp>

namespace switchboard::fuzz {

/// `data` parsed as JSON text; empty when it is not JSON.
inline auto json_input(const std::uint8_t* data, std::size_t size) {
  return parse_json(
      std::string_view{reinterpret_cast<const char*>(data), size});
}

} // namespace switchboard::fuzz
