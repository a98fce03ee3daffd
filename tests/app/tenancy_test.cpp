// Tenancy against the real daemon with two companies (acme, globex): the
// forged appends of issue 11 have no effect, ids are per company (two
// companies racing for one new id both win, each its own), bad input is refused
// naming its field, and who and from where come from the token and trusted
// proxies only.

#include <atomic>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

using switchboard::test::error_code;
using switchboard::test::names_field;

namespace {

/// Two companies, each with a customer; acme with a staff member, a
/// service and a booking.
struct tenancy_fixture : daemon_fixture {
  explicit tenancy_fixture(std::vector<std::string> sets = {})
      : daemon_fixture(std::move(sets)) {
    http_client c{port};
    created(c.request("POST", "/api/customers",
                      R"({"id":"cu-a","name":"Ada Acme","phone":"+4930111",
                     "prefers_sms":true})",
                      acme));
    created(c.request("POST", "/api/customers",
                      R"({"id":"cu-g","name":"Gina Globex","phone":"+4930222",
                     "email":"gina@globex.example","prefers_sms":true,
                     "prefers_email":true})",
                      globex));
    created(post_service(c, acme, "s1", "Cut", 4500, 60));
    created(post_staff(c, acme, "st1", "Bo"));
    start = utc_at(3, 10);
    created(book(c, acme, "a1", start, "cu-a"));
  }

  /// An appointment.created event of acme's staff st1 at `at`, for
  /// `customer`.
  std::string forged(const std::string& id, const std::string& customer,
                     const std::string& at, bool with_company = false) {
    json::object a{
        {"id", id},           {"company_id", "acme"}, {"branch_id", ""},
        {"service_id", "s1"}, {"staff_id", "st1"},    {"customer_id", customer},
        {"start_time", at},   {"end_time", at},       {"status", "scheduled"}};
    json::object o{{"type", "appointment.created"},
                   {"aggregate_id", id},
                   {"data", json::object{{"appointment", a}}}};
    if (with_company)
      o["company_id"] = "acme";
    return json::serialize(o);
  }

  std::string start;
};

} // namespace

BOOST_AUTO_TEST_SUITE(tenancy_suite)

// Issue 11's two forged appends: another company's customer, and a booking
// that overlaps. Neither is stored, for a company token or an admin's
// import, and neither reaches the outbox or the calendar.
BOOST_FIXTURE_TEST_CASE(forged_appends_have_no_effect, tenancy_fixture) {
  http_client c{port};
  auto before = event_count();
  // 1. Another company's customer, by acme: the route names the command.
  auto r = c.request("POST", "/api/events", forged("f1", "cu-g", utc_at(4, 10)),
                     acme);
  BOOST_TEST_INFO(r.body);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_code(r) == "use_command");
  BOOST_TEST(names_field(r, "type"));
  BOOST_TEST(r.body.find("POST /api/appointments") != std::string::npos);
  // ... and by an admin's import for acme: the customer is not acme's.
  r = c.request("POST", "/api/events",
                forged("f1", "cu-g", utc_at(4, 10), true), admin);
  BOOST_TEST_INFO(r.body);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(names_field(r, "data.appointment.customer_id"));
  BOOST_TEST(r.body.find("Gina") == std::string::npos);
  // 2. A booking over a1, by acme.
  r = c.request("POST", "/api/events", forged("f2", "cu-a", start), acme);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_code(r) == "use_command");
  // The command route keeps the calendar's rule.
  json::object b{{"id", "f2"},
                 {"customer_id", "cu-a"},
                 {"service_id", "s1"},
                 {"staff_id", "st1"},
                 {"start_time", start}};
  r = c.request("POST", "/api/appointments", json::serialize(b), acme);
  BOOST_TEST(r.status == 409);
  // Naming globex's customer through the command: as if it did not exist.
  b["id"] = "f3";
  b["customer_id"] = "cu-g";
  b["start_time"] = utc_at(5, 10);
  r = c.request("POST", "/api/appointments", json::serialize(b), acme);
  BOOST_TEST_INFO(r.body);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(names_field(r, "customer_id"));
  BOOST_TEST(event_count() == before);
  // Nothing of globex's customer reaches acme's outbox, by the time a1's
  // confirmation (sent 5 s after the booking) is there.
  http_reply out;
  for (int i = 0; i < 100; ++i) {
    out = c.request("GET", "/api/outbox", "", acme);
    BOOST_REQUIRE(out.status == 200);
    if (out.body.find("+4930111") != std::string::npos)
      break;
    std::this_thread::sleep_for(200ms);
  }
  BOOST_TEST(out.body.find("Gina") == std::string::npos);
  BOOST_TEST(out.body.find("+4930222") == std::string::npos);
  BOOST_TEST(out.body.find("+4930111") != std::string::npos);
  // The calendar holds a1 only.
  auto list = c.request("GET", "/api/appointments?staff_id=st1", "", acme);
  BOOST_REQUIRE(list.status == 200);
  auto list_json = list.json();
  const auto& appts = list_json.at("appointments").as_array();
  BOOST_REQUIRE(appts.size() == 1u);
  BOOST_TEST(appts[0].at("id").as_string() == "a1");
  auto day = start.substr(0, 10);
  auto avail = c.request(
      "GET", "/api/availability?staff_id=st1&service_id=s1&date=" + day, "",
      acme);
  BOOST_REQUIRE(avail.status == 200);
  BOOST_TEST(avail.body.find(start) == std::string::npos);
  BOOST_TEST(avail.body.find(utc_at(3, 11)) != std::string::npos);
}

// Two companies creating one new id at the same moment (the concurrent
// probe of issue 11): ids are per company, so both succeed, each into a
// stream of its own, through the commands and through an admin's appends
// alike; each company reads its own customer and events only.
BOOST_FIXTURE_TEST_CASE(racing_for_one_id_makes_two_streams, tenancy_fixture) {
  http_client probe{port};
  auto before = event_count();
  constexpr int trials = 12;
  const char* companies[] = {"acme", "globex"};
  const std::string tokens[] = {acme, globex};
  for (int i = 0; i < trials; ++i) {
    auto id = "race-" + std::to_string(i);
    bool by_admin = i % 2 == 1;
    std::atomic<int> ready{0};
    http_reply replies[2];
    auto go = [&](int k) {
      http_client c{port};
      const char* company = companies[k];
      std::string body;
      std::string target = "/api/customers";
      std::string token = tokens[k];
      if (by_admin) {
        json::object cust{
            {"id", id}, {"company_id", company}, {"name", company}};
        body = json::serialize(json::object{
            {"type", "customer.created"},
            {"aggregate_id", id},
            {"company_id", company},
            {"data", json::object{{"customer", cust}, {"source", "import"}}}});
        target = "/api/events";
        token = admin;
      } else {
        body = json::serialize(json::object{{"id", id}, {"name", company}});
      }
      ++ready;
      while (ready.load() < 2)
        std::this_thread::yield();
      replies[k] = c.request("POST", target, body, token);
    };
    std::thread t0(go, 0);
    std::thread t1(go, 1);
    t0.join();
    t1.join();
    for (int k = 0; k < 2; ++k) {
      BOOST_TEST_CONTEXT(id << " of " << companies[k] << ": "
                            << replies[k].body) {
        BOOST_TEST(replies[k].status == 201);
        // The company's stream holds its own event, at version 1.
        auto s
            = probe.request("GET", "/api/events/customer/" + id, "", tokens[k]);
        BOOST_REQUIRE(s.status == 200);
        auto events = s.json();
        BOOST_REQUIRE(events.as_array().size() == 1u);
        const auto& ev = events.as_array()[0].as_object();
        BOOST_TEST(ev.at("companyid").as_string() == companies[k]);
        // The customer is the company's own.
        auto g = probe.request("GET", "/api/customers/" + id, "", tokens[k]);
        BOOST_REQUIRE(g.status == 200);
        auto cust = g.json();
        BOOST_TEST(cust.at("name").as_string() == companies[k]);
        BOOST_TEST(cust.at("version").as_int64() == 1);
        BOOST_TEST(g.body.find(companies[1 - k]) == std::string::npos);
      }
    }
    // An admin names the company whose stream it reads.
    auto s = probe.request(
        "GET", "/api/events/customer/" + id + "?company_id=globex", "", admin);
    BOOST_REQUIRE(s.status == 200);
    BOOST_TEST(s.json().as_array().size() == 1u);
    BOOST_TEST(s.body.find("\"acme\"") == std::string::npos);
  }
  BOOST_TEST(event_count() == before + 2 * trials);
  // Each changes its own: acme's update leaves globex's customer as it was.
  auto u = probe.request("PATCH", "/api/customers/race-0",
                         R"({"name":"Acme Renamed"})", acme);
  BOOST_TEST_INFO(u.body);
  BOOST_TEST(u.status == 200);
  auto theirs = probe.request("GET", "/api/customers/race-0", "", globex);
  BOOST_REQUIRE(theirs.status == 200);
  BOOST_TEST(theirs.json().at("name").as_string() == "globex");
  BOOST_TEST(theirs.json().at("version").as_int64() == 1);
  // `switchboard check` finds one company per stream.
  auto check = command({"check"});
  BOOST_TEST(check.rc == 0);
  BOOST_TEST_INFO(check.out);
  BOOST_TEST(check.out.find("problem") == std::string::npos);
}

// Ids are per company: globex creates customer, staff member, service and
// appointment under the ids acme uses (both 201), each company reads its
// own, and the calendar's rules hold within each company only: globex
// books its st1 at acme's a1 time, acme cannot double-book its own.
BOOST_FIXTURE_TEST_CASE(equal_ids_in_two_companies_are_independent,
                        tenancy_fixture) {
  http_client c{port};
  auto created = [&](const http_reply& r) {
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 201);
  };
  created(c.request("POST", "/api/customers",
                    R"({"id":"cu-a","name":"Gus Globex","phone":"+4930333",
                        "prefers_sms":true})",
                    globex));
  created(post_service(c, globex, "s1", "Shave", 900, 60));
  created(post_staff(c, globex, "st1", "Gil"));
  // Creating one's own id again is still taken.
  BOOST_TEST(post_staff(c, globex, "st1", "Gil").status == 409);
  json::object b{{"id", "a1"},
                 {"customer_id", "cu-a"},
                 {"service_id", "s1"},
                 {"staff_id", "st1"},
                 {"start_time", start}};
  created(c.request("POST", "/api/appointments", json::serialize(b), globex));
  // Each reads its own.
  auto field = [&](const std::string& target, const std::string& token,
                   const char* name) {
    auto r = c.request("GET", target, "", token);
    BOOST_TEST_INFO(target << ": " << r.body);
    BOOST_REQUIRE(r.status == 200);
    return json::serialize(r.json().at(name));
  };
  BOOST_TEST(field("/api/customers/cu-a", acme, "name") == "\"Ada Acme\"");
  BOOST_TEST(field("/api/customers/cu-a", globex, "name") == "\"Gus Globex\"");
  BOOST_TEST(field("/api/staff/st1", acme, "name") == "\"Bo\"");
  BOOST_TEST(field("/api/staff/st1", globex, "name") == "\"Gil\"");
  BOOST_TEST(field("/api/services/s1", globex, "price_cents") == "900");
  BOOST_TEST(field("/api/appointments/a1", acme, "company_id") == "\"acme\"");
  BOOST_TEST(field("/api/appointments/a1", globex, "company_id")
             == "\"globex\"");
  // The calendar is per company: acme's st1 is busy at `start`, globex's
  // too now, and neither second booking is taken.
  for (const auto& token : {acme, globex}) {
    b["id"] = "a2";
    auto r = c.request("POST", "/api/appointments", json::serialize(b), token);
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status == 409);
  }
  // Changing one leaves the other: globex cancels its a1, acme's stays.
  auto cancel = c.request("POST", "/api/appointments/a1/cancel",
                          R"({"reason":"moved away"})", globex);
  BOOST_TEST_INFO(cancel.body);
  BOOST_TEST(cancel.status == 200);
  BOOST_TEST(field("/api/appointments/a1", globex, "status")
             == "\"cancelled\"");
  BOOST_TEST(field("/api/appointments/a1", acme, "status") == "\"scheduled\"");
  BOOST_TEST(field("/api/appointments/a1", acme, "version") == "1");
  // Listings and availability: each company's own.
  auto list = c.request("GET", "/api/appointments?staff_id=st1", "", acme);
  BOOST_REQUIRE(list.status == 200);
  auto list_json = list.json();
  BOOST_REQUIRE(list_json.at("appointments").as_array().size() == 1u);
  BOOST_TEST(list_json.at("appointments").at(0).at("company_id").as_string()
             == "acme");
  auto day = start.substr(0, 10);
  auto avail = [&](const std::string& token) {
    auto r = c.request(
        "GET", "/api/availability?staff_id=st1&service_id=s1&date=" + day, "",
        token);
    BOOST_REQUIRE(r.status == 200);
    return r.body;
  };
  BOOST_TEST(avail(acme).find(start) == std::string::npos);
  BOOST_TEST(avail(globex).find(start) != std::string::npos);
  // The events of each stream are its company's.
  auto events = c.request("GET", "/api/events/appointment/a1", "", globex);
  BOOST_REQUIRE(events.status == 200);
  auto events_json = events.json();
  BOOST_TEST(events_json.as_array().size() == 2u);
  for (const auto& e : events_json.as_array())
    BOOST_TEST(e.at("companyid").as_string() == "globex");
  auto check = command({"check"});
  BOOST_TEST_INFO(check.out);
  BOOST_TEST(check.rc == 0);
}

// A table of bad inputs over every kind of door: each answered 4xx naming
// its field, and the event count unchanged.
BOOST_FIXTURE_TEST_CASE(bad_inputs_name_their_field, tenancy_fixture) {
  http_client c{port};
  auto before = event_count();
  struct bad {
    std::string name;
    std::string method;
    std::string target;
    std::string body;
    int status;
    std::string field; ///< "" : no field to name.
  };
  const std::string nul_id
      = std::string{"{\"id\":\"a\\u0000b\",\"name\":\"x\"}"};
  const std::string long_id = std::string(129, 'x');
  auto event = [](const std::string& extra) {
    return R"({"type":"notification.sent","aggregate_id":"n1","data":)" + extra
           + "}";
  };
  // A notification.sent event of `appointment` of `company` for
  // `customer`.
  auto notification = [&](const std::string& appointment,
                          const std::string& company,
                          const std::string& customer) {
    return event(R"({"appointment_id":")" + appointment + R"(","company_id":")"
                 + company + R"(","customer_id":")" + customer
                 + R"(","channel":"sms","recipient":"x",)"
                 + R"("sent_at":"2030-01-01T00:00:00Z"})");
  };
  std::string notif_ok
      = R"({"appointment_id":"a1","company_id":"acme","customer_id":"cu-a",
            "channel":"sms","recipient":"+4930111",
            "sent_at":"2030-01-01T00:00:00Z"})";
  std::vector<bad> table = {
      // ids in bodies
      {"id of the wrong type", "POST", "/api/customers",
       R"({"id":5,"name":"x"})", 422, "id"},
      {"id an object", "POST", "/api/staff", R"({"id":{},"name":"x"})", 422,
       "id"},
      {"id of 129 bytes", "POST", "/api/customers",
       R"({"id":")" + long_id + R"(","name":"x"})", 422, "id"},
      {"id of 100000 bytes", "POST", "/api/services",
       R"({"id":")" + std::string(100000, 'y')
           + R"(","name":"x","price_cents":1,"duration_minutes":30})",
       422, "id"},
      {"id with NUL", "POST", "/api/customers", nul_id, 422, "id"},
      {"id with a slash", "POST", "/api/customers",
       R"({"id":"a/b","name":"x"})", 422, "id"},
      {"id with a question mark", "POST", "/api/customers",
       R"({"id":"a?b","name":"x"})", 422, "id"},
      {"id with a hash", "POST", "/api/customers", R"({"id":"a#b","name":"x"})",
       422, "id"},
      {"id with a space", "POST", "/api/customers",
       R"({"id":"a b","name":"x"})", 422, "id"},
      {"id with a tab", "POST", "/api/customers", R"({"id":"a\tb","name":"x"})",
       422, "id"},
      {"id with non-ASCII", "POST", "/api/customers",
       R"({"id":"caf\u00e9","name":"x"})", 422, "id"},
      {"empty id", "POST", "/api/customers", R"({"id":"","name":"x"})", 422,
       "id"},
      {"a derived id", "POST", "/api/customers",
       R"({"id":"0190f0c2-0000-8000-8000-000000000001","name":"x"})", 422,
       "id"},
      // ids in paths
      {"path id with a space", "GET", "/api/customers/a%20b", "", 422, "id"},
      {"path id with NUL", "PATCH", "/api/customers/a%00b", R"({"name":"x"})",
       422, "id"},
      {"path id too long", "GET", "/api/staff/" + long_id, "", 422, "id"},
      {"stream id with a control char", "GET", "/api/events/customer/a%01b", "",
       422, "aggregate_id"},
      // referenced ids
      {"customer_id too long", "POST", "/api/appointments",
       R"({"customer_id":")" + long_id
           + R"(","service_id":"s1","staff_id":"st1","start_time":")"
           + utc_at(6, 10) + R"("})",
       422, "customer_id"},
      {"staff_id with a space", "POST", "/api/appointments",
       R"({"customer_id":"cu-a","service_id":"s1","staff_id":"s t",
           "start_time":"2031-01-01T10:00:00Z"})",
       422, "staff_id"},
      {"service_ids with a bad id", "PATCH", "/api/staff/st1",
       R"({"service_ids":["s1","a b"]})", 422, "service_ids[1]"},
      {"availability staff_id too long", "GET",
       "/api/availability?service_id=s1&date=2031-01-01&staff_id=" + long_id,
       "", 422, "staff_id"},
      // strings
      {"name of 201 bytes", "POST", "/api/customers",
       R"({"name":")" + std::string(201, 'n') + R"("})", 422, "name"},
      {"notes of 2001 bytes", "PATCH", "/api/appointments/a1",
       R"({"notes":")" + std::string(2001, 'n') + R"("})", 422, "notes"},
      {"phone of 41 bytes", "POST", "/api/customers",
       R"({"name":"x","phone":")" + std::string(41, '1') + R"("})", 422,
       "phone"},
      {"name of the wrong type", "POST", "/api/staff", R"({"name":7})", 422,
       "name"},
      // numbers
      {"negative price", "POST", "/api/services",
       R"({"name":"x","price_cents":-1,"duration_minutes":30})", 422,
       "price_cents"},
      {"duration too long", "POST", "/api/services",
       R"({"name":"x","price_cents":1,"duration_minutes":100000})", 422,
       "duration_minutes"},
      {"price too large", "POST", "/api/services",
       R"({"name":"x","price_cents":1e300,"duration_minutes":30})", 422,
       "price_cents"},
      {"duration a string", "POST", "/api/services",
       R"({"name":"x","price_cents":1,"duration_minutes":"30"})", 422,
       "duration_minutes"},
      // times
      {"start_time not a time", "POST", "/api/appointments",
       R"({"customer_id":"cu-a","service_id":"s1","staff_id":"st1",
           "start_time":"tomorrow"})",
       422, "start_time"},
      {"occurred_at not a time", "POST", "/api/events",
       R"({"type":"notification.sent","aggregate_id":"n1","data":{},
           "occurred_at":"2030-13-45T99:00:00Z"})",
       422, "occurred_at"},
      // raw appends
      {"owned event type", "POST", "/api/events",
       R"({"type":"staff.updated","aggregate_id":"st1","data":{}})", 422,
       "type"},
      {"call event type", "POST", "/api/events",
       R"({"type":"call.started","aggregate_id":"c1","data":{}})", 422, "type"},
      {"event id with a space", "POST", "/api/events",
       R"({"id":"e 1","type":"notification.sent","aggregate_id":"n1",
           "data":)"
           + notif_ok + "}",
       422, "id"},
      {"aggregate_id too long", "POST", "/api/events",
       R"({"type":"notification.sent","aggregate_id":")" + long_id
           + R"(","data":)" + notif_ok + "}",
       422, "aggregate_id"},
      {"notification naming globex's customer", "POST", "/api/events",
       notification("a1", "acme", "cu-g"), 422, "data.customer_id"},
      {"notification naming a missing appointment", "POST", "/api/events",
       notification("nope", "acme", "cu-a"), 422, "data.appointment_id"},
      {"notification of another company", "POST", "/api/events",
       notification("a1", "globex", "cu-a"), 422, "data.company_id"},
      // nesting, sizes, encodings
      {"data nested too deep", "POST", "/api/events",
       event(R"({"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}})"), 422,
       "data"},
      {"body not an object", "POST", "/api/customers", R"(["x"])", 400, ""},
      {"invalid UTF-8", "POST", "/api/customers", "{\"name\":\"\xff\xfe\"}",
       400, ""},
      {"truncated JSON", "POST", "/api/events", R"({"type":)", 400, ""},
      {"If-Match not a number", "PATCH", "/api/customers/cu-a",
       R"({"name":"x"})", 422, "If-Match"},
      {"path id of invalid UTF-8", "GET", "/api/customers/a%C3%28b", "", 422,
       "id"},
      {"name with NUL", "POST", "/api/customers", R"({"name":"a\u0000b"})", 422,
       "name"},
      {"name with a line break", "PATCH", "/api/staff/st1",
       R"({"name":"a\nb"})", 422, "name"},
      {"email of 255 bytes", "POST", "/api/customers",
       R"({"name":"x","email":")" + std::string(255, 'e') + R"("})", 422,
       "email"},
      {"working hours on no day", "PUT", "/api/staff/st1/working-hours",
       R"({"working_hours":[{"day":"someday","start_minute":540,
           "end_minute":600}]})",
       422, "working_hours[0].day"},
      {"working hours ending before they start", "PUT",
       "/api/staff/st1/working-hours",
       R"({"working_hours":[{"day":"monday","start_minute":600,
           "end_minute":500}]})",
       422, "working_hours[0].end_minute"},
      {"availability on February 30", "GET",
       "/api/availability?staff_id=st1&service_id=s1&date=2031-02-30", "", 422,
       "date"},
      {"occurred_at a number", "POST", "/api/events",
       R"({"type":"notification.sent","aggregate_id":"n1","data":{},
           "occurred_at":12345})",
       422, "occurred_at"},
      {"limit out of range", "GET", "/api/events?limit=5000", "", 422, "limit"},
      {"negative cursor", "GET", "/api/audit?after=-1", "", 422, "after"},
      {"body over the limit", "POST", "/api/customers",
       R"({"name":")" + std::string(1100000, 'x') + R"("})", 413, ""},
  };
  BOOST_TEST(table.size() >= 30u);
  for (const auto& b : table) {
    BOOST_TEST_CONTEXT(b.name) {
      std::vector<std::pair<std::string, std::string>> extra;
      if (b.name == "If-Match not a number")
        extra.emplace_back("If-Match", "\"v1\"");
      auto r = c.request(b.method, b.target, b.body, acme, extra);
      BOOST_TEST_INFO(r.body.substr(0, 400));
      BOOST_TEST(r.status == b.status);
      if (!b.field.empty())
        BOOST_TEST(names_field(r, b.field), "names field " << b.field);
    }
  }
  BOOST_TEST(event_count() == before);
  // The same notification with good ids is stored, dated now (not 1970).
  auto good
      = c.request("POST", "/api/events",
                  R"({"type":"notification.sent","aggregate_id":"n1","data":)"
                      + notif_ok + "}",
                  acme);
  BOOST_TEST_INFO(good.body);
  BOOST_REQUIRE(good.status == 201);
  auto when = std::string{good.json().at("event").at("time").as_string()};
  BOOST_TEST(when.substr(0, 4) != "1970");
  BOOST_TEST(when.substr(0, 10) == utc_at(0, 0).substr(0, 10));
}

// The audit record's user is the token's, never X-User-Id; X-Forwarded-For
// counts only from a trusted proxy; revoked and expired tokens are refused
// at once while the daemon runs.
BOOST_AUTO_TEST_CASE(identity_comes_from_the_token_and_trusted_proxies) {
  for (bool trusted : {false, true}) {
    BOOST_TEST_CONTEXT("trusted proxy: " << trusted) {
      std::vector<std::string> sets;
      if (trusted)
        sets.push_back("http.trusted_proxies=10.0.0.9, 127.0.0.1");
      daemon_fixture d{sets};
      auto alice = d.tenant({"token", "acme", "--user", "alice"});
      http_client c{d.port};
      auto r = c.request("POST", "/api/customers",
                         R"({"id":"u1","name":"Ada"})", alice,
                         {{"X-User-Id", "mallory"},
                          {"X-Forwarded-For", "203.0.113.7, 10.0.0.9"}});
      BOOST_REQUIRE(r.status == 201);
      auto audit = c.request(
          "GET", "/api/audit?model_type=customer&model_id=u1", "", d.acme);
      BOOST_TEST_INFO(audit.body);
      BOOST_REQUIRE(audit.status == 200);
      auto audit_json = audit.json();
      const auto& rec = audit_json.at("records").as_array().at(0);
      BOOST_TEST(rec.at("user_id").as_string() == "alice");
      BOOST_TEST(rec.at("ip_address").as_string()
                 == (trusted ? "203.0.113.7" : "127.0.0.1"));
      if (trusted)
        continue;
      // tokens lists the user; revoke by the hash prefix it shows.
      auto tokens = d.command({"tenant", "tokens", "acme"});
      BOOST_REQUIRE(tokens.rc == 0);
      const auto& out = tokens.out;
      BOOST_TEST_INFO(out);
      auto at = out.find("user=alice");
      BOOST_REQUIRE(at != std::string::npos);
      auto line_start = out.rfind('\n', at);
      line_start = line_start == std::string::npos ? 0 : line_start + 1;
      auto prefix = out.substr(line_start, 12);
      BOOST_TEST(c.request("GET", "/api/customers/u1", "", alice).status
                 == 200);
      BOOST_REQUIRE(d.command({"tenant", "revoke", prefix}).rc == 0);
      auto gone = c.request("GET", "/api/customers/u1", "", alice);
      BOOST_TEST(gone.status == 401);
      BOOST_TEST(c.request("GET", "/api/customers/u1", "", d.acme).status
                 == 200);
      // An expired token.
      auto brief = d.tenant({"token", "acme", "--expires-in", "1s"});
      BOOST_TEST(c.request("GET", "/api/customers/u1", "", brief).status
                 == 200);
      std::this_thread::sleep_for(1200ms);
      BOOST_TEST(c.request("GET", "/api/customers/u1", "", brief).status
                 == 401);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
