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

} // namespace switchboard::bench
