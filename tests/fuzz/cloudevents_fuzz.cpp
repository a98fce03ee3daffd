// The CloudEvents 1.0 decoders (single event and batch) on arbitrary text:
// no crash, and a decoded envelope encodes to a CloudEvent that decodes
// to the same envelope.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <messages/cloudevents.hpp>
#include <messages/json.hpp>

#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/fuzz_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace switchboard;
  return fuzz::on_json_input(data, size, [](const boost::json::value& v) {
    if (auto env = from_cloudevent(v)) {
      auto ce = to_cloudevent(*env);
      auto back = from_cloudevent(ce);
      FUZZ_CHECK(back.has_value());
      FUZZ_CHECK(to_cloudevent(*back) == ce);
    }
    if (auto batch = from_cloudevents_batch(v)) {
      auto ce = to_cloudevents_batch(*batch);
      auto back = from_cloudevents_batch(ce);
      FUZZ_CHECK(back.has_value());
      FUZZ_CHECK(back->size() == batch->size());
    }
  });
}
