#pragma once

// What the load generators share about their connections and threads:
// a TCP connection to the daemon on 127.0.0.1, and one thread per
// io_context that runs it until told to stop.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <cstdint>
#include <thread>
#include <vector>

namespace switchboard::bench {

/// Connects `s` to 127.0.0.1:`port` with Nagle's algorithm off; false
/// when it cannot.
inline bool connect_loopback(boost::beast::tcp_stream& s, std::uint16_t port) {
  boost::beast::error_code ec;
  s.socket().connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (!ec)
    s.socket().set_option(boost::asio::ip::tcp::no_delay(true), ec);
  return !ec;
}

/// One thread per io_context, each running it (kept alive by a work
/// guard while it has nothing to do) until `stop`.
class io_runners {
public:
  /// `contexts`: pointers to the objects whose `ioc` member to run.
  template <class Contexts>
  explicit io_runners(Contexts& contexts) {
    for (auto& c : contexts) {
      auto& ioc = c->ioc;
      guards_.push_back(boost::asio::make_work_guard(ioc));
      iocs_.push_back(&ioc);
      threads_.emplace_back([&ioc] {
        ioc.run();
      });
    }
  }

  io_runners(const io_runners&) = delete;
  io_runners& operator=(const io_runners&) = delete;

  ~io_runners() {
    stop();
  }

  /// Stops every io_context and joins its thread.
  void stop() {
    guards_.clear();
    for (auto* ioc : iocs_)
      ioc->stop();
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

private:
  std::vector<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      guards_;
  std::vector<boost::asio::io_context*> iocs_;
  std::vector<std::thread> threads_;
};

} // namespace switchboard::bench
