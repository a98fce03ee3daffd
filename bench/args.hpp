#pragma once

// The command lines of the benchmarks.

#include "bench/probes.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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

/// One flag of a benchmark: its spelling, the name of its value in the
/// usage (nullptr for a switch, which takes no value) and what it does
/// with its value.
struct flag {
  std::string name;
  const char* value_name;
  std::function<void(const std::string&)> take;

  /// A switch: `on()` when it is given.
  flag(std::string name, std::function<void()> on)
      : name{std::move(name)},
        value_name{nullptr}, take{[on = std::move(on)](const std::string&) {
          on();
        }} {}

  /// A flag that takes a value, `value_name` in the usage.
  flag(std::string name, const char* value_name,
       std::function<void(const std::string&)> take)
      : name{std::move(name)}, value_name{value_name}, take{std::move(take)} {}
};

/// What a switch does that turns `on` on.
inline auto set_true(bool& on) {
  return [&on] {
    on = true;
  };
}

/// What a flag does that reads a number of seconds or the like into `out`
/// (std::atof: what is not a number reads as 0).
inline auto set_real(double& out) {
  return [&out](const std::string& text) {
    out = std::atof(text.c_str());
  };
}

/// What a flag does that reads a count into `out` (std::strtoull: what is
/// not a number reads as 0), at least `least`.
inline auto set_count(std::uint64_t& out, std::uint64_t least = 0) {
  return [&out, least](const std::string& text) {
    out = std::max<std::uint64_t>(least,
                                  std::strtoull(text.c_str(), nullptr, 10));
  };
}

/// What a flag does that reads an int into `out` (std::atoi: what is not a
/// number reads as 0), at least `least` before it becomes a T.
template <class T>
auto set_int(T& out, int least) {
  return [&out, least](const std::string& text) {
    out = static_cast<T>(std::max(least, std::atoi(text.c_str())));
  };
}

/// "[--quick] [--seconds S] ... [--dir D]": the usage of a benchmark that
/// takes `flags` and `--dir D`, in that order.
inline std::string usage_of(const std::vector<flag>& flags) {
  std::string usage;
  for (const auto& f : flags) {
    usage += "[" + f.name;
    if (f.value_name != nullptr)
      usage += std::string{" "} + f.value_name;
    usage += "] ";
  }
  return usage + "[--dir D]";
}

/// Reads a benchmark's `flags` as `read_flags` does (a flag with a value
/// name reads the value that follows it), with `--dir D` besides (where
/// its run directory goes, see `run_dir`), and returns the run directory
/// it makes. A flag it does not know gets "usage: <argv[0]> <usage_of
/// flags>" on stderr and exit 2; a directory it cannot make, why and
/// exit 1.
inline std::string read_flags_and_run_dir(int argc, char** argv,
                                          const char* name,
                                          const std::vector<flag>& flags) {
  std::string dir;
  auto known = [&](const std::string& a, auto& value) {
    if (a == "--dir") {
      dir = value();
      return true;
    }
    auto f = std::find_if(flags.begin(), flags.end(), [&](const flag& f) {
      return f.name == a;
    });
    if (f == flags.end())
      return false;
    f->take(f->value_name != nullptr ? value() : std::string{});
    return true;
  };
  if (!read_flags(argc, argv, usage_of(flags).c_str(), known))
    std::exit(2);
  auto base = run_dir(name, dir);
  if (base.empty())
    std::exit(1);
  return base;
}

} // namespace switchboard::bench
