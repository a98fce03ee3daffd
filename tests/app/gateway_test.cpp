// The HTTP gateway against the real daemon: `switchboard serve` on a free
// port with a temp data dir, tenants made with the CLI binary, HTTP spoken
// with a small blocking client.

#include <thread>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

using switchboard::test::error_code;
using switchboard::test::names_field;
using switchboard::test::temp_dir;

namespace {

/// A customer.created event for acme's customer `id`, as an admin's
/// import appends it (company tokens use POST /api/customers).
std::string customer_event(const std::string& id, int expected = -1,
                           const std::string& company = "acme") {
  json::object customer{{"id", id},
                        {"company_id", company},
                        {"name", "Ada"},
                        {"phone", "+4930123"}};
  json::object o{
      {"type", "customer.created"},
      {"aggregate_id", id},
      {"company_id", company},
      {"data", json::object{{"customer", customer}, {"source", "web"}}}};
  if (expected >= 0)
    o["expected_version"] = expected;
  return json::serialize(o);
}

/// Checks each string field of `o` named in `expected` against the value
/// beside it, and that the customer in its data is Ada.
void check_fields(
    const json::object& o,
    std::initializer_list<std::pair<const char*, std::string>> expected) {
  for (const auto& [name, value] : expected)
    BOOST_TEST_CONTEXT("field " << name) {
      BOOST_TEST(o.at(name).as_string() == value);
    }
  BOOST_TEST(o.at("data").at("customer").at("name").as_string() == "Ada");
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_suite)

BOOST_AUTO_TEST_CASE(health_routing_and_auth) {
  daemon_fixture d;
  http_client c{d.port};
  auto h = c.request("GET", "/health");
  BOOST_TEST(h.status == 200);
  BOOST_TEST(h.body == R"({"status":"ok"})");
  // Without an admin token /ready tells ready or not, nothing more.
  auto ready = c.request("GET", "/ready");
  BOOST_TEST(ready.status == 200);
  BOOST_TEST(ready.body == R"({"status":"ready"})");
  auto as_company = c.request("GET", "/ready", "", d.acme);
  BOOST_TEST(as_company.body == R"({"status":"ready"})");
  ready = c.request("GET", "/ready", "", d.admin);
  BOOST_TEST(ready.status == 200);
  BOOST_TEST(ready.body.find("notifications") != std::string::npos);
  // Keep-alive: both went over one connection.
  BOOST_TEST(!ready.closed);
  // Unknown route, wrong method.
  auto nf = c.request("GET", "/api/nope", "", d.acme);
  BOOST_TEST(nf.status == 404);
  BOOST_TEST(error_code(nf) == "not_found");
  auto na = c.request("PUT", "/api/queues", "", d.admin);
  BOOST_TEST(na.status == 405);
  BOOST_TEST(na.header("allow") == "GET");
  BOOST_TEST(error_code(na) == "method_not_allowed");
  auto na2 = c.request("PATCH", "/api/events", "", d.admin);
  BOOST_TEST(na2.status == 405);
  BOOST_TEST(na2.header("allow") == "GET, POST");
  // Missing, malformed and unknown tokens.
  auto none = c.request("GET", "/api/events");
  BOOST_TEST(none.status == 401);
  BOOST_TEST(error_code(none) == "unauthorized");
  BOOST_TEST(none.header("www-authenticate") == "Bearer");
  auto wrong
      = c.request("GET", "/api/events", "", "sb_" + std::string(64, '0'));
  BOOST_TEST(wrong.status == 401);
  auto basic = c.request("GET", "/api/events", "", "",
                         {{"Authorization", "Basic " + d.acme}});
  BOOST_TEST(basic.status == 401);
  // A company token sees its own share of the queues; another company's
  // (or no) failed job answers as missing.
  auto own = c.request("GET", "/api/queues", "", d.acme);
  BOOST_TEST(own.status == 200);
  BOOST_TEST(own.json().at("queues").at(0).at("company_id").as_string()
             == "acme");
  auto del = c.request("DELETE", "/api/jobs/failed/1", "", d.acme);
  BOOST_TEST(del.status == 404);
  // The admin sees the queues with their counts.
  auto qs = c.request("GET", "/api/queues", "", d.admin);
  BOOST_TEST_INFO(qs.body);
  BOOST_REQUIRE(qs.status == 200);
  auto queues = qs.json().at("queues").as_array();
  BOOST_TEST(queues.size() >= 3u);
  for (const auto& q : queues) {
    BOOST_TEST(q.as_object().contains("ready"));
    BOOST_TEST(q.as_object().contains("delayed"));
    BOOST_TEST(q.as_object().contains("leased"));
    BOOST_TEST(q.as_object().contains("failed"));
  }
}

BOOST_AUTO_TEST_CASE(events_append_read_and_tenancy) {
  daemon_fixture d;
  http_client c{d.port};
  // A company token may not append an aggregate's events: it is told the
  // command route.
  auto own = c.request("POST", "/api/events", customer_event("c-1", 0), d.acme);
  BOOST_TEST(own.status == 422);
  BOOST_TEST(error_code(own) == "use_command");
  BOOST_TEST(own.body.find("POST /api/customers") != std::string::npos);
  auto r = c.request("POST", "/api/events", customer_event("c-1", 0), d.admin);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
  auto created = r.json();
  BOOST_TEST(created.at("version").as_int64() == 1);
  BOOST_TEST(created.at("sequence").as_int64() >= 1);
  // Read back as CloudEvents.
  auto s = c.request("GET", "/api/events/customer/c-1", "", d.acme);
  BOOST_TEST_INFO(s.body);
  BOOST_REQUIRE(s.status == 200);
  BOOST_TEST(s.header("content-type") == "application/cloudevents-batch+json");
  auto events = s.json().as_array();
  BOOST_REQUIRE(events.size() == 1u);
  check_fields(events[0].as_object(),
               {{"specversion", "1.0"},
                {"type", "customer.created"},
                {"subject", "c-1"},
                {"companyid", "acme"},
                {"id", std::string{created.at("id").as_string()}}});
  // Another company: 404, never the data.
  auto other = c.request("GET", "/api/events/customer/c-1", "", d.globex);
  BOOST_TEST(other.status == 404);
  BOOST_TEST(other.body.find("Ada") == std::string::npos);
  auto missing = c.request("GET", "/api/events/customer/nope", "", d.acme);
  BOOST_TEST(missing.status == 404);
  // Streams are per company: globex's c-1 is a stream of its own, at
  // version 1, and acme's keeps its one event.
  auto globex_c1 = c.request("POST", "/api/events",
                             customer_event("c-1", 0, "globex"), d.admin);
  BOOST_TEST_INFO(globex_c1.body);
  BOOST_TEST(globex_c1.status == 201);
  BOOST_TEST(globex_c1.json().at("version").as_int64() == 1);
  BOOST_TEST(c.request("GET", "/api/events/customer/c-1", "", d.acme)
                 .json()
                 .as_array()
                 .size()
             == 1u);
  // The admin names the company whose stream it reads.
  auto as_admin = c.request("GET", "/api/events/customer/c-1?company_id=acme",
                            "", d.admin);
  BOOST_REQUIRE(as_admin.status == 200);
  BOOST_TEST(as_admin.json().at(0).at("companyid").as_string() == "acme");
  // A stale expected version: 409 naming the actual version; nothing stored.
  auto stale
      = c.request("POST", "/api/events", customer_event("c-1", 0), d.admin);
  BOOST_TEST_INFO(stale.body);
  BOOST_TEST(stale.status == 409);
  BOOST_TEST(error_code(stale) == "version_conflict");
  BOOST_TEST(names_field(stale, "expected_version"));
  BOOST_TEST(stale.json().at("error").at("actual_version").as_int64() == 1);
  // The right version appends.
  auto second
      = c.request("POST", "/api/events", customer_event("c-1", 1), d.admin);
  BOOST_TEST(second.status == 201);
  BOOST_TEST(second.json().at("version").as_int64() == 2);
  // Paging a stream.
  auto page = c.request("GET", "/api/events/customer/c-1?limit=1", "", d.acme);
  BOOST_TEST(page.json().as_array().size() == 1u);
  BOOST_TEST(page.header("x-next-from-version") == "2");
  auto page2 = c.request(
      "GET", "/api/events/customer/c-1?from_version=2&limit=1", "", d.acme);
  BOOST_REQUIRE(page2.json().as_array().size() == 1u);
  BOOST_TEST(page2.json().as_array()[0].at("version").as_string() == "2");
  // Listing by company and type: acme sees its 2, globex its 1.
  auto mine = c.request("GET", "/api/events?type=customer.created", "", d.acme);
  BOOST_REQUIRE(mine.status == 200);
  BOOST_TEST(mine.json().as_array().size() == 2u);
  auto theirs = c.request("GET", "/api/events", "", d.globex);
  BOOST_REQUIRE(theirs.json().as_array().size() == 1u);
  BOOST_TEST(theirs.json().at(0).at("companyid").as_string() == "globex");
  auto after = c.request(
      "GET",
      "/api/events?after=" + std::to_string(created.at("sequence").as_int64()),
      "", d.acme);
  BOOST_TEST(after.json().as_array().size() == 1u);
  auto future
      = c.request("GET", "/api/events?from=2999-01-01T00:00:00Z", "", d.admin);
  BOOST_TEST(future.json().as_array().size() == 0u);
  // An idempotent retry with a client id stores once.
  auto with_id = [&] {
    auto v = json::parse(customer_event("c-2"));
    v.as_object()["id"] = "0190f0c2-0000-7000-8000-000000000001";
    return json::serialize(v);
  }();
  BOOST_TEST(c.request("POST", "/api/events", with_id, d.admin).status == 201);
  BOOST_TEST(c.request("POST", "/api/events", with_id, d.admin).status == 201);
  BOOST_TEST(d.event_count() == 4u);
  // Event ids are per company: globex's event of that id is its own, not
  // a retry of acme's, and neither blocks the other.
  auto globex_id = [&] {
    auto v = json::parse(customer_event("c-2", -1, "globex"));
    v.as_object()["id"] = "0190f0c2-0000-7000-8000-000000000001";
    return json::serialize(v);
  }();
  auto g = c.request("POST", "/api/events", globex_id, d.admin);
  BOOST_TEST_INFO(g.body);
  BOOST_TEST(g.status == 201);
  BOOST_TEST(g.json().at("event").at("companyid").as_string() == "globex");
  BOOST_TEST(c.request("POST", "/api/events", globex_id, d.admin).status
             == 201);
  BOOST_TEST(d.event_count() == 5u);
}

BOOST_AUTO_TEST_CASE(bad_input_gets_its_status_and_stores_nothing) {
  daemon_fixture d{
      {"http.body_limit_bytes=4096", "http.header_limit_bytes=2048"}};
  http_client c{d.port};
  BOOST_REQUIRE(
      c.request("POST", "/api/events", customer_event("c-1"), d.admin).status
      == 201);
  auto before = d.event_count();
  struct bad {
    std::string name;
    std::string body;
    int status;
    std::string code;
    std::vector<std::string> fields;
    bool as_company = false; ///< Sent with acme's token, not the admin's.
  };
  std::vector<bad> table = {
      {"malformed JSON", "{\"type\": ", 400, "malformed_json", {}},
      {"empty body", "", 400, "malformed_json", {}},
      {"not an object", "[1,2]", 422, "invalid_fields", {""}},
      {"missing fields",
       "{}",
       422,
       "invalid_fields",
       {"type", "aggregate_id", "data"}},
      {"wrong types",
       R"({"type": 5, "aggregate_id": [], "data": "x"})",
       422,
       "invalid_fields",
       {"type", "aggregate_id", "data"}},
      {"unknown type",
       R"({"type": "x.y", "aggregate_id": "a", "data": {}})",
       422,
       "invalid_fields",
       {"type"}},
      {"payload field of the wrong type",
       R"({"type": "customer.created", "aggregate_id": "c-9",
           "data": {"customer": 5}})",
       422,
       "invalid_fields",
       {"data.customer"}},
      {"aggregate type not the registry's",
       R"({"type": "customer.created", "aggregate_type": "staff",
           "aggregate_id": "c-9", "data": {}})",
       422,
       "invalid_fields",
       {"aggregate_type"}},
      {"bad expected_version",
       R"({"type": "customer.created", "aggregate_id": "c-9", "data": {},
           "expected_version": "one"})",
       422,
       "invalid_fields",
       {"expected_version"}},
      {"another company's entity",
       R"({"type": "customer.created", "aggregate_id": "c-9",
           "data": {"customer": {"id": "c-9", "company_id": "globex"}}})",
       422,
       "invalid_fields",
       {"data.customer.company_id"}},
      {"another company's id",
       R"({"type": "notification.sent", "aggregate_id": "n-9", "data": {},
           "company_id": "globex"})",
       422,
       "invalid_fields",
       {"company_id"},
       true},
      {"bad timestamp",
       R"({"type": "customer.created", "aggregate_id": "c-9", "data": {},
           "occurred_at": "yesterday"})",
       422,
       "invalid_fields",
       {"occurred_at"}},
      {"stale version",
       customer_event("c-1", 5),
       409,
       "version_conflict",
       {"expected_version"}},
      {"oversized body",
       R"({"type": "customer.created", "aggregate_id": "c-9", "data": {"x": ")"
           + std::string(8000, 'a') + "\"}}",
       413,
       "body_too_large",
       {}},
  };
  for (const auto& b : table) {
    BOOST_TEST_CONTEXT(b.name) {
      auto r = c.request("POST", "/api/events", b.body,
                         b.as_company ? d.acme : d.admin);
      BOOST_TEST_INFO(r.body);
      BOOST_TEST(r.status == b.status);
      BOOST_TEST(error_code(r) == b.code);
      for (const auto& f : b.fields)
        BOOST_TEST(names_field(r, f), "names field " << f);
    }
  }
  // Without a token or with a wrong one, nothing is stored either.
  BOOST_TEST(c.request("POST", "/api/events", customer_event("c-7")).status
             == 401);
  BOOST_TEST(
      c.request("POST", "/api/events", customer_event("c-7"), "sb_x").status
      == 401);
  // Bad query parameters are named too.
  auto q = c.request("GET", "/api/events?limit=0&after=x", "", d.acme);
  BOOST_TEST(q.status == 422);
  BOOST_TEST(names_field(q, "limit"));
  BOOST_TEST(names_field(q, "after"));
  // A header over the limit: 431; a malformed request line: 400.
  auto big = c.request("GET", "/health", "", "",
                       {{"X-Padding", std::string(4000, 'p')}});
  BOOST_TEST(big.status == 431);
  auto garbage = c.raw("NOT HTTP AT ALL\r\n\r\n");
  BOOST_TEST(garbage.status == 400);
  BOOST_TEST(d.event_count() == before);
  // The connection still serves after all that.
  BOOST_TEST(c.request("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(failed_jobs_and_outbox_routes) {
  daemon_fixture d;
  http_client c{d.port};
  auto list = c.request("GET", "/api/jobs/failed", "", d.admin);
  BOOST_TEST_INFO(list.body);
  BOOST_REQUIRE(list.status == 200);
  BOOST_TEST(list.json().at("jobs").as_array().empty());
  BOOST_TEST(c.request("GET", "/api/jobs/failed", "", d.acme).status == 200);
  BOOST_TEST(c.request("GET", "/api/jobs/failed").status == 401);
  auto retry = c.request("POST", "/api/jobs/failed/999/retry", "", d.acme);
  BOOST_TEST(retry.status == 404);
  auto bad_id = c.request("POST", "/api/jobs/failed/abc/retry", "", d.admin);
  BOOST_TEST(bad_id.status == 422);
  BOOST_TEST(names_field(bad_id, "id"));
  auto del = c.request("DELETE", "/api/jobs/failed/999", "", d.admin);
  BOOST_TEST(del.status == 404);
  auto outbox = c.request("GET", "/api/outbox", "", d.acme);
  BOOST_REQUIRE(outbox.status == 200);
  BOOST_TEST(outbox.json().at("messages").is_array());
}

BOOST_AUTO_TEST_CASE(connection_limits_and_timeouts) {
  daemon_fixture d{{"http.max_connections=2", "http.read_timeout_ms=500"}};
  http_client c{d.port};
  auto a = c.open_idle();
  auto b = c.open_idle();
  // Give the server a moment to count both.
  std::this_thread::sleep_for(200ms);
  http_client third{d.port};
  auto refused = third.request("GET", "/health");
  BOOST_TEST(refused.status == 503);
  BOOST_TEST(error_code(refused) == "too_many_connections");
  // Idle connections are closed after the read timeout; then there is room.
  auto closed = c.read_from(a);
  BOOST_TEST(closed.status == 0);
  BOOST_TEST(closed.closed);
  c.read_from(b);
  std::this_thread::sleep_for(100ms);
  BOOST_TEST(third.request("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(the_audit_log_is_read_by_company_and_by_model) {
  daemon_fixture d;
  http_client c{d.port};
  for (const char* id : {"au1", "au2"}) {
    auto r = c.request("POST", "/api/customers",
                       std::string{R"({"id":")"} + id + R"(","name":"Ada"})",
                       d.acme, {{"User-Agent", "audit-test/1"}});
    BOOST_REQUIRE(r.status == 201);
  }
  BOOST_REQUIRE(
      c.request("PATCH", "/api/customers/au1", R"({"name":"Ada B"})", d.acme)
          .status
      == 200);
  auto model = [&](const std::string& token) {
    return c.request("GET", "/api/audit?model_type=customer&model_id=au1", "",
                     token);
  };
  auto mine = model(d.acme);
  BOOST_TEST_INFO(mine.body);
  BOOST_REQUIRE(mine.status == 200);
  auto mine_json = mine.json();
  const auto& recs = mine_json.at("records").as_array();
  BOOST_REQUIRE(recs.size() == 2u);
  check_fields(recs[0].as_object(), {{"event_type", "customer.created"},
                                     {"model_id", "au1"},
                                     {"company_id", "acme"},
                                     {"user_agent", "audit-test/1"},
                                     {"ip_address", "127.0.0.1"}});
  BOOST_TEST(recs[1].at("event_type").as_string() == "customer.updated");
  // Another company sees none of it.
  auto theirs = model(d.globex);
  BOOST_REQUIRE(theirs.status == 200);
  BOOST_TEST(theirs.json().at("records").as_array().empty());
  BOOST_TEST(c.request("GET", "/api/audit", "", d.globex)
                 .json()
                 .at("records")
                 .as_array()
                 .empty());
  // The company's log, a page at a time.
  auto page = c.request("GET", "/api/audit?limit=2", "", d.acme);
  BOOST_REQUIRE(page.status == 200);
  BOOST_TEST(page.json().at("records").as_array().size() == 2u);
  auto cursor = page.header("x-next-after");
  BOOST_REQUIRE(!cursor.empty());
  auto rest
      = c.request("GET", "/api/audit?limit=2&after=" + cursor, "", d.acme);
  BOOST_REQUIRE(rest.status == 200);
  BOOST_TEST(rest.json().at("records").as_array().size() == 1u);
  BOOST_TEST(rest.header("x-next-after").empty());
  // The admin names a company; bad combinations name the field.
  auto admin = c.request("GET", "/api/audit?company_id=acme", "", d.admin);
  BOOST_REQUIRE(admin.status == 200);
  BOOST_TEST(admin.json().at("records").as_array().size() == 3u);
  auto no_company = c.request("GET", "/api/audit", "", d.admin);
  BOOST_TEST(no_company.status == 422);
  BOOST_TEST(no_company.body.find("company_id") != std::string::npos);
  auto half = c.request("GET", "/api/audit?model_type=customer", "", d.acme);
  BOOST_TEST(half.status == 422);
  BOOST_TEST(half.body.find("model_id") != std::string::npos);
  auto bad_limit = c.request("GET", "/api/audit?limit=0", "", d.acme);
  BOOST_TEST(bad_limit.status == 422);
}

BOOST_AUTO_TEST_CASE(get_answers_the_latest_state_of_an_aggregate) {
  // GET answers from a rendering kept per stream version: every change
  // must show, and another company must never get it.
  daemon_fixture d;
  http_client c{d.port};
  auto made
      = c.request("POST", "/api/customers",
                  R"({"id":"cu1","name":"Ada","phone":"+4930123"})", d.acme);
  BOOST_REQUIRE_EQUAL(made.status, 201);
  for (int i = 0; i < 2; ++i) {
    auto got = c.request("GET", "/api/customers/cu1", "", d.acme);
    BOOST_REQUIRE_EQUAL(got.status, 200);
    BOOST_TEST(got.json().at("name").as_string() == "Ada");
    BOOST_TEST(got.header("etag") == "\"1\"");
  }
  auto upd = c.request("PATCH", "/api/customers/cu1", R"({"name":"Ada L."})",
                       d.acme);
  BOOST_REQUIRE_EQUAL(upd.status, 200);
  auto after = c.request("GET", "/api/customers/cu1", "", d.acme);
  BOOST_REQUIRE_EQUAL(after.status, 200);
  BOOST_TEST(after.json().at("name").as_string() == "Ada L.");
  BOOST_TEST(after.header("etag") == "\"2\"");
  auto other = c.request("GET", "/api/customers/cu1", "", d.globex);
  BOOST_TEST(other.status == 404);
  BOOST_TEST(other.body.find("Ada") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigterm_stops_cleanly) {
  auto d = std::make_unique<daemon_fixture>();
  http_client c{d->port};
  BOOST_TEST(c.request("GET", "/health").status == 200);
  d->proc->signal(SIGTERM);
  BOOST_TEST(d->proc->wait(30s) == 0);
  BOOST_TEST_INFO(d->proc->output());
  BOOST_TEST(d->proc->output().find("http server stopped")
             != std::string::npos);
  BOOST_TEST(d->proc->output().find("store closed") != std::string::npos);
  // Nothing listens any more.
  BOOST_TEST(c.request("GET", "/health").status == 0);
  d->proc.reset();
}

BOOST_AUTO_TEST_SUITE_END()
