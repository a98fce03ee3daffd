// The gateway's route table, the OpenAPI document against it, and the
// tenants store (tokens hashed, resolved to their company).

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "app/http/router.hpp"
#include "app/http/routes.hpp"
#include "store/tenants.hpp"
#include "tests/support/openapi.hpp"
#include "tests/support/process.hpp"

using namespace switchboard::app::http;
using switchboard::test::openapi_routes;
namespace store = switchboard::store;

namespace {

void noop(const context_ptr&) {}

} // namespace

BOOST_AUTO_TEST_SUITE(router_suite)

BOOST_AUTO_TEST_CASE(matches_literals_params_and_methods) {
  router r;
  r.add("GET", "/api/events", access::company, noop);
  r.add("POST", "/api/events", access::company, noop);
  r.add("GET", "/api/events/{type}/{id}", access::company, noop);
  r.add("GET", "/api/jobs/failed", access::admin, noop);
  r.add("DELETE", "/api/jobs/{id}", access::admin, noop);
  auto m = r.match("GET", "/api/events/customer/c-1");
  BOOST_REQUIRE(m.what == route_match::kind::found);
  BOOST_TEST(m.found->pattern == "/api/events/{type}/{id}");
  BOOST_TEST(m.params.at("type") == "customer");
  BOOST_TEST(m.params.at("id") == "c-1");
  BOOST_TEST(
      (r.match("GET", "/api/nothing").what == route_match::kind::not_found));
  BOOST_TEST((r.match("GET", "/api/events/customer").what
              == route_match::kind::not_found));
  auto na = r.match("DELETE", "/api/events");
  BOOST_TEST((na.what == route_match::kind::method_not_allowed));
  BOOST_TEST((na.allow == std::vector<std::string>{"GET", "POST"}));
  // A literal segment wins over a parameter.
  auto lit = r.match("GET", "/api/jobs/failed");
  BOOST_TEST((lit.what == route_match::kind::found));
  auto na2 = r.match("GET", "/api/jobs/7");
  BOOST_TEST((na2.what == route_match::kind::method_not_allowed));
  BOOST_TEST((na2.allow == std::vector<std::string>{"DELETE"}));
}

BOOST_AUTO_TEST_CASE(refuses_malformed_and_duplicate_patterns) {
  router r;
  r.add("GET", "/a/{x}", access::open, noop);
  BOOST_CHECK_THROW(r.add("GET", "/a/{x}", access::open, noop),
                    std::invalid_argument);
  BOOST_CHECK_THROW(r.add("GET", "a", access::open, noop),
                    std::invalid_argument);
  BOOST_CHECK_THROW(r.add("GET", "/a/{x", access::open, noop),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(openapi_lists_exactly_the_routes_served) {
  router r;
  add_routes(r);
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& rt : r.routes())
    served.emplace(rt.method, rt.pattern);
  auto listed = openapi_routes();
  BOOST_TEST(listed.size() >= 10u);
  for (const auto& [m, p] : served)
    BOOST_TEST(listed.count({m, p}) == 1u,
               m << " " << p << " is served but not in openapi.yaml");
  for (const auto& [m, p] : listed)
    BOOST_TEST(served.count({m, p}) == 1u,
               m << " " << p << " is in openapi.yaml but not served");
  // Every /api route needs a token.
  for (const auto& rt : r.routes())
    if (rt.pattern.rfind("/api/", 0) == 0)
      BOOST_TEST((rt.access != access::open), rt.pattern << " is open");
}

BOOST_AUTO_TEST_CASE(tenants_store_only_token_hashes) {
  switchboard::test::temp_dir dir;
  store::options opts;
  opts.path = dir.path() + "/db";
  opts.sync = store::options::sync_mode::none;
  auto env = store::environment::open(opts);
  BOOST_REQUIRE(env);
  auto t = store::tenants::open(**env);
  BOOST_REQUIRE(t);
  auto& ts = **t;
  BOOST_REQUIRE(ts.add_company({"acme", "Acme", 1000, ""}));
  auto dup = ts.add_company({"acme", "Again", 2000, ""});
  BOOST_REQUIRE(!dup);
  BOOST_TEST((dup.error().code == store::errc::invalid_argument));
  BOOST_TEST(!ts.add_company({"bad id!", "", 0, ""}));
  auto tok = ts.issue_token("acme", false, 1000);
  BOOST_REQUIRE(tok);
  BOOST_TEST(tok->rfind("sb_", 0) == 0u);
  BOOST_TEST(tok->size() == 67u);
  auto adm = ts.issue_token("acme", true, 1000);
  BOOST_REQUIRE(adm);
  BOOST_TEST(*adm != *tok);
  auto who = ts.resolve(*tok);
  BOOST_REQUIRE(who);
  BOOST_TEST(who->company_id == "acme");
  BOOST_TEST(!who->admin);
  BOOST_TEST(ts.resolve(*adm)->admin);
  // Answers are reused only while nothing has been committed: a token
  // whose record goes (as another process could delete it) stops at once.
  auto gone = ts.issue_token("acme", true, 1000);
  BOOST_REQUIRE(gone);
  BOOST_TEST(ts.resolve(*gone)->admin);
  BOOST_TEST(ts.resolve(*gone)->admin); // from this thread's answers
  {
    auto db = (*env)->open_db("tenant_tokens");
    BOOST_REQUIRE(db);
    auto txn = (*env)->begin_write();
    BOOST_REQUIRE(txn);
    auto h = store::tenants::hash_token(*gone);
    MDB_val key{h.size(), h.data()};
    BOOST_REQUIRE(mdb_del(txn->handle(), *db, &key, nullptr) == 0);
    BOOST_REQUIRE(txn->commit());
  }
  BOOST_TEST((ts.resolve(*gone).error().code == store::errc::not_found));
  BOOST_TEST(ts.resolve(*tok)->company_id == "acme");
  // Unknown, malformed, and a one-character change: not found.
  auto changed = *tok;
  changed.back() = changed.back() == '0' ? '1' : '0';
  BOOST_TEST((ts.resolve(changed).error().code == store::errc::not_found));
  BOOST_TEST(!ts.resolve(""));
  BOOST_TEST(!ts.resolve("sb_short"));
  auto missing = ts.issue_token("nobody", false, 0);
  BOOST_REQUIRE(!missing);
  BOOST_TEST((missing.error().code == store::errc::not_found));
  auto list = ts.tokens("acme");
  BOOST_REQUIRE(list);
  BOOST_TEST(list->size() == 2u);
  BOOST_TEST(ts.companies()->size() == 1u);
  // The token text is nowhere in the file; its hash is.
  env->reset();
  std::ifstream f{opts.path + "/data.mdb", std::ios::binary};
  std::stringstream bytes;
  bytes << f.rdbuf();
  BOOST_TEST(bytes.str().find(*tok) == std::string::npos);
  BOOST_TEST(bytes.str().find(store::tenants::hash_token(*tok))
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
