#include "store/processed.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/prelude.hpp"
#include <optional>

namespace {

/// A store fixture with a processed set.
struct processed_fixture : store_fixture {
  std::unique_ptr<processed_set>& set = part<processed_set>();

  /// Marks in a writer op of its own; returns whether newly marked.
  result<bool> mark(std::string_view listener, std::string_view event_id) {
    std::optional<result<bool>> out;
    auto res = w->execute([&](write_txn& txn) -> result<void> {
      out.emplace(set->mark_in(txn, listener, event_id));
      if (!*out)
        return make_unexpected(out->error());
      return {};
    });
    if (!res)
      return make_unexpected(res.error());
    return std::move(*out);
  }

  bool has(std::string_view listener, std::string_view event_id) {
    auto res = set->contains(listener, event_id);
    BOOST_REQUIRE_MESSAGE(res, why(res));
    return *res;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(processed_suite, processed_fixture)

BOOST_AUTO_TEST_CASE(marks_each_event_once_per_listener) {
  auto ev = uuid7();
  BOOST_TEST(!has("analytics", ev));
  auto first = mark("analytics", ev);
  BOOST_REQUIRE_MESSAGE(first, why(first));
  BOOST_TEST(*first);
  BOOST_TEST(has("analytics", ev));
  auto second = mark("analytics", ev);
  BOOST_REQUIRE(second);
  BOOST_TEST(!*second);
  // Another listener, or another event, is independent.
  BOOST_TEST(!has("notifications", ev));
  BOOST_TEST(!has("analytics", uuid7()));
  auto other = mark("notifications", ev);
  BOOST_REQUIRE(other);
  BOOST_TEST(*other);
  // The length prefix keeps ("ab", "c...") apart from ("a", "bc...").
  BOOST_REQUIRE(mark("ab", "cd"));
  BOOST_TEST(!has("a", "bcd"));
}

BOOST_AUTO_TEST_CASE(contains_in_sees_the_marks_of_its_transaction) {
  auto ev = uuid7();
  bool before = true, after = false;
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    auto b = set->contains_in(txn, "audit", ev);
    if (!b)
      return make_unexpected(b.error());
    before = *b;
    auto m = set->mark_in(txn, "audit", ev);
    if (!m)
      return make_unexpected(m.error());
    auto a = set->contains_in(txn, "audit", ev);
    if (!a)
      return make_unexpected(a.error());
    after = *a;
    return {};
  });
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_TEST(!before);
  BOOST_TEST(after);
  auto txn = env->begin_read();
  BOOST_REQUIRE(txn);
  auto seen = set->contains(*txn, "audit", ev);
  BOOST_REQUIRE(seen);
  BOOST_TEST(*seen);
}

BOOST_AUTO_TEST_CASE(mark_goes_with_a_failed_transaction) {
  auto ev = uuid7();
  auto res = w->execute(
      [&](write_txn& txn) -> result<void> {
        auto m = set->mark_in(txn, "crm", ev);
        if (!m)
          return make_unexpected(m.error());
        return store::fail(errc::internal, "the listener's effect failed");
      },
      isolation::nested);
  BOOST_REQUIRE(!res);
  BOOST_TEST(!has("crm", ev));
  auto later = mark("crm", ev);
  BOOST_REQUIRE(later);
  BOOST_TEST(*later);
}

BOOST_AUTO_TEST_CASE(marks_survive_reopen) {
  auto ev = uuid7();
  BOOST_REQUIRE(mark("analytics", ev));
  reopen();
  BOOST_TEST(has("analytics", ev));
  auto again = mark("analytics", ev);
  BOOST_REQUIRE(again);
  BOOST_TEST(!*again);
}

BOOST_AUTO_TEST_CASE(refuses_bad_names) {
  auto res = set->contains("", "e1");
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  res = set->contains("l", std::string(256, 'e'));
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  res = mark(std::string(256, 'l'), "e1");
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  // The longest names fit in one LMDB key.
  res = mark(std::string(255, 'l'), std::string(255, 'e'));
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_TEST(*res);
}

BOOST_AUTO_TEST_SUITE_END()
