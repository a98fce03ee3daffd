#pragma once

// A tiny HTTP/1.1 server on 127.0.0.1 for tests that play a provider
// (Cal.com, a CRM, an SMS gateway): each request is recorded and answered
// by a script. Plain sockets, a thread per connection.

#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/loopback.hpp"
namespace switchboard::test {

/// A listening socket on 127.0.0.1 (`port` 0: any free port).
inline int listen_on(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto addr = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::listen(fd, 64) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  return fd;
}

inline std::uint16_t port_of(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

/// Whether `fd` has something to read (or its peer closed) within
/// `timeout_ms`.
inline bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

/// Reads from `fd` into `buf` while `more(buf)` holds; false when the peer
/// closes first or when `stop` is set.
template <class Predicate>
bool read_while(int fd, std::string& buf, const std::atomic<bool>& stop,
                Predicate more) {
  while (more(buf)) {
    if (!readable(fd, 20)) {
      if (stop)
        return false;
      continue;
    }
    char tmp[4096];
    auto n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0)
      return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads from `fd` until `buf` holds `needle` or the peer closes; false on
/// close or when `stop` is set.
inline bool read_until(int fd, std::string& buf, const std::string& needle,
                       const std::atomic<bool>& stop) {
  return read_while(fd, buf, stop, [&needle](const std::string& b) {
    return b.find(needle) == std::string::npos;
  });
}

inline void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    off += static_cast<std::size_t>(n);
  }
}

/// Accepts connections on its own thread; each runs `handle` on a thread
/// of its own. Stops and joins in the destructor.
class tcp_server {
public:
  using handler = std::function<void(int fd, const std::atomic<bool>& stop)>;

  tcp_server(handler h, std::uint16_t port = 0)
      : fd_(listen_on(port)), port_(port_of(fd_)), handle_(std::move(h)) {
    thread_ = std::thread([this] {
      loop();
    });
  }

  ~tcp_server() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_)
      t.join();
    ::close(fd_);
  }

  std::uint16_t port() const {
    return port_;
  }

private:
  void loop() {
    while (!stop_) {
      if (!readable(fd_, 20))
        continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      conns_.emplace_back([this, c] {
        handle_(c, stop_);
        ::close(c);
      });
    }
  }

  int fd_;
  std::uint16_t port_;
  handler handle_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

/// What a test server got, in order: added to by its connection threads,
/// read by the test.
template <class Record>
class record_list {
public:
  /// Appends `r`; returns how many records there are now.
  int add(Record r) {
    std::lock_guard<std::mutex> guard{mtx_};
    records_.push_back(std::move(r));
    return static_cast<int>(records_.size());
  }

  std::vector<Record> all() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return records_;
  }

private:
  mutable std::mutex mtx_;
  std::vector<Record> records_;
};

/// One request an HTTP server got.
struct http_record {
  std::string method, target, body;
  std::map<std::string, std::string> headers; ///< Lowercase names.
};

/// How the HTTP server answers: a status and body, or a hang (no answer
/// until the client gives up).
struct http_answer {
  int status = 200;
  std::string body = R"({"status":"success"})";
  bool hang = false;
  /// More header fields (e.g. Retry-After).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

/// Selects the constructor whose script also reads the request.
struct by_request_t {};
constexpr by_request_t by_request{};

/// A tiny HTTP/1.1 server: one request per connection, recorded, answered
/// by `script(n)` for the n-th request (1-based).
class http_server {
public:
  explicit http_server(std::function<http_answer(int)> script,
                       std::uint16_t port = 0)
      : http_server(
          by_request,
          [script](const http_record&, int n) {
            return script(n);
          },
          port) {}

  /// Answers by `script(request, n)`.
  http_server(by_request_t,
              std::function<http_answer(const http_record&, int)> script,
              std::uint16_t port = 0)
      : st_(std::make_shared<record_list<http_record>>()),
        server_(
            [st = st_, script](int fd, const std::atomic<bool>& stop) {
              serve(fd, stop, *st, script);
            },
            port) {}

  std::uint16_t port() const {
    return server_.port();
  }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  std::vector<http_record> requests() const {
    return st_->all();
  }

private:
  static void
  serve(int fd, const std::atomic<bool>& stop, record_list<http_record>& st,
        const std::function<http_answer(const http_record&, int)>& script) {
    std::string buf;
    if (!read_until(fd, buf, "\r\n\r\n", stop))
      return;
    auto head_end = buf.find("\r\n\r\n");
    http_record r;
    std::string head = buf.substr(0, head_end);
    auto line_end = head.find("\r\n");
    auto request_line = head.substr(0, line_end);
    auto sp1 = request_line.find(' ');
    auto sp2 = request_line.find(' ', sp1 + 1);
    r.method = request_line.substr(0, sp1);
    r.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos
        = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto end = head.find("\r\n", pos);
      if (end == std::string::npos)
        end = head.size();
      auto line = head.substr(pos, end - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto name = line.substr(0, colon);
        for (auto& ch : name)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
          value.erase(0, 1);
        r.headers[name] = value;
      }
      pos = end + 2;
    }
    std::size_t length = 0;
    if (auto i = r.headers.find("content-length"); i != r.headers.end())
      length = std::stoul(i->second);
    r.body = buf.substr(head_end + 4);
    if (!read_while(fd, r.body, stop, [length](const std::string& b) {
          return b.size() < length;
        }))
      return;
    auto answer = script(r, st.add(r));
    if (answer.hang) {
      // Wait until the client gives up (closes) or the server stops.
      std::string ignored;
      read_until(fd, ignored, "\x01never", stop);
      return;
    }
    std::string extra;
    for (const auto& [k, v] : answer.headers)
      extra += k + ": " + v + "\r\n";
    write_all(fd, "HTTP/1.1 " + std::to_string(answer.status)
                      + " Whatever\r\nContent-Type: application/json\r\n"
                      + extra
                      + "Content-Length: " + std::to_string(answer.body.size())
                      + "\r\nConnection: close\r\n\r\n" + answer.body);
  }

  std::shared_ptr<record_list<http_record>> st_;
  tcp_server server_;
};

} // namespace switchboard::test
