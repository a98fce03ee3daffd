// `switchboard cluster status`: the members of the cluster as the local
// daemon sees them, from its GET /api/admin/cluster.

#include <cstdlib>
#include <iostream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <app/cli_common.hpp>
#include <app/cli_tools.hpp>

namespace switchboard::app {

namespace {

constexpr const char* cluster_usage
    = R"(usage: switchboard cluster status [--url URL] [--token TOKEN] [--json]
       (also takes --config FILE and --set section.key=value)

Asks the daemon (--url, else http://{http.host}:{http.port} of the
configuration) for GET /api/admin/cluster with an admin token (--token,
else $SWITCHBOARD_TOKEN), and prints each member: up or down, for how
long, and the companies it owns; then the requests forwarded. --json
prints the answer as it came.
)";

} // namespace

int run_cluster(const std::vector<std::string>& args) {
  auto a = cli::parse_args(args, {"--url", "--token"}, {"--json", "--help"});
  if (!a) {
    std::cerr << "switchboard cluster: " << a.error() << '\n';
    return 2;
  }
  if (a->switches.count("--help") > 0) {
    std::cout << cluster_usage;
    return 0;
  }
  if (a->common.rest.size() != 1 || a->common.rest[0] != "status") {
    std::cerr << cluster_usage;
    return 2;
  }
  auto cfg = load_config(a->common);
  if (!cfg) {
    std::cerr << "switchboard cluster: invalid configuration:\n"
              << to_string(cfg.error()) << '\n';
    return 2;
  }
  std::string token = a->values.count("--token") > 0 ? a->values["--token"]
                      : std::getenv("SWITCHBOARD_TOKEN") != nullptr
                          ? std::getenv("SWITCHBOARD_TOKEN")
                          : "";
  if (token.empty()) {
    std::cerr << "switchboard cluster: an admin token is needed (--token or "
                 "$SWITCHBOARD_TOKEN)\n";
    return 2;
  }
  std::string host = cfg->get_string("http.host");
  std::string port = std::to_string(cfg->get_int("http.port"));
  if (a->values.count("--url") > 0) {
    std::string url = a->values["--url"];
    constexpr std::string_view scheme = "http://";
    if (url.compare(0, scheme.size(), scheme) != 0) {
      std::cerr << "switchboard cluster: --url must be http://host:port\n";
      return 2;
    }
    url.erase(0, scheme.size());
    while (!url.empty() && url.back() == '/')
      url.pop_back();
    auto colon = url.rfind(':');
    host = url.substr(0, colon);
    port = colon == std::string::npos ? "80" : url.substr(colon + 1);
  }
  namespace asio = boost::asio;
  namespace bhttp = boost::beast::http;
  bhttp::response<bhttp::string_body> res;
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver{ioc};
    asio::ip::tcp::socket sock{ioc};
    asio::connect(sock, resolver.resolve(host, port));
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get,
                                          "/api/admin/cluster", 11};
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::authorization, "Bearer " + token);
    bhttp::write(sock, req);
    boost::beast::flat_buffer buf;
    bhttp::read(sock, buf, res);
  } catch (const std::exception& e) {
    std::cerr << "switchboard cluster: cannot reach the daemon at " << host
              << ":" << port << ": " << e.what() << '\n';
    return 1;
  }
  if (res.result_int() != 200) {
    std::cerr << "switchboard cluster: the daemon answered " << res.result_int()
              << ": " << res.body() << '\n';
    return 1;
  }
  if (a->switches.count("--json") > 0) {
    std::cout << res.body() << '\n';
    return 0;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body(), ec);
  if (ec || !v.is_object()) {
    std::cerr << "switchboard cluster: unreadable answer\n";
    return 1;
  }
  const auto& o = v.as_object();
  if (!o.at("enabled").as_bool()) {
    std::cout << "not a cluster: a single node ([cluster] peers is empty)\n";
    return 0;
  }
  std::cout << "node " << o.at("node").as_string().c_str() << '\n';
  for (const auto& m : o.at("members").as_array()) {
    const auto& e = m.as_object();
    std::cout << "  " << e.at("name").as_string().c_str()
              << (e.at("self").as_bool() ? " (this node)" : "") << "  "
              << (e.at("up").as_bool() ? "up" : "DOWN") << " for "
              << e.at("since_ms").to_number<std::int64_t>() / 1000
              << " s  companies:";
    const auto& cs = e.at("companies").as_array();
    if (cs.empty())
      std::cout << " none";
    for (const auto& c : cs)
      std::cout << ' ' << c.as_string().c_str();
    std::cout << '\n';
  }
  std::cout << "forwards in flight "
            << o.at("forwards_in_flight").to_number<std::int64_t>()
            << ", forwarded " << o.at("forwarded").to_number<std::int64_t>()
            << ", answered 503 for a down owner "
            << o.at("owner_down").to_number<std::int64_t>() << '\n';
  return 0;
}

} // namespace switchboard::app
