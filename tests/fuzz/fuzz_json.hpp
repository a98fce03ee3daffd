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

/// A JSON target's LLVMFuzzerTestOneInput: `target(v)` where the bytes
/// parse as the JSON value `v`; returns 0 (the input is kept either way).
template <class Target>
int on_json_input(const std::uint8_t* data, std::size_t size, Target target) {
  if (auto v = json_input(data, size))
    target(*v);
  return 0;
}

} // namespace switchboard::fuzz
