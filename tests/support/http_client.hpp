#pragma once

// A tiny blocking HTTP/1.1 client for integration tests (Boost.Beast):
// keeps one keep-alive connection, reconnects when the server closed it.
// With SWITCHBOARD_RESPONSE_LOG naming a directory, every answer is also
// appended there as one JSON line (tests/app/openapi/check_responses.py
// checks them against openapi.yaml).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace switchboard::test {

/// One answer.
struct http_reply {
  int status = 0; ///< 0: no answer (connection closed or timed out).
  std::string body;
  std::map<std::string, std::string> headers; ///< Names lower-cased.
  bool closed = false; ///< The server asked to close (or closed).

  boost::json::value json() const {
    std::error_code ec;
    auto v = boost::json::parse(body, ec);
    return ec ? boost::json::value{} : v;
  }
  std::string header(const std::string& name) const {
    auto i = headers.find(name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

/// Appends one answer to `$SWITCHBOARD_RESPONSE_LOG/responses-<pid>.jsonl`
/// as {method, target, status, content_type, body}; does nothing when the
/// variable is unset or the answer is none. One file per process, one
/// line per write under a lock: parallel tests never mix their lines.
inline void log_response(const std::string& method, const std::string& target,
                         const http_reply& r) {
  static const char* dir = std::getenv("SWITCHBOARD_RESPONSE_LOG");
  if (dir == nullptr || *dir == '\0' || r.status == 0)
    return;
  boost::json::object line;
  line["method"] = method;
  line["target"] = target;
  line["status"] = r.status;
  line["content_type"] = r.header("content-type");
  line["body"] = r.body;
  auto text = boost::json::serialize(line) + "\n";
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  auto path = std::string{dir} + "/responses-" + std::to_string(::getpid())
              + ".jsonl";
  if (auto* f = std::fopen(path.c_str(), "a")) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
}

class http_client {
public:
  explicit http_client(std::uint16_t port, std::chrono::milliseconds timeout
                                           = std::chrono::seconds(20))
      : port_(port), timeout_(timeout) {}

  /// Sends one request; `token` non-empty adds a bearer Authorization.
  http_reply
  request(const std::string& method, const std::string& target,
          const std::string& body = {}, const std::string& token = {},
          std::vector<std::pair<std::string, std::string>> extra = {}) {
    namespace bhttp = boost::beast::http;
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::user_agent, "switchboard-test");
    if (!token.empty())
      req.set(bhttp::field::authorization, "Bearer " + token);
    if (!body.empty())
      req.set(bhttp::field::content_type, "application/json");
    for (auto& [k, v] : extra)
      req.set(k, v);
    req.body() = body;
    req.keep_alive(true);
    req.prepare_payload();
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!sock_ && !connect())
        return {};
      boost::system::error_code ec;
      bhttp::write(*sock_, req, ec);
      if (!ec) {
        auto r = read_reply();
        if (r.status != 0 || attempt == 1) {
          if (r.closed || r.status == 0)
            sock_.reset();
          log_response(method, target, r);
          return r;
        }
      }
      sock_.reset(); // stale keep-alive connection: reconnect once
    }
    return {};
  }

  /// Sends raw bytes on a fresh connection and reads one answer.
  http_reply raw(const std::string& bytes) {
    sock_.reset();
    if (!connect())
      return {};
    boost::system::error_code ec;
    boost::asio::write(*sock_, boost::asio::buffer(bytes), ec);
    auto r = read_reply();
    sock_.reset();
    // The request line names the method and target ("" when malformed).
    auto line = bytes.substr(0, bytes.find_first_of("\r\n"));
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 != std::string::npos)
      log_response(line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1), r);
    else
      log_response("", "", r);
    return r;
  }

  /// Opens a connection without sending (for connection-limit tests).
  boost::asio::ip::tcp::socket open_idle() {
    boost::asio::ip::tcp::socket s{ioc_};
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    set_timeout(s);
    buf_.clear();
    return s;
  }

  /// Reads one answer from `s` (e.g. after open_idle).
  http_reply read_from(boost::asio::ip::tcp::socket& s) {
    return read_reply_on(s);
  }

private:
  void set_timeout(boost::asio::ip::tcp::socket& s) {
    timeval tv{};
    tv.tv_sec = timeout_.count() / 1000;
    tv.tv_usec = (timeout_.count() % 1000) * 1000;
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  /// Connects; false when nothing listens.
  bool connect() {
    sock_.emplace(ioc_);
    boost::system::error_code ec;
    sock_->connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    if (ec) {
      sock_.reset();
      return false;
    }
    set_timeout(*sock_);
    buf_.clear();
    return true;
  }

  http_reply read_reply() {
    return read_reply_on(*sock_);
  }

  http_reply read_reply_on(boost::asio::ip::tcp::socket& s) {
    namespace bhttp = boost::beast::http;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 << 20);
    boost::system::error_code ec;
    bhttp::read(s, buf_, parser, ec);
    http_reply r;
    if (ec) {
      r.closed = true;
      return r;
    }
    auto msg = parser.release();
    r.status = static_cast<int>(msg.result_int());
    r.body = msg.body();
    for (const auto& f : msg) {
      std::string name{f.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string{f.value()};
    }
    r.closed = !msg.keep_alive();
    return r;
  }

  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::ip::tcp::socket> sock_;
  boost::beast::flat_buffer buf_;
};

} // namespace switchboard::test
