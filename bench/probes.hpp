#pragma once

// What the benchmarks measure besides time: CPU per thread and per
// process, and bytes written, read from /proc.

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace switchboard::bench {

using clock_type = std::chrono::steady_clock;

/// Bytes this process has written with write(2)/pwrite(2) so far.
inline std::uint64_t written_bytes() {
  std::FILE* f = std::fopen("/proc/self/io", "r");
  if (f == nullptr)
    return 0;
  char line[128];
  unsigned long long n = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "wchar: %llu", &n) == 1)
      break;
  std::fclose(f);
  return n;
}

/// CPU seconds used so far by this process's threads whose name starts
/// with `name`.
inline double thread_cpu(const char* name) {
  double total = 0;
  std::error_code ec;
  for (auto& task :
       std::filesystem::directory_iterator("/proc/self/task", ec)) {
    auto dir = task.path().string();
    std::FILE* f = std::fopen((dir + "/comm").c_str(), "r");
    if (f == nullptr)
      continue;
    char comm[64] = {};
    auto ok = std::fgets(comm, sizeof comm, f) != nullptr;
    std::fclose(f);
    if (!ok || std::strncmp(comm, name, std::strlen(name)) != 0)
      continue;
    f = std::fopen((dir + "/stat").c_str(), "r");
    if (f == nullptr)
      continue;
    char buf[1024];
    auto n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    // Fields after the ")" that ends comm: utime is the 12th, stime 13th.
    auto p = std::strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (p != nullptr
        && std::sscanf(p + 2,
                       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                       &utime, &stime)
               == 2)
      total += static_cast<double>(utime + stime)
               / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return total;
}

/// CPU seconds used so far by the whole process.
inline double process_cpu() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

inline double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// The directory a run writes to: a fresh one under /tmp named after the
/// benchmark, or `<dir>/<name>` emptied when `dir` is given. Empty (after
/// printing why) when it cannot be made.
inline std::string run_dir(const char* name, const std::string& dir) {
  if (dir.empty()) {
    std::string tmpl = std::string{"/tmp/"} + name + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return {};
    }
    return tmpl;
  }
  auto base = dir + "/" + name;
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  std::filesystem::create_directories(base, ec);
  if (ec) {
    std::fprintf(stderr, "%s: %s\n", base.c_str(), ec.message().c_str());
    return {};
  }
  return base;
}

} // namespace switchboard::bench
