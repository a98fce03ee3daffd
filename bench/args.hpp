#pragma once

// The command lines of the benchmarks.

#include "bench/probes.hpp"

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

/// Reads a benchmark's flags as `read_flags` does, with `--dir D` besides
/// (where its run directory goes, see `run_dir`), then makes its run
/// directory `base`. Returns 0, or the exit code of a failure: 2 for the
/// flags (after the usage), 1 for the directory (after why).
template <class OnFlag>
int read_flags_and_run_dir(int argc, char** argv, const char* name,
                           const char* usage, OnFlag on_flag,
                           std::string& base) {
  std::string dir;
  auto known = [&](const std::string& flag, auto& value) {
    if (flag != "--dir")
      return on_flag(flag, value);
    dir = value();
    return true;
  };
  if (!read_flags(argc, argv, usage, known))
    return 2;
  base = run_dir(name, dir);
  return base.empty() ? 1 : 0;
}

} // namespace switchboard::bench
