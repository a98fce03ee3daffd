#include "store/stats.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/prelude.hpp"
#include <memory>

namespace {

struct stats_fixture : store_fixture {
  std::unique_ptr<stats_store>& stats = part<stats_store>();

  void add(const std::vector<minute_bucket>& bs) {
    auto r = w->execute([&](write_txn& txn) {
      return stats->add_in(txn, bs);
    });
    BOOST_REQUIRE_MESSAGE(r, why(r));
  }

  std::size_t prune(std::uint64_t before) {
    std::size_t n = 0;
    auto r = w->execute([&](write_txn& txn) -> result<void> {
      auto p = stats->prune_in(txn, before);
      if (!p)
        return make_unexpected(p.error());
      n = *p;
      return {};
    });
    BOOST_REQUIRE_MESSAGE(r, why(r));
    return n;
  }
};

minute_bucket bucket(std::uint64_t minute, stats_kind k, std::string name,
                     std::uint64_t count,
                     std::vector<std::uint64_t> hist = {}) {
  minute_bucket b;
  b.minute = minute;
  b.kind = k;
  b.name = std::move(name);
  b.count = count;
  b.sum = 0.5 * static_cast<double>(count);
  b.buckets = std::move(hist);
  return b;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(stats_minutes, stats_fixture)

BOOST_AUTO_TEST_CASE(the_same_minute_and_series_add_up) {
  add({bucket(100, stats_kind::listener, "send", 2, {1, 1, 0})});
  add({bucket(100, stats_kind::listener, "send", 3, {0, 2, 1}),
       bucket(100, stats_kind::event, "appointment.created", 4)});
  auto r = stats->range(100, 101);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_REQUIRE(r->size() == 2u);
  // Ordered by minute, then kind (event before listener).
  BOOST_TEST((*r)[0].name == "appointment.created");
  BOOST_TEST((*r)[0].count == 4u);
  BOOST_TEST((*r)[1].count == 5u);
  BOOST_TEST((*r)[1].sum == 2.5);
  BOOST_TEST((*r)[1].buckets == (std::vector<std::uint64_t>{1, 3, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(buckets_survive_a_reopen) {
  add({bucket(7, stats_kind::queue_wait, "notifications", 9, {9})});
  reopen();
  auto r = stats->range(0, 100);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_REQUIRE(r->size() == 1u);
  BOOST_TEST(r->front().count == 9u);
  BOOST_TEST(r->front().name == "notifications");
}

BOOST_AUTO_TEST_CASE(pruning_drops_only_older_minutes) {
  std::vector<minute_bucket> bs;
  for (std::uint64_t m = 0; m < 20; ++m) {
    bs.push_back(bucket(m, stats_kind::event, "a", 1));
    bs.push_back(bucket(m, stats_kind::listener, "b", 1));
  }
  add(bs);
  BOOST_TEST(prune(12) == 24u);
  auto r = stats->range(0, 1000);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->size() == 16u);
  BOOST_TEST(r->front().minute == 12u);
  BOOST_TEST(prune(12) == 0u);
}

BOOST_AUTO_TEST_CASE(range_is_half_open) {
  add({bucket(5, stats_kind::event, "a", 1),
       bucket(6, stats_kind::event, "a", 1),
       bucket(7, stats_kind::event, "a", 1)});
  auto r = stats->range(6, 7);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_REQUIRE(r->size() == 1u);
  BOOST_TEST(r->front().minute == 6u);
}

BOOST_AUTO_TEST_CASE(companies_have_series_of_their_own) {
  auto of = [](std::string company, minute_bucket b) {
    b.company = std::move(company);
    return b;
  };
  add({bucket(5, stats_kind::event, "a", 1),
       of("acme", bucket(5, stats_kind::event, "a", 2)),
       of("acme", bucket(6, stats_kind::listener, "l", 3, {3})),
       of("acme2", bucket(5, stats_kind::event, "a", 4)),
       of("ac", bucket(5, stats_kind::event, "a", 5))});
  // The node's series never include a company's.
  auto node = stats->range(0, 100);
  BOOST_REQUIRE_MESSAGE(node, why(node));
  BOOST_REQUIRE(node->size() == 1u);
  BOOST_TEST(node->front().count == 1u);
  BOOST_TEST(node->front().company.empty());
  // A company's: its own only (not those of ids it is a prefix of).
  auto acme = stats->range(0, 100, 1000, "acme");
  BOOST_REQUIRE_MESSAGE(acme, why(acme));
  BOOST_REQUIRE(acme->size() == 2u);
  BOOST_TEST((*acme)[0].count == 2u);
  BOOST_TEST((*acme)[0].company == "acme");
  BOOST_TEST((*acme)[1].name == "l");
  BOOST_TEST((*acme)[1].minute == 6u);
  auto ac = stats->range(0, 100, 1000, "ac");
  BOOST_REQUIRE_MESSAGE(ac, why(ac));
  BOOST_REQUIRE(ac->size() == 1u);
  BOOST_TEST(ac->front().count == 5u);
  auto later = stats->range(6, 100, 1000, "acme");
  BOOST_REQUIRE_MESSAGE(later, why(later));
  BOOST_TEST(later->size() == 1u);
  BOOST_TEST(stats->range(0, 100, 1000, "globex")->empty());
  // Pruning reaches every company's old minutes.
  BOOST_TEST(prune(6) == 4u);
  BOOST_TEST(stats->range(0, 100)->empty());
  BOOST_TEST(stats->range(0, 100, 1000, "acme")->size() == 1u);
  BOOST_TEST(stats->range(0, 100, 1000, "acme2")->empty());
  BOOST_TEST(stats->range(0, 100, 1000, "ac")->empty());
}

BOOST_AUTO_TEST_SUITE_END()
