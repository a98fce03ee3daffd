#pragma once

// Plain sockets on 127.0.0.1 for the tests' own clients and servers.

#include <cstdint>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace switchboard::test {

/// The address 127.0.0.1:`port`.
inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/// Connects `fd` to 127.0.0.1:`port`; false when it cannot.
inline bool connect_loopback(int fd, std::uint16_t port) {
  auto a = loopback(port);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

} // namespace switchboard::test
