// `switchboard cluster status|move|rebalance|forget`: the members of the
// cluster as the local daemon sees them (GET /api/admin/cluster), moving
// companies between them (POST /api/admin/cluster/move), and dropping the
// copy a move left (POST /api/admin/cluster/forget).

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <actors/cluster_view.hpp>

#include <app/cli_common.hpp>
#include <app/cli_tools.hpp>

namespace switchboard::app {

namespace {

constexpr const char* cluster_usage
    = R"(usage: switchboard cluster status [--json]
       switchboard cluster move COMPANY --to MEMBER
       switchboard cluster rebalance [--dry-run]
       switchboard cluster forget COMPANY
       (each also takes --url URL, --token TOKEN, --config FILE and
       --set section.key=value)

Talks to the daemon at --url (else http://{http.host}:{http.port} of the
configuration) with an admin token (--token, else $SWITCHBOARD_TOKEN).
  status     each member: up or down, for how long, and the companies it
             owns; the placement table's epoch; the requests forwarded.
             --json prints the answer as it came.
  move       moves COMPANY to MEMBER: its writes answer 503 meanwhile,
             its events, settings and pending jobs are copied to MEMBER,
             its failed jobs and sent messages go along, and every member
             takes the new placement table. Every member must be up. The
             old member keeps its copy of the rest until `forget`.
  rebalance  moves, one at a time, every company whose owner is not the
             one the hash over all members picks (after members were
             added to [cluster] peers, which by itself moves nothing).
             --dry-run lists the moves without making them.
  forget     deletes what the daemon's member still keeps of COMPANY, which
             another member owns since a move: its events, audit records,
             jobs, sent messages, traces and projections (its tenancy,
             which every member shares, stays). Refused on the owner, and
             while a move of COMPANY to this member is under way.
)";

struct endpoint {
  std::string host;
  std::string port;
  std::string token;
};

struct reply {
  int status = 0;
  std::string body;
};

/// One request to the daemon; nothing when it cannot be reached (the
/// reason is printed).
std::optional<reply> call(const endpoint& ep, boost::beast::http::verb verb,
                          const std::string& target, const std::string& body) {
  namespace asio = boost::asio;
  namespace bhttp = boost::beast::http;
  bhttp::response<bhttp::string_body> res;
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver{ioc};
    asio::ip::tcp::socket sock{ioc};
    asio::connect(sock, resolver.resolve(ep.host, ep.port));
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, ep.host);
    req.set(bhttp::field::authorization, "Bearer " + ep.token);
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    bhttp::write(sock, req);
    boost::beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bhttp::read(sock, buf, parser);
    res = parser.release();
  } catch (const std::exception& e) {
    std::cerr << "switchboard cluster: cannot reach the daemon at " << ep.host
              << ":" << ep.port << ": " << e.what() << '\n';
    return std::nullopt;
  }
  return reply{static_cast<int>(res.result_int()), res.body()};
}

/// The number `o` holds under `k`; 0 when none.
std::int64_t number_in(const boost::json::object& o, const char* k) {
  const auto* x = o.if_contains(k);
  return x != nullptr && x->is_number() ? x->to_number<std::int64_t>() : 0;
}

/// POSTs a move; prints the outcome; true when it moved.
bool move_company(const endpoint& ep, const std::string& company,
                  const std::string& to) {
  auto r = call(ep, boost::beast::http::verb::post,
                "/api/admin/cluster/move?company_id=" + company,
                boost::json::serialize(boost::json::object{{"to", to}}));
  if (!r)
    return false;
  if (r->status != 200) {
    std::cerr << "switchboard cluster: moving " << company << " to " << to
              << ": the daemon answered " << r->status << ": " << r->body
              << '\n';
    return false;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(r->body, ec);
  if (ec || !v.is_object()) {
    std::cout << "moved " << company << " to " << to << '\n';
    return true;
  }
  const auto& o = v.as_object();
  auto num = [&o](const char* k) {
    return number_in(o, k);
  };
  std::cout << "moved " << company << " to " << to << ": " << num("events")
            << " events, " << num("jobs") << " jobs, " << num("settings")
            << " settings, " << num("messages") << " messages in " << num("ms")
            << " ms (placement epoch " << num("epoch") << ")\n";
  return true;
}

/// POSTs a forget; prints the outcome; true when the copy went.
bool forget_company(const endpoint& ep, const std::string& company) {
  auto r = call(
      ep, boost::beast::http::verb::post, "/api/admin/cluster/forget",
      boost::json::serialize(boost::json::object{{"company_id", company}}));
  if (!r)
    return false;
  boost::system::error_code ec;
  auto v = boost::json::parse(r->body, ec);
  if (r->status != 200 || ec || !v.is_object()) {
    std::cerr << "switchboard cluster: forgetting " << company
              << ": the daemon answered " << r->status << ": " << r->body
              << '\n';
    return false;
  }
  const auto& o = v.as_object();
  auto num = [&o](const char* k) {
    return number_in(o, k);
  };
  std::cout << "forgot the copy of " << company << ": " << num("events")
            << " events, " << num("audit") << " audit records, " << num("jobs")
            << " jobs, " << num("messages") << " messages, " << num("traces")
            << " trace entries, " << num("other") << " other entries\n";
  return true;
}

} // namespace

int run_cluster(const std::vector<std::string>& args) {
  auto a = cli::parse_args(args, {"--url", "--token", "--to"},
                           {"--json", "--help", "--dry-run"});
  if (!a) {
    std::cerr << "switchboard cluster: " << a.error() << '\n';
    return 2;
  }
  if (a->switches.count("--help") > 0) {
    std::cout << cluster_usage;
    return 0;
  }
  const auto& rest = a->common.rest;
  auto verb = rest.empty() ? std::string{} : rest[0];
  if (!((verb == "status" && rest.size() == 1)
        || (verb == "move" && rest.size() == 2 && a->values.count("--to") > 0)
        || (verb == "rebalance" && rest.size() == 1)
        || (verb == "forget" && rest.size() == 2))) {
    std::cerr << cluster_usage;
    return 2;
  }
  auto cfg = load_config(a->common);
  if (!cfg) {
    std::cerr << "switchboard cluster: invalid configuration:\n"
              << to_string(cfg.error()) << '\n';
    return 2;
  }
  endpoint ep;
  ep.token = a->values.count("--token") > 0 ? a->values["--token"]
             : std::getenv("SWITCHBOARD_TOKEN") != nullptr
                 ? std::getenv("SWITCHBOARD_TOKEN")
                 : "";
  if (ep.token.empty()) {
    std::cerr << "switchboard cluster: an admin token is needed (--token or "
                 "$SWITCHBOARD_TOKEN)\n";
    return 2;
  }
  ep.host = cfg->get_string("http.host");
  ep.port = std::to_string(cfg->get_int("http.port"));
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
    ep.host = url.substr(0, colon);
    ep.port = colon == std::string::npos ? "80" : url.substr(colon + 1);
  }
  if (verb == "move")
    return move_company(ep, rest[1], a->values["--to"]) ? 0 : 1;
  if (verb == "forget")
    return forget_company(ep, rest[1]) ? 0 : 1;
  auto res = call(ep, boost::beast::http::verb::get, "/api/admin/cluster", "");
  if (!res)
    return 1;
  if (res->status != 200) {
    std::cerr << "switchboard cluster: the daemon answered " << res->status
              << ": " << res->body << '\n';
    return 1;
  }
  if (verb == "status" && a->switches.count("--json") > 0) {
    std::cout << res->body << '\n';
    return 0;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(res->body, ec);
  if (ec || !v.is_object()) {
    std::cerr << "switchboard cluster: unreadable answer\n";
    return 1;
  }
  const auto& o = v.as_object();
  if (!o.at("enabled").as_bool()) {
    std::cout << "not a cluster: a single node ([cluster] peers is empty)\n";
    return verb == "status" ? 0 : 1;
  }
  if (verb == "rebalance") {
    std::vector<std::string> names;
    std::vector<std::pair<std::string, std::string>> moves;
    for (const auto& m : o.at("members").as_array())
      names.emplace_back(m.at("name").as_string());
    for (const auto& m : o.at("members").as_array())
      for (const auto& c : m.at("companies").as_array()) {
        std::string company{c.as_string()};
        auto want = rendezvous_owner(names, company);
        if (want != m.at("name").as_string())
          moves.emplace_back(company, want);
      }
    if (moves.empty()) {
      std::cout << "balanced: every company is on the member the hash over "
                   "all members picks\n";
      return 0;
    }
    int failed = 0;
    for (const auto& [company, to] : moves) {
      if (a->switches.count("--dry-run") > 0)
        std::cout << "would move " << company << " to " << to << '\n';
      else if (!move_company(ep, company, to))
        ++failed;
    }
    return failed == 0 ? 0 : 1;
  }
  std::cout << "node " << o.at("node").as_string().c_str();
  if (const auto* p = o.if_contains("placement"); p != nullptr)
    std::cout << "  placement epoch "
              << p->at("epoch").to_number<std::int64_t>();
  std::cout << '\n';
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
