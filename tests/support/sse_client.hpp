#pragma once

// A blocking client of one server-sent event stream for integration tests:
// sends a GET, reads the answer's header, then the stream frame by frame
// (plain sockets, a poll per read so that a silent server fails the test
// instead of hanging it).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/loopback.hpp"
namespace switchboard::test {

/// One frame of the stream: an event (id, data), or a comment only.
struct sse_frame {
  std::string id;
  std::string data;
  std::string comment; ///< The text of `:` lines, joined.
  bool is_event() const {
    return !data.empty();
  }
};

class sse_client {
public:
  /// Connects to 127.0.0.1:`port` and sends `GET target` with `headers`;
  /// reads the answer's status and header (status 0: none came).
  sse_client(std::uint16_t port, const std::string& target,
             const std::vector<std::pair<std::string, std::string>>& headers
             = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(20))
      : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (!connect_loopback(fd_, port))
      return;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      + "Accept: text/event-stream\r\n";
    for (const auto& [k, v] : headers)
      req += k + ": " + v + "\r\n";
    req += "\r\n";
    if (::write(fd_, req.data(), req.size())
        != static_cast<ssize_t>(req.size()))
      return;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill())
        return;
    auto head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    auto sp = head.find(' ');
    if (sp == std::string::npos)
      return;
    status = std::stoi(head.substr(sp + 1, 3));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      auto next = head.find("\r\n", pos + 2);
      auto line
          = head.substr(pos + 2, next == std::string::npos ? std::string::npos
                                                           : next - pos - 2);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        for (auto& c : k)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ')
          v.erase(0, 1);
        this->headers[k] = v;
      }
      pos = next;
    }
    // A refusal has a body of known length: read it whole.
    if (auto i = this->headers.find("content-length");
        i != this->headers.end()) {
      auto n = std::stoul(i->second);
      while (buf_.size() < n && fill()) {
      }
      body = buf_.substr(0, n);
    }
  }

  ~sse_client() {
    close();
  }
  sse_client(const sse_client&) = delete;
  sse_client& operator=(const sse_client&) = delete;

  /// The next frame, or nothing when the stream ended (or stayed silent
  /// past the timeout).
  std::optional<sse_frame> next() {
    std::size_t end;
    while ((end = buf_.find("\n\n")) == std::string::npos)
      if (!fill())
        return std::nullopt;
    auto text = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    sse_frame f;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      auto nl = text.find('\n', pos);
      auto line = text.substr(pos, nl == std::string::npos ? std::string::npos
                                                           : nl - pos);
      if (!line.empty() && line.front() == ':')
        f.comment += line.substr(1);
      else if (line.rfind("id: ", 0) == 0)
        f.id = line.substr(4);
      else if (line.rfind("data: ", 0) == 0)
        f.data += line.substr(6);
      if (nl == std::string::npos)
        break;
      pos = nl + 1;
    }
    return f;
  }

  /// The next event frame (comments skipped), or nothing.
  std::optional<sse_frame> next_event() {
    while (auto f = next())
      if (f->is_event())
        return f;
    return std::nullopt;
  }

  /// True when the server ended the stream (a read sees its end); waits
  /// at most the timeout.
  bool ended() {
    while (fill()) {
    }
    return eof_;
  }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  int status = 0;
  std::map<std::string, std::string> headers; ///< Names lower-cased.
  std::string body;                           ///< A refusal's body.

private:
  bool fill() {
    if (fd_ < 0 || eof_)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0)
      return false;
    char tmp[8192];
    auto n = ::read(fd_, tmp, sizeof tmp);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

} // namespace switchboard::test
