#pragma once

// A WebSocket upgrade request handed over by the HTTP server: the socket,
// the request as read, and the thread (io_context) the connection runs on.

#include <cstddef>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <app/http/server.hpp>

namespace switchboard::app::http {

struct upgrade {
  boost::asio::ip::tcp::socket socket;
  boost::beast::http::request<boost::beast::http::string_body> request;
  std::size_t thread = 0;     ///< Index of the server thread it runs on.
  std::string remote_address; ///< The peer's IP address.
};

} // namespace switchboard::app::http
