#pragma once

// A child process for tests that run the real binaries: started with
// posix_spawn, its stdout and stderr merged into one pipe that the test
// reads line by line, signalled and reaped by the test.

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace switchboard::test {

class child_process {
public:
  /// Starts `argv[0]` with the arguments; throws std::runtime_error when it
  /// cannot be started.
  explicit child_process(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(),
                           environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_fd_ = fds[0];
    if (rc != 0) {
      ::close(out_fd_);
      throw std::runtime_error("cannot start " + argv[0]);
    }
    // A thread of its own reads the pipe all the time, so that a child
    // that writes a lot never blocks on it, whatever the test is doing.
    drain_ = std::thread{[this] {
      drain();
    }};
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    stop_ = true;
    if (drain_.joinable())
      drain_.join();
    if (out_fd_ >= 0)
      ::close(out_fd_);
  }

  pid_t pid() const {
    return pid_;
  }

  /// Reads the next line of output, waiting at most `timeout`. Returns
  /// false on timeout or end of output.
  bool read_line(std::string& line, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mx_};
    // output_ is appended under the lock too: output() reads it from any
    // thread.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        output_ += line + '\n';
        return true;
      }
      if (eof_) {
        if (buf_.empty())
          return false;
        line = std::move(buf_);
        buf_.clear();
        output_ += line + '\n';
        return true;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout
          && buf_.find('\n') == std::string::npos && !eof_)
        return false;
    }
  }

  /// Lines of output so far, read or not (what the child wrote, counted
  /// as it arrives).
  std::size_t lines_written() const {
    std::lock_guard<std::mutex> lock{mx_};
    return lines_;
  }

  /// Reads lines until one contains `needle`; returns it, or "" on timeout.
  std::string wait_for(const std::string& needle,
                       std::chrono::milliseconds timeout
                       = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string line;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_line(line, left))
        return {};
      if (line.find(needle) != std::string::npos)
        return line;
    }
  }

  /// Everything the child wrote so far, read by the test or not, for
  /// failure messages.
  std::string output() const {
    std::lock_guard<std::mutex> lock{mx_};
    return output_ + buf_;
  }

  void signal(int sig) {
    ::kill(pid_, sig);
  }

  /// Waits for the exit; returns the exit code, 128 + signal when killed,
  /// or -1 on timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string line;
    for (;;) {
      int status = 0;
      auto r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        while (read_line(line, std::chrono::milliseconds(50))) {
        }
        if (WIFEXITED(status))
          return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline)
        return -1;
      // Drain output so that the child never blocks on a full pipe.
      read_line(line, std::chrono::milliseconds(20));
    }
  }

private:
  /// Unread output kept at most (the oldest goes first beyond it).
  static constexpr std::size_t max_unread = 64 * 1024 * 1024;

  void drain() {
    char tmp[65536];
    for (;;) {
      // Polled, so that the destructor can end it when a grandchild
      // still holds the pipe open.
      pollfd p{out_fd_, POLLIN, 0};
      auto r = ::poll(&p, 1, 100);
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0) {
        if (stop_)
          return;
        continue;
      }
      auto n = ::read(out_fd_, tmp, sizeof tmp);
      if (n < 0 && errno == EINTR)
        continue;
      std::lock_guard<std::mutex> lock{mx_};
      if (n <= 0) {
        eof_ = true;
        cv_.notify_all();
        return;
      }
      for (ssize_t i = 0; i < n; ++i)
        lines_ += tmp[i] == '\n' ? 1 : 0;
      buf_.append(tmp, static_cast<size_t>(n));
      if (buf_.size() > max_unread)
        buf_.erase(0, buf_.size() - max_unread);
      cv_.notify_all();
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  mutable std::mutex mx_;
  std::condition_variable cv_;
  std::thread drain_;
  bool eof_ = false;
  std::atomic<bool> stop_{false};
  std::size_t lines_ = 0;
  std::string buf_;
  std::string output_;
};

/// A fresh directory under /tmp, removed with its contents on destruction.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/switchboard-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

} // namespace switchboard::test
