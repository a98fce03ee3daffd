// The configuration parser (app/config.hpp) on arbitrary INI text and on
// arbitrary --set overrides: no crash, every refusal names something, and
// an accepted configuration's values read back with their types.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <app/config.hpp>

#include "tests/fuzz/fuzz_check.hpp"

namespace {

void use(const switchboard::app::config& cfg) {
  // Typed reads of options that every configuration has.
  (void)cfg.get_string("store.path");
  (void)cfg.get_int("store.map_size_mb");
  (void)cfg.get_int("http.port");
  (void)switchboard::app::listener_settings_of(cfg);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace switchboard::app;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto cfg = parse_config(text, "fuzz");
  if (cfg)
    use(*cfg);
  else
    FUZZ_CHECK(!cfg.error().empty());
  // Each line as a --set override.
  std::vector<std::string> sets;
  for (std::size_t at = 0; at <= text.size() && sets.size() < 16;) {
    auto nl = text.find('\n', at);
    sets.emplace_back(text.substr(at, nl - at));
    if (nl == std::string_view::npos)
      break;
    at = nl + 1;
  }
  auto over = parse_config("", "fuzz", sets);
  if (over)
    use(*over);
  else
    FUZZ_CHECK(!over.error().empty());
  std::vector<std::uint32_t> ms;
  (void)parse_ms_list(text, ms);
  return 0;
}
