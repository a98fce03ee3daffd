#pragma once

// A CRM for the tests, on 127.0.0.1: it refuses every request with 400 (a
// permanent error, so the job calling it fails at once) until `accept()`,
// then answers 200. The sweep and the dashboard tests make failed jobs
// with it.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "tests/support/loopback.hpp"

namespace switchboard::test {

/// A CRM that refuses every request with 400 (a permanent error: the job
/// fails at once) until `accept()`, then answers 200.
class switchable_crm {
public:
  switchable_crm() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = loopback(0);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    BOOST_REQUIRE(::listen(fd_, 16) == 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      run();
    });
  }

  ~switchable_crm() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/crm";
  }

  void accept() {
    accepting_ = true;
  }

private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        continue;
      std::string buf;
      std::size_t want = std::string::npos;
      while (buf.size() < want) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0)
          break;
        char tmp[4096];
        auto got = ::read(c, tmp, sizeof tmp);
        if (got <= 0)
          break;
        buf.append(tmp, static_cast<std::size_t>(got));
        auto head = buf.find("\r\n\r\n");
        if (head != std::string::npos && want == std::string::npos) {
          std::size_t length = 0;
          auto cl = buf.find("ontent-Length:");
          if (cl == std::string::npos)
            cl = buf.find("ontent-length:");
          if (cl != std::string::npos && cl < head)
            length = std::stoul(buf.substr(cl + 14));
          want = head + 4 + length;
        }
      }
      std::string body = accepting_ ? R"({"ok":true})"
                                    : R"({"message":"refused by the test"})";
      std::string answer
          = std::string{accepting_ ? "HTTP/1.1 200 OK"
                                   : "HTTP/1.1 400 Bad "
                                     "Request"}
            + "\r\nContent-Type: application/json\r\nContent-Length: "
            + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n"
            + body;
      auto sent = ::write(c, answer.data(), answer.size());
      (void)sent;
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepting_{false};
  std::thread thread_;
};

} // namespace switchboard::test
