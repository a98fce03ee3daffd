#pragma once

// One daemon per data directory: an exclusive flock(2) on a lock file in
// the directory, taken before LMDB opens it.

#include <string>
#include <sys/types.h>

#include <messages/expected.hpp>

namespace switchboard::app {

/// The exclusive lock of a data directory (`[store] path`): flock(2) on
/// `<dir>/switchboard.lock`, which holds the pid of its holder. The kernel
/// releases it when the holder ends, however it ends; the file stays (its
/// presence means nothing, only the lock does). `switchboard serve` holds
/// it from before LMDB opens until after LMDB is closed, so that a second
/// daemon on the same directory refuses to start: two daemons would each
/// decide stream versions from their own memory and acknowledge writes
/// that contradict each other.
class data_dir_lock {
public:
  /// The lock file's name inside the data directory.
  static constexpr const char* file_name = "switchboard.lock";

  /// Creates `dir` when missing, takes the lock without waiting long (a
  /// few tries over about 200 ms, so that a `holder` probe does not make a
  /// start fail) and writes this process's pid into the file. The error
  /// names the directory and the pid of the process that holds the lock.
  static expected<data_dir_lock, std::string> acquire(const std::string& dir);

  /// The pid of the process that holds the lock of `dir`, 0 when none
  /// does (or the directory has no lock file). A probe: it takes a shared
  /// lock for a moment when it is free.
  static pid_t holder(const std::string& dir);

  data_dir_lock(data_dir_lock&& other) noexcept;
  data_dir_lock& operator=(data_dir_lock&& other) noexcept;
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

  /// Releases the lock.
  ~data_dir_lock();

private:
  explicit data_dir_lock(int fd) noexcept : fd_(fd) {}

  int fd_ = -1;
};

} // namespace switchboard::app
