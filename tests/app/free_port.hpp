#pragma once

// A port for a daemon or a test server to listen on later.

#include <cstdint>
#include <mutex>
#include <random>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace switchboard::test {

/// A free TCP port on 127.0.0.1 for a daemon to listen on later. Taken
/// below the kernel's ephemeral range (32768 and up on Linux): a port the
/// kernel hands out for `bind(0)` may go to the next outgoing connection
/// of any process before the daemon binds it, and the tests open many.
/// Never the same port twice in one process: a fixture takes several ports
/// before it starts anything on them (a cluster's ports, then each
/// member's HTTP port), and a port taken but not yet bound still passes
/// the bind check.
inline std::uint16_t free_tcp_port() {
  static std::mutex mtx;
  static std::set<std::uint16_t> given;
  static std::mt19937 rng{std::random_device{}()};
  std::lock_guard<std::mutex> guard{mtx};
  std::uniform_int_distribution<int> pick{20000, 32000};
  boost::asio::io_context ioc;
  for (int i = 0; i < 1000; ++i) {
    auto port = static_cast<std::uint16_t>(pick(rng));
    if (given.count(port) > 0)
      continue;
    boost::system::error_code ec;
    boost::asio::ip::tcp::acceptor a{ioc};
    a.open(boost::asio::ip::tcp::v4(), ec);
    if (!ec)
      a.bind({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) {
      given.insert(port);
      return port;
    }
  }
  boost::asio::ip::tcp::acceptor a{
      ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

} // namespace switchboard::test
