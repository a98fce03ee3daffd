// Every route of openapi.yaml, called by company B (globex) with the ids
// of what company A (acme) made: customer, staff member, service,
// appointment, call, event, failed job, outbox message and audit record.
// Nothing of A is read, changed or revealed: each answer is checked, and
// where an id of A is refused the answer is the one a nonexistent id gets.
// The routes come from openapi.yaml; one without a recipe here fails the
// test, so a new route cannot go unchecked. The fixture is in
// sweep_fixture.hpp, the paging of the list routes in
// sweep_paging_test.cpp.
#include <functional>
#include <map>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/app/sweep_fixture.hpp"
#include "tests/support/hmac.hpp"
#include "tests/support/openapi.hpp"
#include "tests/support/sse_client.hpp"

using switchboard::test::hmac;
using switchboard::test::sign;
using switchboard::test::sweep_fixture;

namespace {

/// `text` with every `id` replaced by "<ID>".
std::string masked(std::string text, const std::string& id) {
  if (id.empty())
    return text;
  for (auto at = text.find(id); at != std::string::npos;
       at = text.find(id, at + 4))
    text.replace(at, id.size(), "<ID>");
  return text;
}

/// Words of A's data that no answer to B may hold.
const std::vector<std::string> secrets_of_a
    = {"Ada Acme",     "+4930111",        "Acme",        "call-a",
       "notes of Ada", "acme-cal-secret", "staff-a@acme"};

} // namespace

BOOST_AUTO_TEST_SUITE(sweep_suite)

BOOST_FIXTURE_TEST_CASE(no_route_gives_one_company_anothers_data,
                        sweep_fixture) {
  http_client c{port};
  auto before = snapshot_of_a();
  int calls = 0;

  // One request by B; its answer holds nothing of A's but what B sent.
  auto as_b = [&](const std::string& method, const std::string& target,
                  const std::string& body = "",
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
    ++calls;
    auto r = c.request(method, target, body, globex, std::move(extra));
    BOOST_TEST_INFO(method << " " << target << " " << body << " -> " << r.status
                           << " " << r.body);
    BOOST_TEST(r.status != 0);
    BOOST_TEST(r.status != 500);
    for (const auto& s : secrets_of_a)
      if (target.find(s) == std::string::npos
          && body.find(s) == std::string::npos)
        BOOST_TEST(r.body.find(s) == std::string::npos, "reveals " << s);
    return r;
  };
  // B with A's id `theirs` for {X} in target and body answers as with
  // `missing`, an id nobody has (or one of B's own); the answer is
  // `status` (0: any 4xx).
  auto like_missing = [&](const std::string& method, const std::string& target,
                          const std::string& body, const std::string& theirs,
                          const std::string& missing, int status,
                          std::vector<std::pair<std::string, std::string>> extra
                          = {}) {
    auto with = [&](std::string s, const std::string& id) {
      for (auto at = s.find("{X}"); at != std::string::npos;
           at = s.find("{X}", at + id.size()))
        s.replace(at, 3, id);
      return s;
    };
    auto a = as_b(method, with(target, theirs), with(body, theirs), extra);
    auto m = as_b(method, with(target, missing), with(body, missing), extra);
    BOOST_TEST_CONTEXT(method << " " << target << " with " << theirs) {
      if (status == 0)
        BOOST_TEST((a.status >= 400 && a.status < 500));
      else
        BOOST_TEST(a.status == status);
      BOOST_TEST(a.status == m.status);
      BOOST_TEST(masked(a.body, theirs) == masked(m.body, missing));
    }
  };
  auto times_of = [&](const std::string& hour) {
    return day + "T" + hour + ":00:00Z";
  };
  const std::string booking_body
      = R"({"customer_id":"cu-b","service_id":"sv-b","staff_id":"st-b",
           "start_time":")"
        + times_of("14") + R"("})";
  auto booking_naming = [&](const std::string& field) {
    auto v = json::parse(booking_body).as_object();
    v[field] = "{X}";
    return json::serialize(v);
  };

  using recipe = std::function<void()>;
  std::map<std::pair<std::string, std::string>, recipe> recipes;
  auto add = [&](std::string method, std::string path, recipe r) {
    recipes.emplace(std::make_pair(std::move(method), std::move(path)),
                    std::move(r));
  };

  add("GET", "/health", [&] {
    BOOST_TEST(as_b("GET", "/health").body == R"({"status":"ok"})");
  });
  add("GET", "/ready", [&] {
    BOOST_TEST(as_b("GET", "/ready").body == R"({"status":"ready"})");
  });
  add("GET", "/api/events", [&] {
    for (const auto& q :
         {"/api/events?limit=1000", "/api/events?after=0&limit=1000",
          "/api/events?type=appointment.created"}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto r_v3 = r.json();
      for (const auto& e : r_v3.as_array())
        BOOST_TEST(e.at("companyid").as_string() == "globex");
    }
    // After A's event: B's events only.
    auto r = as_b("GET", "/api/events?limit=1000&after=" + event_seq);
    BOOST_REQUIRE(r.status == 200);
    auto r_v4 = r.json();
    for (const auto& e : r_v4.as_array())
      BOOST_TEST(e.at("companyid").as_string() == "globex");
  });
  add("POST", "/api/events", [&] {
    // A notification naming A's appointment, customer or call: refused
    // as if they did not exist.
    for (auto [field, theirs] :
         {std::pair{"appointment_id", "ap-a"}, std::pair{"customer_id", "cu-a"},
          std::pair{"call_id", "call-a"}}) {
      json::object data{
          {"appointment_id", "ap-b"}, {"company_id", "globex"},
          {"customer_id", "cu-b"},    {"channel", "sms"},
          {"recipient", "+4930122"},  {"sent_at", "2030-01-01T00:00:00Z"}};
      data[field] = "{X}";
      like_missing("POST", "/api/events",
                   json::serialize(json::object{{"type", "notification.sent"},
                                                {"aggregate_id", "n-b"},
                                                {"data", data}}),
                   theirs, "nobody-1", 422);
    }
    // A's event id: event ids are per company, so it is B's own new
    // event, as with an id nobody has; A's event is untouched (the
    // snapshot of A at the end).
    auto r = as_b("POST", "/api/events",
                  R"({"id":")" + event_id
                      + R"(","type":"notification.sent","aggregate_id":"n-b",
                          "data":{"appointment_id":"ap-b","company_id":"globex",
                          "customer_id":"cu-b","channel":"sms",
                          "recipient":"+4930122",
                          "sent_at":"2030-01-01T00:00:00Z"}})");
    BOOST_TEST(r.status == 201);
    auto stored = as_b("GET", "/api/events/notification/n-b");
    BOOST_REQUIRE(stored.status == 200);
    auto stored_json = stored.json();
    BOOST_TEST(stored_json.as_array().back().at("companyid").as_string()
               == "globex");
  });
  add("GET", "/api/audit", [&] {
    for (auto q :
         {std::string{"/api/audit?limit=1000"},
          "/api/audit?company_id=acme&limit=1000&after=" + audit_seq}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto r_v5 = r.json();
      for (const auto& rec : r_v5.at("records").as_array())
        BOOST_TEST(rec.at("company_id").as_string() == "globex");
    }
    for (auto [type, id] :
         {std::pair{"customer", "cu-a"}, std::pair{"appointment", "ap-a"},
          std::pair{"staff", "st-a"}, std::pair{"service", "sv-a"}})
      like_missing(
          "GET", std::string{"/api/audit?model_type="} + type + "&model_id={X}",
          "", id, "nobody-1", 200);
  });
  add("GET", "/api/events/{aggregate_type}/{aggregate_id}", [&] {
    for (auto [type, id] :
         {std::pair{"customer", "cu-a"}, std::pair{"staff", "st-a"},
          std::pair{"service", "sv-a"}, std::pair{"appointment", "ap-a"},
          std::pair{"call", "call-a"}})
      like_missing("GET", std::string{"/api/events/"} + type + "/{X}", "", id,
                   "nobody-1", 404);
  });
  add("GET", "/metrics", [&] {
    BOOST_TEST(as_b("GET", "/metrics").status == 403);
  });
  add("GET", "/api/admin/cluster", [&] {
    BOOST_TEST(as_b("GET", "/api/admin/cluster").status == 403);
  });
  add("POST", "/api/admin/cluster/move", [&] {
    BOOST_TEST(as_b("POST", "/api/admin/cluster/move?company_id=acme",
                    R"({"to":"n2"})")
                   .status
               == 403);
  });
  add("POST", "/api/admin/cluster/forget", [&] {
    BOOST_TEST(
        as_b("POST", "/api/admin/cluster/forget", R"({"company_id":"acme"})")
            .status
        == 403);
  });
  // Pausing stops every company's listeners: admin only.
  add("POST", "/api/admin/queues/pause", [&] {
    BOOST_TEST(as_b("POST", "/api/admin/queues/pause").status == 403);
  });
  add("POST", "/api/admin/queues/continue", [&] {
    BOOST_TEST(as_b("POST", "/api/admin/queues/continue").status == 403);
  });
  add("GET", "/api/admin/stats", [&] {
    // B's own series, whatever company it names (A's calls are A's).
    for (const auto* q :
         {"/api/admin/stats", "/api/admin/stats?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto v = r.json();
      BOOST_TEST(v.at("company_id").as_string() == "globex");
      for (const auto& s : v.at("series").as_array())
        BOOST_TEST(s.at("name").as_string().find("call.") != 0u);
    }
  });
  add("GET", "/api/queues", [&] {
    // B's own share of each queue; A's listeners' counters are not B's.
    for (const auto* q : {"/api/queues", "/api/queues?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_TEST((r.status == 200 || r.status == 403 || r.status == 422));
    }
  });
  add("GET", "/api/jobs", [&] {
    for (auto q : {std::string{"/api/jobs?limit=1000"},
                   std::string{"/api/jobs?state=failed&limit=1000"},
                   std::string{"/api/jobs?state=failed&company_id=acme"},
                   "/api/jobs?state=failed&event_id=" + event_id}) {
      auto r = as_b("GET", q);
      if (r.status != 200)
        continue;
      auto v = r.json();
      for (const auto& j : v.at("jobs").as_array())
        BOOST_TEST(json::serialize(j.at("id")) != job_id);
    }
  });
  add("GET", "/api/traces/{correlation_id}", [&] {
    // A's call trace is there for A, and for B exactly like an unknown one.
    BOOST_TEST(c.request("GET", "/api/traces/call-a", "", acme).status == 200);
    like_missing("GET", "/api/traces/{X}", "", "call-a", "nobody-1", 404);
  });
  // B's dashboard session: with its cookie, B is B (A's trace, job and
  // failed job answer as unknown ones), and its state changes need the
  // session's CSRF token and this server's origin.
  std::string b_cookie, b_csrf;
  auto sign_in_b = [&] {
    auto s = switchboard::test::sign_in(c, globex);
    BOOST_TEST(s.answer.at("company_id").as_string() == "globex");
    BOOST_TEST(s.set_cookie.find("HttpOnly") != std::string::npos);
    BOOST_TEST(s.set_cookie.find("SameSite=Strict") != std::string::npos);
    b_cookie = s.cookie;
    b_csrf = s.csrf;
  };
  auto as_b_session
      = [&](const std::string& method, const std::string& target,
            std::vector<std::pair<std::string, std::string>> extra = {}) {
          extra.emplace_back("Cookie", b_cookie);
          ++calls;
          auto r = c.request(method, target, "", "", std::move(extra));
          BOOST_TEST_INFO(method << " " << target << " -> " << r.status << " "
                                 << r.body);
          for (const auto& s : secrets_of_a)
            if (target.find(s) == std::string::npos)
              BOOST_TEST(r.body.find(s) == std::string::npos, "reveals " << s);
          return r;
        };
  add("GET", "/admin/events/dashboard", [&] {
    auto r = as_b("GET", "/admin/events/dashboard");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.header("content-type").find("text/html") == 0);
  });
  add("GET", "/admin/events/stream", [&] {
    // B's stream from the first event on, even naming A: B's events only,
    // up to B's newest.
    auto newest = as_b("GET", "/api/events?limit=1");
    BOOST_REQUIRE(newest.status == 200);
    auto last = std::string{
        newest.json().as_array().at(0).at("sequence").as_string()};
    ++calls;
    switchboard::test::sse_client s{
        port,
        "/admin/events/stream?after=0&company_id=acme",
        {{"Authorization", "Bearer " + globex}}};
    BOOST_REQUIRE(s.status == 200);
    for (;;) {
      auto f = s.next_event();
      BOOST_REQUIRE(f.has_value());
      for (const auto& secret : secrets_of_a)
        BOOST_TEST(f->data.find(secret) == std::string::npos,
                   "reveals " << secret);
      auto e = json::parse(f->data);
      BOOST_TEST(e.at("companyid").as_string() == "globex");
      if (f->id == last)
        break;
    }
  });
  add("GET", "/admin/events/dashboard.js", [&] {
    BOOST_TEST(as_b("GET", "/admin/events/dashboard.js").status == 200);
  });
  add("POST", "/admin/events/session", [&] {
    sign_in_b();
    // From another site: refused.
    auto r = c.request("POST", "/admin/events/session",
                       R"({"token":")" + globex + R"("})", "",
                       {{"Origin", "https://evil.example"}});
    BOOST_TEST(r.status == 403);
    BOOST_TEST(as_b_session("GET", "/api/traces/call-a").status == 404);
    BOOST_TEST(as_b_session("GET", "/api/jobs/" + job_id).status == 404);
    BOOST_TEST(as_b_session("GET", "/api/calls/call-a").status == 404);
    auto same = std::vector<std::pair<std::string, std::string>>{
        {"Origin", "http://127.0.0.1"}, {"X-CSRF-Token", b_csrf}};
    BOOST_TEST(as_b_session("DELETE", "/api/jobs/failed/" + job_id, same).status
               == 404);
    BOOST_TEST(
        as_b_session("POST", "/api/jobs/failed/" + job_id + "/retry", same)
            .status
        == 404);
    // Without the CSRF token, or from another origin: 403 before anything.
    BOOST_TEST(as_b_session("DELETE", "/api/jobs/failed/" + job_id,
                            {{"Origin", "http://127.0.0.1"}})
                   .status
               == 403);
    BOOST_TEST(as_b_session("DELETE", "/api/jobs/failed/" + job_id,
                            {{"Origin", "https://evil.example"},
                             {"X-CSRF-Token", b_csrf}})
                   .status
               == 403);
  });
  add("GET", "/admin/events/session", [&] {
    if (b_cookie.empty())
      sign_in_b();
    auto r = as_b_session("GET", "/admin/events/session");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(!r.json().at("admin").as_bool());
  });
  add("DELETE", "/admin/events/session", [&] {
    if (b_cookie.empty())
      sign_in_b();
    BOOST_TEST(as_b_session("DELETE", "/admin/events/session").status == 403);
    BOOST_TEST(
        as_b_session("DELETE", "/admin/events/session",
                     {{"Origin", "http://127.0.0.1"}, {"X-CSRF-Token", b_csrf}})
            .status
        == 200);
    // The cookie is dead now.
    BOOST_TEST(as_b_session("GET", "/api/traces/call-a").status == 401);
    b_cookie.clear();
  });
  add("GET", "/api/jobs/{id}", [&] {
    like_missing("GET", "/api/jobs/{X}", "", job_id, "999999", 404);
  });
  add("DELETE", "/api/jobs/failed", [&] {
    // Whatever the filter, A's failed job stays (snapshot_of_a checks).
    for (auto q : {std::string{"/api/jobs/failed?company_id=acme"},
                   "/api/jobs/failed?event_id=" + event_id,
                   std::string{"/api/jobs/failed"}}) {
      auto r = as_b("DELETE", q);
      BOOST_TEST((r.status == 200 || r.status == 403 || r.status == 422));
    }
  });
  add("POST", "/api/jobs/failed/retry", [&] {
    for (auto body :
         {std::string{R"({"company_id":"acme"})"},
          R"({"event_id":")" + event_id + R"("})", std::string{"{}"}}) {
      auto r = as_b("POST", "/api/jobs/failed/retry", body);
      BOOST_TEST((r.status == 200 || r.status == 403 || r.status == 422));
    }
  });
  add("GET", "/api/jobs/failed", [&] {
    // B's own jobs (its booking's CRM sync failed too), not A's.
    for (auto q : {std::string{"/api/jobs/failed?limit=1000"},
                   std::string{"/api/jobs/failed?limit=1000&after=0"}}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      auto r_v6 = r.json();
      for (const auto& j : r_v6.at("jobs").as_array())
        BOOST_TEST(json::serialize(j.at("id")) != job_id);
    }
  });
  add("POST", "/api/jobs/failed/{id}/retry", [&] {
    like_missing("POST", "/api/jobs/failed/{X}/retry", "", job_id, "999999",
                 404);
  });
  add("DELETE", "/api/jobs/failed/{id}", [&] {
    like_missing("DELETE", "/api/jobs/failed/{X}", "", job_id, "999999", 404);
  });
  add("GET", "/api/company", [&] {
    for (const auto* q : {"/api/company", "/api/company?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_REQUIRE(r.status == 200);
      BOOST_TEST(r.json().at("id").as_string() == "globex");
    }
  });
  add("GET", "/api/analytics", [&] {
    auto r = as_b("GET", "/api/analytics?company_id=acme");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
  });
  add("GET", "/api/outbox", [&] {
    auto r = as_b("GET", "/api/outbox?limit=1000");
    BOOST_REQUIRE(r.status == 200);
    auto r_v7 = r.json();
    for (const auto& m : r_v7.at("messages").as_array())
      BOOST_TEST(m.at("company_id").as_string() == "globex");
    auto after = as_b("GET", "/api/outbox?limit=1000&after=0");
    BOOST_REQUIRE(after.status == 200);
    auto after_v8 = after.json();
    for (const auto& m : after_v8.at("messages").as_array())
      BOOST_TEST(json::serialize(m.at("id")) != outbox_id);
  });
  // The entities: read, changed, created over, merged.
  for (auto [plural, type, theirs, ours] :
       {std::tuple{"customers", "customer", "cu-a", "cu-b"},
        std::tuple{"staff", "staff", "st-a", "st-b"},
        std::tuple{"services", "service", "sv-a", "sv-b"}}) {
    std::string base = std::string{"/api/"} + plural;
    std::string a{theirs}, b{ours}, t{type};
    add("GET", base + "/{id}", [=, &like_missing] {
      like_missing("GET", base + "/{X}", "", a, "nobody-1", 404);
    });
    add("PATCH", base + "/{id}", [=, &like_missing] {
      like_missing("PATCH", base + "/{X}", R"({"name":"Mallory"})", a,
                   "nobody-1", 404);
      like_missing("PATCH", base + "/{X}", R"({"name":"Mallory"})", a,
                   "nobody-1", 404, {{"If-Match", "\"1\""}});
    });
    // Ids are per company: creating with A's id makes B's own entity,
    // as with an id nobody has (A's stays as it was: the snapshot of A
    // at the end); over an id of B's own it is taken.
    add("POST", base, [=, &like_missing] {
      std::string extra
          = t == "service" ? R"(,"price_cents":1,"duration_minutes":30)" : "";
      like_missing("POST", base,
                   R"({"id":"{X}","name":"Mallory")" + extra + "}", a + "2",
                   "fresh-" + t, 201);
      auto again
          = as_b("POST", base,
                 R"({"id":")" + a + R"(2","name":"Mallory")" + extra + "}");
      BOOST_TEST(again.status == 409);
    });
  }
  add("POST", "/api/customers/{id}/merge", [&] {
    like_missing("POST", "/api/customers/{X}/merge", R"({"merged_id":"cu-b"})",
                 "cu-a", "nobody-1", 404);
    like_missing("POST", "/api/customers/cu-b/merge", R"({"merged_id":"{X}"})",
                 "cu-a", "nobody-1", 0);
  });
  // Branches: A's is neither read nor changed; B's own of the same id is
  // B's, made as one of an id nobody has.
  add("GET", "/api/branches/{id}", [&] {
    like_missing("GET", "/api/branches/{X}", "", "br-a", "nobody-1", 404);
  });
  add("PATCH", "/api/branches/{id}", [&] {
    like_missing("PATCH", "/api/branches/{X}",
                 R"({"name":"Mallory","time_zone":"Asia/Tokyo"})", "br-a",
                 "nobody-1", 404);
  });
  add("POST", "/api/branches", [&] {
    like_missing("POST", "/api/branches", R"({"id":"{X}","name":"Mallory"})",
                 "br-a", "br-new", 201);
    auto r = as_b("GET", "/api/branches/br-a");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(r.json().at("name").as_string() == "Mallory");
  });
  add("PUT", "/api/staff/{id}/working-hours", [&] {
    like_missing("PUT", "/api/staff/{X}/working-hours",
                 R"({"working_hours":[{"day":"monday","start_minute":540,
                     "end_minute":600}]})",
                 "st-a", "nobody-1", 404);
  });
  add("GET", "/api/calls/{id}", [&] {
    like_missing("GET", "/api/calls/{X}", "", "call-a", "nobody-1", 404);
  });
  add("POST", "/api/appointments", [&] {
    for (const auto* field : {"customer_id", "service_id", "staff_id"}) {
      std::string f{field};
      std::string theirs = f == "customer_id"  ? "cu-a"
                           : f == "service_id" ? "sv-a"
                                               : "st-a";
      like_missing("POST", "/api/appointments", booking_naming(f), theirs,
                   "nobody-1", 422);
    }
    // With A's appointment id: B's own new booking (ids are per company),
    // on B's calendar; A's is untouched (the snapshot of A at the end).
    auto v = json::parse(booking_body).as_object();
    v["id"] = "ap-a2";
    v["start_time"] = times_of("16");
    auto r = as_b("POST", "/api/appointments", json::serialize(v));
    BOOST_TEST(r.status == 201);
    if (r.status == 201) {
      auto made = r.json();
      BOOST_TEST(made.at("company_id").as_string() == "globex");
      BOOST_TEST(made.at("staff_id").as_string() == "st-b");
    }
    // Over one of B's own: taken.
    v["id"] = "ap-b";
    v["start_time"] = times_of("17");
    BOOST_TEST(as_b("POST", "/api/appointments", json::serialize(v)).status
               == 409);
  });
  add("GET", "/api/appointments", [&] {
    for (const auto* f : {"staff_id", "customer_id"})
      like_missing("GET", std::string{"/api/appointments?"} + f + "={X}", "",
                   std::string{f} == "staff_id" ? "st-a" : "cu-a", "nobody-1",
                   200);
    auto r = as_b("GET", "/api/appointments");
    BOOST_REQUIRE(r.status == 200);
    auto r_v9 = r.json();
    for (const auto& a : r_v9.at("appointments").as_array())
      BOOST_TEST(a.at("company_id").as_string() == "globex");
  });
  add("GET", "/api/appointments/{id}", [&] {
    like_missing("GET", "/api/appointments/{X}", "", "ap-a", "nobody-1", 404);
  });
  add("PATCH", "/api/appointments/{id}", [&] {
    like_missing("PATCH", "/api/appointments/{X}",
                 R"({"start_time":")" + times_of("12") + R"("})", "ap-a",
                 "nobody-1", 404);
    // Moving B's own booking to A's staff member.
    like_missing("PATCH", "/api/appointments/ap-b", R"({"staff_id":"{X}"})",
                 "st-a", "nobody-1", 0);
  });
  add("POST", "/api/appointments/{id}/cancel", [&] {
    like_missing("POST", "/api/appointments/{X}/cancel",
                 R"({"reason":"mallory"})", "ap-a", "nobody-1", 404);
  });
  add("POST", "/api/appointments/{id}/complete", [&] {
    like_missing("POST", "/api/appointments/{X}/complete", "", "ap-a",
                 "nobody-1", 404);
  });
  add("GET", "/api/availability", [&] {
    like_missing("GET",
                 "/api/availability?staff_id={X}&service_id=sv-b&date=" + day,
                 "", "st-a", "nobody-1", 0);
    like_missing("GET",
                 "/api/availability?staff_id=st-b&service_id={X}&date=" + day,
                 "", "sv-a", "nobody-1", 0);
  });
  add("POST", "/webhooks/calls/{company_id}", [&] {
    // B cannot sign; unsigned, A's company answers as a missing one.
    like_missing("POST", "/webhooks/calls/{X}",
                 R"({"id":"d-b1","type":"call.ended","call_id":"call-a",
                     "data":{}})",
                 "acme", "nobody", 401);
    // The provider itself, for B, naming A's call id: the call is not
    // B's to end.
    auto r = webhook("globex", R"({"id":"d-b2","type":"call.ended",
        "call_id":"call-a","data":{"duration_s":5}})");
    BOOST_TEST_INFO(r.body);
    BOOST_TEST(r.status / 100 == 4);
    BOOST_TEST(r.body.find("Ada") == std::string::npos);
  });
  add("POST", "/webhooks/calcom/{company_id}", [&] {
    // Unsigned, or signed with B's own secret: A answers as a company
    // that does not exist.
    like_missing("POST", "/webhooks/calcom/{X}",
                 R"({"triggerEvent":"BOOKING_CANCELLED","payload":{}})", "acme",
                 "nobody", 401);
    BOOST_REQUIRE(as_b("PUT", "/api/integrations/calcom",
                       R"({"secret":"globex-cal-secret"})")
                      .status
                  == 200);
    std::string body
        = R"({"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"x"}})";
    like_missing("POST", "/webhooks/calcom/{X}", body, "acme", "nobody", 401,
                 {{"X-Cal-Signature-256", hmac("globex-cal-secret", body)}});
  });
  add("POST", "/webhooks/retell/{company_id}", [&] {
    like_missing("POST", "/webhooks/retell/{X}",
                 R"({"event":"call_ended","call":{"call_id":"call-a"}})",
                 "acme", "nobody", 401);
    // Signed with the daemon's Retell key, for B, naming A's call id: ids
    // are per company, so it is B's own new call (ended at once), as with
    // an id nobody has; A's call is untouched (the snapshot of A).
    std::string body = R"({"event":"call_ended","call":{"call_id":"call-a",
        "from_number":"+4930222","start_timestamp":1714608475945,
        "end_timestamp":1714608491736}})";
    auto ms = std::to_string(unix_time<std::chrono::milliseconds>());
    auto r = as_b("POST", "/webhooks/retell/globex", body,
                  {{"x-retell-signature",
                    "v=" + ms + ",d=" + hmac("sweep-retell-key", body + ms)}});
    BOOST_TEST(r.status == 204);
    BOOST_TEST(r.body.find("Ada") == std::string::npos);
  });
  add("POST", "/webhooks/twilio/status", [&] {
    // B cannot sign as Twilio: a callback naming A's message answers as
    // one naming no message.
    like_missing("POST", "/webhooks/twilio/status",
                 "MessageSid={X}&MessageStatus=delivered", "SM-a", "SM-nobody",
                 403, {{"Content-Type", "application/x-www-form-urlencoded"}});
  });
  add("GET", "/api/integrations/retell", [&] {
    auto r = as_b("GET", "/api/integrations/retell?company_id=acme");
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(r.body.find("acme-treatment") == std::string::npos);
  });
  add("PUT", "/api/integrations/retell", [&] {
    auto r = as_b("PUT", "/api/integrations/retell?company_id=acme",
                  R"({"fields":{"notes":"globex-notes"}})");
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
  });
  add("GET", "/api/integrations/calcom", [&] {
    for (const auto* q : {"/api/integrations/calcom",
                          "/api/integrations/calcom?company_id=acme"}) {
      auto r = as_b("GET", q);
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 200);
      BOOST_TEST(r.json().at("company_id").as_string() == "globex");
      for (const auto* a : {"sv-a", "st-a", "acme-cal-secret", "staff-a@"})
        BOOST_TEST(r.body.find(a) == std::string::npos);
    }
  });
  add("PUT", "/api/integrations/calcom", [&] {
    // B's token sets B's settings, whatever company it names.
    auto r = as_b("PUT", "/api/integrations/calcom?company_id=acme",
                  R"({"event_types":{"77":"sv-b"}})");
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.json().at("company_id").as_string() == "globex");
    BOOST_TEST(r.body.find("sv-a") == std::string::npos);
  });
  add("OPTIONS", "/broadcasting/auth", [&] {
    // The CORS preflight needs no token and says nothing of a company.
    auto r = as_b("OPTIONS", "/broadcasting/auth", "",
                  {{"Origin", "https://acme.example"},
                   {"Access-Control-Request-Method", "POST"}});
    BOOST_TEST(r.status < 500);
  });
  add("POST", "/broadcasting/auth", [&] {
    for (const auto* prefix : {"private-company.", "presence-company."})
      like_missing("POST", "/broadcasting/auth",
                   std::string{"socket_id=1.2&channel_name="} + prefix + "{X}",
                   "acme", "nobody", 403,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  });
  // The Pusher HTTP API is the server's (signed with the app secret); a
  // company token opens none of it.
  for (auto [method, path] :
       {std::pair{"POST", "/apps/{app_id}/events"},
        std::pair{"POST", "/apps/{app_id}/batch_events"},
        std::pair{"GET", "/apps/{app_id}/channels"},
        std::pair{"GET", "/apps/{app_id}/channels/{channel_name}"},
        std::pair{"GET", "/apps/{app_id}/channels/{channel_name}/users"},
        std::pair{"GET", "/apps/{app_id}/connections"}}) {
    std::string m{method}, p{path};
    add(m, p, [=, &like_missing] {
      auto target = p;
      target.replace(target.find("{app_id}"), 8, "sweep-app");
      if (auto at = target.find("{channel_name}"); at != std::string::npos)
        target.replace(at, 14, "presence-company.{X}");
      std::string body
          = m == "POST"
                ? R"({"name":"x","channel":"private-company.{X}","data":"{}"})"
                : "";
      like_missing(m, target, body, "acme", "nobody", 401);
    });
  }

  // Every route has its recipe, and every recipe its route.
  auto routes = switchboard::test::openapi_routes();
  BOOST_REQUIRE(routes.size() >= 30u);
  for (const auto& key : routes) {
    BOOST_TEST_CONTEXT(key.first << " " << key.second) {
      auto i = recipes.find(key);
      BOOST_TEST((i != recipes.end()), "no cross-company recipe for "
                                           << key.first << " " << key.second);
      if (i != recipes.end())
        i->second();
    }
  }
  for (const auto& [key, r] : recipes)
    BOOST_TEST(routes.count(key) == 1u,
               key.first << " " << key.second << " is not in openapi.yaml");
  BOOST_TEST(calls > 60);
  // A's objects are as they were.
  auto after = snapshot_of_a();
  BOOST_REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i)
    BOOST_TEST(after[i] == before[i]);
}

BOOST_AUTO_TEST_SUITE_END()
