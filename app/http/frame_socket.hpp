#pragma once

// The socket a broadcasting connection (app/http/broadcast_session.cpp)
// runs Beast's WebSocket stream over, so that the session can write its
// own frames past the stream. Private to the broadcasting sources.

#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace switchboard::app::http {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace broadcasting_detail {

/// The session's socket under Beast's WebSocket stream. Two writers share
/// it: the session, which writes its frames (already framed, shared by
/// every subscriber) past the stream, and the stream itself, which writes
/// the pong it answers a ping with and the close. Frames must not
/// interleave, so a write of the stream that comes while a frame of the
/// session is part-written is parked until the frame is whole, and the
/// session starts no write while one of the stream's is under way.
class frame_socket {
public:
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;

  explicit frame_socket(tcp::socket s) : sock_(std::move(s)) {}

  executor_type get_executor() noexcept {
    return sock_.get_executor();
  }
  tcp::socket& next_layer() noexcept {
    return sock_;
  }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& b, Handler&& h) {
    sock_.async_read_some(b, std::forward<Handler>(h));
  }

  /// The stream's writes.
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& b, Handler&& h) {
    using impl = parked_write<Buffers, std::decay_t<Handler>>;
    auto w = std::make_unique<impl>(b, std::forward<Handler>(h));
    if (frame_open_) {
      parked_ = std::move(w);
      return;
    }
    w->start(*this);
  }

  /// True while a frame of the session is part-written (the session sets
  /// and clears it at frame boundaries).
  void frame_open(bool open) {
    frame_open_ = open;
    if (!open && parked_) {
      auto w = std::move(parked_);
      w->start(*this);
    }
  }

  /// True while a write of the stream is under way: the session waits.
  bool stream_writing() const noexcept {
    return stream_writing_;
  }

  /// Runs `f` once the stream's write is done (at once when none is).
  void when_idle(std::function<void()> f) {
    if (!stream_writing_ && !parked_) {
      f();
      return;
    }
    on_idle_ = std::move(f);
  }

private:
  struct parked_base {
    virtual ~parked_base() = default;
    virtual void start(frame_socket& s) = 0;
  };
  template <class Buffers, class Handler>
  struct parked_write : parked_base {
    parked_write(const Buffers& b, Handler h) : b(b), h(std::move(h)) {}
    void start(frame_socket& s) override {
      s.stream_writing_ = true;
      s.sock_.async_write_some(
          b,
          [&s, h = std::move(h)](beast::error_code ec, std::size_t n) mutable {
            s.stream_writing_ = false;
            h(ec, n); // may write again (the rest of the same frame)
            if (!s.stream_writing_ && !s.parked_ && s.on_idle_) {
              auto f = std::move(s.on_idle_);
              s.on_idle_ = nullptr;
              f();
            }
          });
    }
    Buffers b;
    Handler h;
  };

  tcp::socket sock_;
  std::unique_ptr<parked_base> parked_;
  std::function<void()> on_idle_;
  bool frame_open_ = false;
  bool stream_writing_ = false;
};

/// Beast's closing handshake ends by tearing the socket beneath down.
template <class Handler>
void async_teardown(beast::role_type role, frame_socket& s, Handler&& handler) {
  websocket::async_teardown(role, s.next_layer(),
                            std::forward<Handler>(handler));
}

} // namespace broadcasting_detail

} // namespace switchboard::app::http
