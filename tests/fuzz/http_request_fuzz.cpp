// The bytes a socket delivers, through the server's HTTP parser (Beast,
// with the server's header and body limits) and the gateway's router (the
// served routes, read from openapi.yaml, which router_test keeps equal to
// them): no crash, and a match is of the request's method, with one
// percent-decoded value per parameter of its pattern.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <app/http/router.hpp>
#include <app/http/server.hpp>

#include "tests/fuzz/fuzz_check.hpp"

namespace bhttp = boost::beast::http;
using namespace switchboard::app::http;

namespace {

router& routes() {
  static router r;
  return r;
}

/// Adds every path and method of openapi.yaml (`  /path:` then
/// `    get:` ...) to the router.
void load_routes(const char* path) {
  std::ifstream in{path};
  FUZZ_CHECK(in.good());
  std::string line;
  std::string current;
  while (std::getline(in, line)) {
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      current = line.substr(2, line.size() - 3);
      continue;
    }
    if (current.empty() || line.rfind("    ", 0) != 0 || line.size() < 6
        || line[4] == ' ')
      continue;
    auto name = line.substr(4, line.find(':') - 4);
    for (const char* m : {"get", "post", "put", "patch", "delete", "options"})
      if (name == m) {
        std::string method;
        for (char c : name)
          method.push_back(static_cast<char>(c - 'a' + 'A'));
        routes().add(method, current, access::open, [](const context_ptr&) {});
      }
  }
  FUZZ_CHECK(!routes().routes().empty());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  load_routes(SWITCHBOARD_OPENAPI);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  server_options opts; // the server's limits
  bhttp::request_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.body_limit(opts.body_limit);
  parser.header_limit(opts.header_limit);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done())
    return 0;
  const auto& req = parser.get();
  std::string_view target{req.target().data(), req.target().size()};
  auto path = target.substr(0, target.find('?'));
  if (target.find('?') != std::string_view::npos)
    (void)parse_query(target.substr(target.find('?') + 1));
  std::string_view method{req.method_string().data(),
                          req.method_string().size()};
  auto m = routes().match(method, path);
  if (m.what == route_match::kind::found) {
    FUZZ_CHECK(m.found != nullptr);
    FUZZ_CHECK(m.found->method == method);
    std::size_t braces = 0;
    for (char c : m.found->pattern)
      braces += c == '{';
    FUZZ_CHECK(m.params.size() == braces);
  } else if (m.what == route_match::kind::method_not_allowed) {
    FUZZ_CHECK(!m.allow.empty());
  }
  return 0;
}
