#pragma once

// A small WebSocket client for integration tests (Boost.Beast): connects,
// reads every frame on its own thread into a queue, and lets the test wait
// for the next frame, a frame of some Pusher event, or the close, each
// with a timeout. Sends are queued to the same thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace switchboard::test {

class ws_client {
public:
  using frame = boost::json::object;

  /// Connects to 127.0.0.1:`port` and upgrades at `target`; `origin`, when
  /// set, is sent as the Origin header. `ok()` tells whether it worked.
  /// With `reading` false nothing is read (and the socket's receive
  /// buffer is small) until `resume`: a slow consumer.
  ws_client(std::uint16_t port, std::string target, std::string origin = {},
            bool reading = true)
      : ws_(ioc_) {
    namespace websocket = boost::beast::websocket;
    boost::system::error_code ec;
    ws_.next_layer().open(boost::asio::ip::tcp::v4(), ec);
    if (!reading)
      ws_.next_layer().set_option(
          boost::asio::socket_base::receive_buffer_size(4096), ec);
    ws_.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port},
                             ec);
    if (ec)
      return;
    ws_.set_option(websocket::stream_base::decorator(
        [origin](websocket::request_type& req) {
          if (!origin.empty())
            req.set(boost::beast::http::field::origin, origin);
        }));
    websocket::response_type res;
    ws_.handshake(res, "127.0.0.1", target, ec);
    status_ = static_cast<int>(res.result_int());
    if (ec)
      return;
    ok_ = true;
    ws_.control_callback(
        [this](websocket::frame_type kind, boost::beast::string_view) {
          if (kind == websocket::frame_type::pong) {
            std::lock_guard<std::mutex> g{mtx_};
            ++pongs_;
          }
        });
    if (reading)
      read_next();
    work_.emplace(ioc_.get_executor());
    thread_ = std::thread{[this] {
      ioc_.run();
    }};
  }

  /// Starts reading (after `reading` false).
  void resume() {
    boost::asio::post(ioc_, [this] {
      read_next();
    });
  }

  ~ws_client() {
    if (thread_.joinable()) {
      work_.reset();
      boost::asio::post(ioc_, [this] {
        boost::system::error_code ignored;
        ws_.next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both,
                                  ignored);
        ws_.next_layer().close(ignored);
      });
      thread_.join();
    }
  }

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// True once the handshake succeeded.
  bool ok() const noexcept {
    return ok_;
  }
  /// The HTTP status of the handshake's answer (101 when upgraded).
  int status() const noexcept {
    return status_;
  }

  /// Sends one text frame.
  void send(std::string text) {
    boost::asio::post(ioc_, [this, text = std::move(text)]() mutable {
      out_.push_back(std::move(text));
      if (out_.size() == 1)
        write_next();
    });
  }

  /// Sends a WebSocket ping frame (a control frame, not pusher:ping); one
  /// at a time, as Beast allows.
  void ping() {
    boost::asio::post(ioc_, [this] {
      if (pings_waiting_++ == 0)
        ping_next();
    });
  }

  /// WebSocket pong frames received so far.
  int pongs() {
    std::lock_guard<std::mutex> g{mtx_};
    return pongs_;
  }

  /// Sends `{"event": event, "data": data}` (data as given).
  void send_event(const std::string& event, boost::json::value data) {
    boost::json::object o;
    o["event"] = event;
    o["data"] = std::move(data);
    send(boost::json::serialize(o));
  }

  /// The next frame's text, or nothing within `timeout` (or once closed).
  std::optional<std::string> next_text(std::chrono::milliseconds timeout
                                       = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> g{mtx_};
    cv_.wait_for(g, timeout, [this] {
      return !frames_.empty() || closed_;
    });
    if (frames_.empty())
      return std::nullopt;
    auto f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }

  /// The next frame, parsed; a string `data` holding JSON is parsed too
  /// (as pusher-js does) into "data_json".
  std::optional<frame> next(std::chrono::milliseconds timeout
                            = std::chrono::seconds(5)) {
    auto t = next_text(timeout);
    if (!t)
      return std::nullopt;
    std::error_code ec;
    auto v = boost::json::parse(*t, ec);
    if (ec || !v.is_object())
      return frame{{"unparsed", *t}};
    auto o = v.as_object();
    if (auto d = o.find("data"); d != o.end() && d->value().is_string()) {
      auto inner = boost::json::parse(d->value().as_string(), ec);
      if (!ec)
        o["data_json"] = inner;
    } else if (d != o.end()) {
      o["data_json"] = d->value();
    }
    return o;
  }

  /// Frames until one of `event` (others are kept in `skipped`), or
  /// nothing within `timeout`.
  std::optional<frame> next_event(const std::string& event,
                                  std::chrono::milliseconds timeout
                                  = std::chrono::seconds(5)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return std::nullopt;
      auto f = next(left);
      if (!f)
        return std::nullopt;
      if (auto e = f->find("event"); e != f->end() && e->value().is_string()
                                     && e->value().as_string() == event)
        return f;
      skipped.push_back(*f);
    }
  }

  /// Waits for the connection to close; returns the close code the server
  /// sent (0: none, -1: still open after `timeout`).
  int wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> g{mtx_};
    if (!cv_.wait_for(g, timeout, [this] {
          return closed_;
        }))
      return -1;
    return close_code_;
  }

  std::string close_reason() {
    std::lock_guard<std::mutex> g{mtx_};
    return close_reason_;
  }

  /// The socket id of pusher:connection_established (read first).
  std::string establish() {
    auto f = next_event("pusher:connection_established");
    if (!f)
      return {};
    return std::string{f->at("data_json").at("socket_id").as_string()};
  }

  std::vector<frame> skipped; ///< Frames passed over by next_event.

private:
  void read_next() {
    ws_.async_read(buf_, [this](boost::system::error_code ec, std::size_t) {
      std::lock_guard<std::mutex> g{mtx_};
      if (ec) {
        closed_ = true;
        close_code_ = ws_.reason().code;
        close_reason_ = std::string{ws_.reason().reason.c_str()};
        cv_.notify_all();
        return;
      }
      frames_.push_back(boost::beast::buffers_to_string(buf_.data()));
      buf_.consume(buf_.size());
      cv_.notify_all();
      read_next();
    });
  }

  void ping_next() {
    ws_.async_ping({}, [this](boost::system::error_code ec) {
      if (!ec && --pings_waiting_ > 0)
        ping_next();
    });
  }

  void write_next() {
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(out_.front()),
                    [this](boost::system::error_code ec, std::size_t) {
                      out_.pop_front();
                      if (!ec && !out_.empty())
                        write_next();
                    });
  }

  boost::asio::io_context ioc_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  std::thread thread_;
  bool ok_ = false;
  int status_ = 0;
  int pongs_ = 0;
  int pings_waiting_ = 0; ///< On the client's thread.
  boost::beast::flat_buffer buf_;
  std::deque<std::string> out_; // on the client's thread
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::string> frames_;
  bool closed_ = false;
  int close_code_ = 0;
  std::string close_reason_;
};

} // namespace switchboard::test
