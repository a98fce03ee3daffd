// Branches and their time zones, against the real daemon: a company in
// Europe/Berlin with a branch in America/New_York. The staff at the branch
// work 09:00-17:00 New York time across the American and the European
// daylight-saving changes of 2027; bookings are checked, and customers
// told the time, in the branch's zone. The routes check who asks and name
// the field they refuse.

#include <chrono>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

namespace {

/// Every day 09:00-17:00 local.
const std::string nine_to_five = [] {
  json::array hours;
  for (const char* day : {"monday", "tuesday", "wednesday", "thursday",
                          "friday", "saturday", "sunday"})
    hours.push_back(json::object{
        {"day", day}, {"start_minute", 540}, {"end_minute", 1020}});
  return json::serialize(hours);
}();

/// acme in Europe/Berlin with branch "ny" in America/New_York; staff
/// st-ny at the branch, st-be at none (the company's zone), both working
/// nine to five; a 30-minute service and a customer told by SMS.
struct branch_fixture : daemon_fixture {
  branch_fixture() {
    auto zone = command({"tenant", "time-zone", "acme", "Europe/Berlin"}, 20s);
    BOOST_TEST_INFO(zone.out);
    BOOST_REQUIRE(zone.rc == 0);
    http_client c{port};
    auto made = c.request("POST", "/api/branches",
                          R"({"id":"ny","name":"Acme Manhattan",
                              "address":"5th Avenue","phone":"+12125550100",
                              "time_zone":"America/New_York"})",
                          acme);
    BOOST_TEST_INFO(made.body);
    BOOST_REQUIRE(made.status == 201);
    created(c.request("POST", "/api/services",
                      R"({"id":"s1","name":"Cut","price_cents":4500,
                          "duration_minutes":30})",
                      acme));
    created(c.request("POST", "/api/customers",
                      R"({"id":"cu1","name":"Ada","phone":"+4930123",
                          "prefers_sms":true})",
                      acme));
    created(c.request("POST", "/api/staff",
                      R"({"id":"st-ny","name":"Ny","branch_id":"ny",
                          "working_hours":)"
                          + nine_to_five + "}",
                      acme));
    created(c.request("POST", "/api/staff",
                      R"({"id":"st-be","name":"Be","working_hours":)"
                          + nine_to_five + "}",
                      acme));
  }

  /// The free slots of `staff` on `date` (the 30-minute service).
  std::vector<std::string> slots(const std::string& staff,
                                 const std::string& date) {
    http_client c{port};
    auto r = c.request("GET",
                       "/api/availability?staff_id=" + staff
                           + "&service_id=s1&date=" + date,
                       "", acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    std::vector<std::string> out;
    auto body = r.json();
    for (const auto& s : body.at("slots").as_array())
      out.emplace_back(s.as_string());
    return out;
  }

  http_reply book(const std::string& id, const std::string& staff,
                  const std::string& start) {
    http_client c{port};
    json::object b{{"id", id},
                   {"customer_id", "cu1"},
                   {"service_id", "s1"},
                   {"staff_id", staff},
                   {"start_time", start}};
    return c.request("POST", "/api/appointments", json::serialize(b), acme);
  }

  /// Waits until acme's outbox holds an SMS containing `text` (the
  /// notification queue delivers confirmations after a delay); returns
  /// the SMS bodies seen last.
  std::vector<std::string> wait_for_sms(const std::string& text) {
    http_client c{port};
    std::vector<std::string> bodies;
    for (int i = 0; i < 600; ++i) {
      auto r = c.request("GET", "/api/outbox?channel=sms&limit=1000", "", acme);
      BOOST_REQUIRE(r.status == 200);
      bodies = strings_of(r.json().at("messages"), "body");
      for (const auto& b : bodies)
        if (b.find(text) != std::string::npos)
          return bodies;
      std::this_thread::sleep_for(100ms);
    }
    return bodies;
  }
};

bool contains(const std::vector<std::string>& bodies, const std::string& text) {
  for (const auto& b : bodies)
    if (b.find(text) != std::string::npos)
      return true;
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(branch_suite)

// Nine to five in New York on both sides of the American changes
// (2027-03-14, 2027-11-07), and unmoved by the European ones (2027-03-28,
// 2027-10-31), which move the company's own staff.
BOOST_FIXTURE_TEST_CASE(availability_keeps_the_branch_zone, branch_fixture) {
  struct day {
    const char* date;
    const char* new_york; // the offset of st-ny's slots
    const char* berlin;   // the offset of st-be's slots
  };
  for (auto d : {day{"2027-03-13", "-05:00", "+01:00"},
                 day{"2027-03-14", "-04:00", "+01:00"},
                 day{"2027-03-27", "-04:00", "+01:00"},
                 day{"2027-03-28", "-04:00", "+02:00"},
                 day{"2027-10-30", "-04:00", "+02:00"},
                 day{"2027-10-31", "-04:00", "+01:00"},
                 day{"2027-11-06", "-04:00", "+01:00"},
                 day{"2027-11-07", "-05:00", "+01:00"}}) {
    BOOST_TEST_CONTEXT(d.date) {
      std::string date{d.date};
      auto ny = slots("st-ny", date);
      BOOST_REQUIRE(ny.size() == 16u);
      BOOST_TEST(ny.front() == date + "T09:00:00" + d.new_york);
      BOOST_TEST(ny.back() == date + "T16:30:00" + d.new_york);
      auto be = slots("st-be", date);
      BOOST_REQUIRE(be.size() == 16u);
      BOOST_TEST(be.front() == date + "T09:00:00" + d.berlin);
    }
  }
}

// A booking is checked against the hours in the branch's zone, and the
// customer is told its local time there.
BOOST_FIXTURE_TEST_CASE(bookings_and_messages_in_the_branch_zone,
                        branch_fixture) {
  // 08:30 in New York (13:30 in Berlin, within the company's hours).
  auto early = book("early", "st-ny", "2027-03-15T12:30:00Z");
  BOOST_TEST(early.status == 422);
  BOOST_TEST(early.body.find("start_time") != std::string::npos);
  // 09:00 EDT, after the American change.
  auto spring = book("a1", "st-ny", "2027-03-15T13:00:00Z");
  BOOST_TEST_INFO(spring.body);
  BOOST_REQUIRE(spring.status == 201);
  BOOST_TEST(spring.json().at("branch_id").as_string() == "ny");
  // 09:00 EST, after the autumn change: the same local time an hour later
  // in UTC; 08:30 EST is refused.
  BOOST_TEST(book("early2", "st-ny", "2027-11-08T13:30:00Z").status == 422);
  auto autumn = book("a2", "st-ny", "2027-11-08T14:00:00Z");
  BOOST_TEST_INFO(autumn.body);
  BOOST_REQUIRE(autumn.status == 201);
  // The confirmation of a1 states New York's time with its offset.
  auto sms = wait_for_sms("2027-03-15T09:00:00-04:00");
  BOOST_TEST_INFO(sms.size() << " SMS");
  BOOST_TEST(contains(sms, "2027-03-15T09:00:00-04:00"));
  BOOST_TEST(!contains(sms, "2027-03-15T14:00:00+01:00"));
  // A cancellation, sent at once, too.
  http_client c{port};
  BOOST_REQUIRE(
      c.request("POST", "/api/appointments/a2/cancel", "", acme).status == 200);
  sms = wait_for_sms("2027-11-08T09:00:00-05:00");
  BOOST_TEST(contains(sms, "2027-11-08T09:00:00-05:00"));
}

// The branch's zone can change (and be dropped for the company's); the
// availability answered before is not served from the cache after.
BOOST_FIXTURE_TEST_CASE(a_branch_zone_can_change, branch_fixture) {
  BOOST_TEST(slots("st-ny", "2027-03-14").front()
             == "2027-03-14T09:00:00-04:00");
  http_client c{port};
  auto r
      = c.request("PATCH", "/api/branches/ny", R"({"time_zone":null})", acme);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("time_zone").is_null());
  BOOST_TEST(r.json().at("name").as_string() == "Acme Manhattan");
  BOOST_TEST(slots("st-ny", "2027-03-14").front()
             == "2027-03-14T09:00:00+01:00");
  r = c.request("PATCH", "/api/branches/ny",
                R"({"time_zone":"Australia/Sydney","phone":"+61255550100"})",
                acme);
  BOOST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("time_zone").as_string() == "Australia/Sydney");
  // Sydney leaves summer time on 2027-04-04.
  BOOST_TEST(slots("st-ny", "2027-04-03").front()
             == "2027-04-03T09:00:00+11:00");
  BOOST_TEST(slots("st-ny", "2027-04-04").front()
             == "2027-04-04T09:00:00+10:00");
  auto got = c.request("GET", "/api/branches/ny", "", acme);
  BOOST_REQUIRE(got.status == 200);
  auto v = got.json();
  BOOST_TEST(v.at("id").as_string() == "ny");
  BOOST_TEST(v.at("company_id").as_string() == "acme");
  BOOST_TEST(v.at("address").as_string() == "5th Avenue");
  BOOST_TEST(v.at("phone").as_string() == "+61255550100");
  BOOST_TEST(v.at("time_zone").as_string() == "Australia/Sydney");
}

BOOST_FIXTURE_TEST_CASE(bad_branches_are_refused_naming_the_field,
                        branch_fixture) {
  http_client c{port};
  auto refused = [&](const std::string& method, const std::string& target,
                     const std::string& body, int status,
                     const std::string& field) {
    auto r = c.request(method, target, body, acme);
    BOOST_TEST_CONTEXT(method << " " << target << " " << body << " -> "
                              << r.status << " " << r.body) {
      BOOST_TEST(r.status == status);
      if (!field.empty())
        BOOST_TEST(
            r.json().at("error").at("fields").as_object().contains(field));
    }
  };
  refused("POST", "/api/branches",
          R"({"name":"Mars","time_zone":"Mars/Olympus"})", 422, "time_zone");
  refused("POST", "/api/branches", R"({"name":"Up","time_zone":"../etc"})", 422,
          "time_zone");
  refused("POST", "/api/branches", R"({"name":"N","time_zone":5})", 422,
          "time_zone");
  refused("POST", "/api/branches", R"({"time_zone":"Europe/Paris"})", 422,
          "name");
  refused("POST", "/api/branches", R"({"name":"N","colour":"red"})", 422,
          "colour");
  refused("POST", "/api/branches",
          R"({"id":")" + std::string(58, 'b') + R"(","name":"N"})", 422, "id");
  refused("POST", "/api/branches", R"({"id":"ny","name":"Again"})", 409, "");
  refused("POST", "/api/branches", "[1]", 400, "");
  refused("PATCH", "/api/branches/ny", R"({"time_zone":"Nowhere/At_All"})", 422,
          "time_zone");
  refused("PATCH", "/api/branches/ny", R"({"name":""})", 422, "name");
  refused("PATCH", "/api/branches/ny", R"({"id":"other"})", 422, "id");
  refused("PATCH", "/api/branches/nobody", R"({"name":"N"})", 404, "");
  refused("GET", "/api/branches/nobody", "", 404, "");
  // Nothing of the refused requests was kept.
  auto ny = c.request("GET", "/api/branches/ny", "", acme);
  BOOST_REQUIRE(ny.status == 200);
  BOOST_TEST(ny.json().at("name").as_string() == "Acme Manhattan");
  BOOST_TEST(ny.json().at("time_zone").as_string() == "America/New_York");
  // An id is assigned when none is given.
  auto made = c.request("POST", "/api/branches", R"({"name":"Plain"})", acme);
  BOOST_REQUIRE(made.status == 201);
  auto id = std::string{made.json().at("id").as_string()};
  BOOST_TEST(!id.empty());
  BOOST_TEST(made.json().at("time_zone").is_null());
  BOOST_TEST(c.request("GET", "/api/branches/" + id, "", acme).status == 200);
}

// Another company's token neither reads nor changes acme's branch, and its
// own branch of the same id is its own; an admin names the company.
BOOST_FIXTURE_TEST_CASE(branches_belong_to_their_company, branch_fixture) {
  http_client c{port};
  auto r = c.request("GET", "/api/branches/ny", "", globex);
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body.find("Manhattan") == std::string::npos);
  r = c.request("PATCH", "/api/branches/ny", R"({"time_zone":"Asia/Tokyo"})",
                globex);
  BOOST_TEST(r.status == 404);
  r = c.request("POST", "/api/branches", R"({"id":"ny","name":"Globex NY"})",
                globex);
  BOOST_TEST(r.status == 201);
  BOOST_TEST(r.json().at("company_id").as_string() == "globex");
  auto ours = c.request("GET", "/api/branches/ny", "", acme);
  BOOST_REQUIRE(ours.status == 200);
  BOOST_TEST(ours.json().at("name").as_string() == "Acme Manhattan");
  BOOST_TEST(ours.json().at("time_zone").as_string() == "America/New_York");
  // globex staff naming branch "ny" keep globex's branch (no zone: UTC).
  created(c.request("POST", "/api/services",
                    R"({"id":"gs1","name":"Cut","price_cents":1,
                        "duration_minutes":30})",
                    globex));
  created(c.request("POST", "/api/staff",
                    R"({"id":"gst","name":"G","branch_id":"ny",
                        "working_hours":)"
                        + nine_to_five + "}",
                    globex));
  auto g = c.request(
      "GET", "/api/availability?staff_id=gst&service_id=gs1&date=2027-03-15",
      "", globex);
  BOOST_REQUIRE(g.status == 200);
  BOOST_TEST(g.json().at("slots").at(0).as_string() == "2027-03-15T09:00:00Z");
  // Admin tokens name the company.
  BOOST_TEST(c.request("GET", "/api/branches/ny", "", admin).status == 422);
  auto a = c.request("GET", "/api/branches/ny?company_id=acme", "", admin);
  BOOST_REQUIRE(a.status == 200);
  BOOST_TEST(a.json().at("name").as_string() == "Acme Manhattan");
  BOOST_TEST(
      c.request("GET", "/api/branches/ny?company_id=nobody", "", admin).status
      == 404);
}

BOOST_AUTO_TEST_SUITE_END()
