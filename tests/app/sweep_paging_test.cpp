// The sweep's paging: the list routes paged one at a time by company B
// among A's records (sweep_fixture.hpp) never stop without a cursor.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/app/sweep_fixture.hpp"

using switchboard::test::sweep_fixture;

BOOST_AUTO_TEST_SUITE(sweep_suite)

// The list routes other than GET /api/appointments, paged one at a time
// by company B among A's records: every page that may be followed by more
// carries a cursor, and following them reaches every record the listing
// holds at once, in order.
BOOST_FIXTURE_TEST_CASE(paging_never_stops_silently, sweep_fixture) {
  http_client c{port};
  // A second booking of B's: two failed CRM syncs, more messages.
  json::object b{{"id", "ap-b2"},
                 {"customer_id", "cu-b"},
                 {"service_id", "sv-b"},
                 {"staff_id", "st-b"},
                 {"start_time", day + "T15:00:00Z"}};
  BOOST_REQUIRE(
      c.request("POST", "/api/appointments", json::serialize(b), globex).status
      == 201);
  // The JSON listings: {items: [...], next_after}.
  struct listing {
    std::string path, items, key;
  };
  for (const auto& l : {listing{"/api/jobs/failed", "jobs", "id"},
                        listing{"/api/outbox", "messages", "id"},
                        listing{"/api/audit", "records", "sequence"}}) {
    BOOST_TEST_CONTEXT(l.path) {
      // Wait for B's second failed job and message before comparing.
      json::array all;
      for (int i = 0; i < 300; ++i) {
        auto r = c.request("GET", l.path + "?limit=1000", "", globex);
        BOOST_REQUIRE(r.status == 200);
        all = r.json().at(l.items).as_array();
        if (all.size() >= 2)
          break;
        std::this_thread::sleep_for(100ms);
      }
      BOOST_REQUIRE(all.size() >= 2u);
      std::vector<std::string> seen;
      std::string cursor = "0";
      for (int pages = 0; pages < 1000; ++pages) {
        auto r
            = c.request("GET", l.path + "?limit=1&after=" + cursor, "", globex);
        BOOST_REQUIRE(r.status == 200);
        auto v = r.json();
        for (const auto& x : v.at(l.items).as_array())
          seen.push_back(json::serialize(x.at(l.key)));
        std::string next;
        if (l.items == "records")
          next = r.header("x-next-after");
        else if (!v.at("next_after").is_null())
          next = json::serialize(v.at("next_after"));
        if (next.empty())
          break;
        BOOST_TEST(next != cursor);
        cursor = next;
      }
      // Every record listed at once was reached (the listing may have
      // grown meanwhile: a superset, in the same order).
      std::size_t k = 0;
      for (const auto& x : all) {
        auto id = json::serialize(x.at(l.key));
        while (k < seen.size() && seen[k] != id)
          ++k;
        BOOST_TEST(k < seen.size(), id << " was never reached");
      }
    }
  }
  // The events: by cursor after a sequence, and one stream by version.
  auto all = c.request("GET", "/api/events?after=0&limit=1000", "", globex);
  BOOST_REQUIRE(all.status == 200);
  auto all_json = all.json();
  std::vector<std::string> seen;
  std::string cursor = "0";
  for (int pages = 0; pages < 1000; ++pages) {
    auto r
        = c.request("GET", "/api/events?limit=1&after=" + cursor, "", globex);
    BOOST_REQUIRE(r.status == 200);
    auto r_v10 = r.json();
    for (const auto& e : r_v10.as_array())
      seen.emplace_back(e.at("id").as_string());
    auto next = r.header("x-next-after");
    if (next.empty())
      break;
    cursor = next;
  }
  BOOST_TEST(seen.size() >= all_json.as_array().size());
  for (std::size_t i = 0; i < all_json.as_array().size(); ++i)
    BOOST_TEST(seen.at(i) == all_json.at(i).at("id").as_string());
  auto s1
      = c.request("GET", "/api/events/appointment/ap-b2?limit=1", "", globex);
  BOOST_REQUIRE(s1.status == 200);
  BOOST_TEST(s1.json().as_array().size() == 1u);
  BOOST_TEST(
      s1.header("x-next-from-version").empty()
      == (c.request("GET", "/api/events/appointment/ap-b2?from_version=2", "",
                    globex)
              .json()
              .as_array()
              .empty()));
}

BOOST_AUTO_TEST_SUITE_END()
