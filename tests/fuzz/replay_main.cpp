// Replays inputs through a fuzz target without libFuzzer, so that the
// normal build (g++, no fuzzer runtime) runs every target in ctest over
// its seed corpus and the crash inputs kept there
// (tests/fuzz/corpus/<target>/). A broken invariant aborts (FUZZ_CHECK),
// as it does under the fuzzer; under scripts/test.sh --sanitize the
// replay runs with ASan and UBSan.
//
//   <target>_replay DIR_OR_FILE...

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc,
                                                          char*** argv);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (LLVMFuzzerInitialize != nullptr)
    LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path p{argv[i]};
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator{p})
        if (e.is_regular_file())
          inputs.push_back(e.path());
    } else if (fs::is_regular_file(p)) {
      inputs.push_back(p);
    } else {
      std::fprintf(stderr, "no such input: %s\n", argv[i]);
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  for (const auto& p : inputs) {
    std::ifstream in{p, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in}, {}};
    // An exact-size heap copy, as libFuzzer hands it over: a read past
    // the input is a read past the allocation.
    std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::printf("replayed %zu inputs\n", inputs.size());
  // No input is a mistake in the test's arguments, not a pass.
  return inputs.empty() ? 1 : 0;
}
