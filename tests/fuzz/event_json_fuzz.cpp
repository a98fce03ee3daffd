// Every event and value type's JSON decoder (messages/json.hpp) on
// arbitrary text: no crash, and whatever decodes encodes to JSON that
// decodes to the same JSON again.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <messages/json.hpp>
#include <messages/registry.hpp>

#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/fuzz_json.hpp"

namespace {

template <class T>
void round_trip(const boost::json::value& v) {
  using namespace switchboard;
  auto x = from_json<T>(v);
  if (!x)
    return;
  auto once = to_json(*x);
  auto again = from_json<T>(once);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(to_json(*again) == once);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace switchboard;
  return fuzz::on_json_input(data, size, [](const boost::json::value& v) {
#define SWITCHBOARD_FUZZ_EVENT(type, ...) round_trip<type>(v);
#define SWITCHBOARD_FUZZ_VALUE(type) round_trip<type>(v);
    SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_FUZZ_EVENT)
    SWITCHBOARD_VALUE_TYPES(SWITCHBOARD_FUZZ_VALUE)
#undef SWITCHBOARD_FUZZ_EVENT
#undef SWITCHBOARD_FUZZ_VALUE
  });
}
