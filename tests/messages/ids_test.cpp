#include <messages/ids.hpp>

#include <messages/time.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace switchboard;

namespace {

/// The millisecond time in the first 48 bits of a UUIDv7.
std::int64_t embedded_ms(const std::string& id) {
  auto hex = id.substr(0, 8) + id.substr(9, 4);
  return static_cast<std::int64_t>(std::stoull(hex, nullptr, 16));
}

} // namespace

BOOST_AUTO_TEST_SUITE(event_ids)

BOOST_AUTO_TEST_CASE(uuid_v7_layout) {
  const auto before = now_ms();
  const auto id = new_event_id();
  const auto after = now_ms();
  BOOST_TEST(id.size() == 36u);
  BOOST_TEST(is_uuid(id));
  BOOST_TEST(id[14] == '7'); // version
  BOOST_TEST(std::string{"89ab"}.find(id[19]) != std::string::npos);
  for (char c : id)
    BOOST_TEST((c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
  // The embedded time is the clock's (it may run ahead by a few ms when
  // other tests drew many ids in the same millisecond).
  BOOST_TEST(embedded_ms(id) >= before);
  BOOST_TEST(embedded_ms(id) <= after + 100);
}

BOOST_AUTO_TEST_CASE(successive_ids_are_unique_and_increasing) {
  constexpr int n = 50'000;
  std::vector<std::string> ids;
  ids.reserve(n);
  for (int i = 0; i < n; ++i)
    ids.push_back(new_event_id());
  int out_of_order = 0;
  for (int i = 1; i < n; ++i)
    if (!(ids[i - 1] < ids[i]))
      ++out_of_order;
  BOOST_TEST(out_of_order == 0);
  BOOST_TEST(std::set<std::string>(ids.begin(), ids.end()).size()
             == ids.size());
}

BOOST_AUTO_TEST_CASE(unique_and_ordered_across_threads) {
  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  std::vector<std::vector<std::string>> ids(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&ids, t] {
      ids[t].reserve(per_thread);
      for (int i = 0; i < per_thread; ++i)
        ids[t].push_back(new_event_id());
    });
  for (auto& w : workers)
    w.join();
  std::set<std::string> all;
  for (const auto& list : ids) {
    for (std::size_t i = 1; i < list.size(); ++i)
      BOOST_REQUIRE(list[i - 1] < list[i]);
    all.insert(list.begin(), list.end());
  }
  BOOST_TEST(all.size() == std::size_t{threads * per_thread});
}

BOOST_AUTO_TEST_CASE(is_uuid_checks_the_form) {
  struct example {
    std::string text;
    bool accepted;
  };
  const example examples[] = {
      {"01890a5d-ac96-7c3e-8b2d-3f9e0c1a2b4c", true},
      {"01890A5D-AC96-7C3E-8B2D-3F9E0C1A2B4C", true},
      {"", false},
      {"01890a5d-ac96-7c3e-8b2d-3f9e0c1a2b4", false},
      {"01890a5dxac96-7c3e-8b2d-3f9e0c1a2b4c", false},
      {"01890a5d-ac96-7c3e-8b2d-3f9e0c1a2b4g", false},
  };
  for (const auto& e : examples)
    BOOST_TEST_CONTEXT("is_uuid(\"" << e.text << "\")") {
      BOOST_TEST(is_uuid(e.text) == e.accepted);
    }
}

BOOST_AUTO_TEST_SUITE_END()
