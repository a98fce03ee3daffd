#include "app/data_lock.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace switchboard::app {

namespace {

std::string lock_path(const std::string& dir) {
  return dir + "/" + data_dir_lock::file_name;
}

/// The pid written in the lock file open as `fd`, 0 when there is none.
pid_t read_pid(int fd) {
  char buf[32] = {};
  auto n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return 0;
  long pid = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
    pid = pid * 10 + (buf[i] - '0');
  return static_cast<pid_t>(pid);
}

} // namespace

expected<data_dir_lock, std::string>
data_dir_lock::acquire(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_unexpected("cannot create " + dir + ": " + ec.message());
  auto path = lock_path(dir);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_unexpected("cannot open " + path + ": " + std::strerror(errno));
  int rc = -1;
  for (int attempt = 0; attempt < 10; ++attempt) {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
    if (rc == 0 || errno != EWOULDBLOCK)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (rc != 0) {
    auto err = errno;
    std::string msg;
    if (err == EWOULDBLOCK) {
      auto pid = read_pid(fd);
      msg = "the data directory " + dir + " is in use by "
            + (pid > 0 ? "switchboard process " + std::to_string(pid)
                       : std::string{"another switchboard process"})
            + " (it holds " + path
            + "); one daemon per data directory: stop that one first, or "
              "set another [store] path";
    } else {
      msg = "cannot lock " + path + ": " + std::strerror(err);
    }
    ::close(fd);
    return make_unexpected(std::move(msg));
  }
  auto text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0
      || ::pwrite(fd, text.data(), text.size(), 0)
             != static_cast<ssize_t>(text.size())) {
    auto err = errno;
    ::close(fd);
    return make_unexpected("cannot write " + path + ": " + std::strerror(err));
  }
  return data_dir_lock{fd};
}

pid_t data_dir_lock::holder(const std::string& dir) {
  auto path = lock_path(dir);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  pid_t pid = 0;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0)
    ::flock(fd, LOCK_UN);
  else if (errno == EWOULDBLOCK)
    pid = read_pid(fd);
  ::close(fd);
  return pid;
}

data_dir_lock::data_dir_lock(data_dir_lock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

data_dir_lock& data_dir_lock::operator=(data_dir_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

data_dir_lock::~data_dir_lock() {
  if (fd_ >= 0)
    ::close(fd_); // closing the last descriptor releases the flock
}

} // namespace switchboard::app
