// The store's event record decoder (store/codec.hpp) on arbitrary bytes, as
// a damaged data file would hand them over: no crash or read past the
// record, and a record that decodes re-encodes to one that decodes to the
// same envelope (lengths may have had redundant LEB128 bytes).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <store/codec.hpp>

#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace switchboard;
  // An exact-size copy, so that ASan sees any read past the record.
  std::string copy(reinterpret_cast<const char*>(data), size);
  auto view = store::decode_record(copy.data(), copy.size());
  if (!view)
    return 0;
  auto env = view->to_envelope();
  auto n = store::record_size(env);
  std::string out(n, '\0');
  store::encode_record(env, out.data());
  auto back = store::decode_record(out.data(), out.size());
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->to_envelope() == env);
  return 0;
}
