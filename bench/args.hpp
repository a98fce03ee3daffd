#pragma once

// The command lines of the benchmarks.

#include <cstdio>
#include <cstdlib>
#include <string>

namespace switchboard::bench {

/// The value of the flag argv[i], which follows it (`i` moves to it).
/// Without one: "<prefix><flag> needs a value" on stderr and exit 2.
inline std::string flag_value(int argc, char** argv, int& i,
                              const char* prefix = "") {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "%s%s needs a value\n", prefix, argv[i]);
    std::exit(2);
  }
  return argv[++i];
}

/// Reads the flags argv[1..]: `on_flag(flag, value)` takes each one,
/// where `value()` reads the value that follows it (`flag_value`), and
/// returns false for a flag it does not know. Then "usage: <argv[0]>
/// <usage>" goes to stderr and this returns false.
template <class OnFlag>
bool read_flags(int argc, char** argv, const char* usage, OnFlag on_flag,
                const char* prefix = "") {
  for (int i = 1; i < argc; ++i) {
    auto value = [&] {
      return flag_value(argc, argv, i, prefix);
    };
    if (!on_flag(std::string{argv[i]}, value)) {
      std::fprintf(stderr, "usage: %s %s\n", argv[0], usage);
      return false;
    }
  }
  return true;
}

} // namespace switchboard::bench
