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
  result<bool> mark(std::string_view listener, std::string_view event_id,
                    std::string_view company = "c1") {
    std::optional<result<bool>> out;
    auto res = w->execute([&](write_txn& txn) -> result<void> {
      out.emplace(set->mark_in(txn, company, listener, event_id));
      if (!*out)
        return make_unexpected(out->error());
      return {};
    });
    if (!res)
      return make_unexpected(res.error());
    return std::move(*out);
  }

  bool has(std::string_view listener, std::string_view event_id,
           std::string_view company = "c1") {
    auto res = set->contains(company, listener, event_id);
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
  // The length prefixes keep (event "ab", company "c") apart from
  // (event "a", company "bc").
  BOOST_REQUIRE(mark("l", "ab", "c"));
  BOOST_TEST(!has("l", "a", "bc"));
}

BOOST_AUTO_TEST_CASE(marks_are_the_companys_own) {
  // Equal event ids of two companies are two events: one company's mark
  // does not make the other's listener skip its event.
  auto ev = uuid7();
  BOOST_REQUIRE(mark("notify", ev, "c1"));
  BOOST_TEST(has("notify", ev, "c1"));
  BOOST_TEST(!has("notify", ev, "c2"));
  auto theirs = mark("notify", ev, "c2");
  BOOST_REQUIRE(theirs);
  BOOST_TEST(*theirs);
  // The company's length prefix keeps "c1" apart from "c" + "1...".
  BOOST_TEST(!has("1notify", ev, "c"));
}

BOOST_AUTO_TEST_CASE(marks_of_the_first_layout_become_each_companys) {
  // A store written before the company was part of a mark: (listener
  // length, listener, event id) in `processed`. An id that two companies'
  // events have was one mark for both, and becomes one for each.
  auto shared = make_event("appointment", "a1", "appointment.created", "c1");
  auto twin = make_event("appointment", "a1", "appointment.created", "c2");
  twin.id = shared.id;
  auto only = make_event("appointment", "a2", "appointment.created", "c1");
  append_one(shared);
  append_one(twin);
  append_one(only);
  auto old = env->open_db("processed");
  BOOST_REQUIRE(old);
  auto put = [&](std::string_view listener, std::string_view id) {
    std::string key(1, static_cast<char>(listener.size()));
    key.append(listener);
    key.append(id);
    auto res = w->execute([&](write_txn& txn) -> result<void> {
      MDB_val k{key.size(), key.data()}, v{0, nullptr};
      if (auto rc = mdb_put(txn.handle(), *old, &k, &v, 0); rc != 0)
        return store::fail(errc::internal, "mdb_put");
      return {};
    });
    BOOST_REQUIRE_MESSAGE(res, why(res));
  };
  put("analytics", shared.id);
  put("notify", only.id);
  put("notify", "an-id-no-event-has");
  reopen();
  BOOST_TEST(has("analytics", shared.id, "c1"));
  BOOST_TEST(has("analytics", shared.id, "c2"));
  BOOST_TEST(has("notify", only.id, "c1"));
  BOOST_TEST(!has("notify", only.id, "c2"));
  BOOST_TEST(!has("analytics", only.id, "c1"));
  // The first layout's database is gone: the next open moves nothing.
  {
    auto txn = env->begin_read();
    BOOST_REQUIRE(txn);
    MDB_dbi dbi;
    BOOST_TEST(mdb_dbi_open(txn->handle(), "processed", 0, &dbi)
               == MDB_NOTFOUND);
  }
  reopen();
  BOOST_TEST(has("analytics", shared.id, "c2"));
}

BOOST_AUTO_TEST_CASE(contains_in_sees_the_marks_of_its_transaction) {
  auto ev = uuid7();
  bool before = true, after = false;
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    auto b = set->contains_in(txn, "c1", "audit", ev);
    if (!b)
      return make_unexpected(b.error());
    before = *b;
    auto m = set->mark_in(txn, "c1", "audit", ev);
    if (!m)
      return make_unexpected(m.error());
    auto a = set->contains_in(txn, "c1", "audit", ev);
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
  auto seen = set->contains(*txn, "c1", "audit", ev);
  BOOST_REQUIRE(seen);
  BOOST_TEST(*seen);
}

BOOST_AUTO_TEST_CASE(mark_goes_with_a_failed_transaction) {
  auto ev = uuid7();
  auto res = w->execute(
      [&](write_txn& txn) -> result<void> {
        auto m = set->mark_in(txn, "c1", "crm", ev);
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
  auto res = set->contains("c1", "", "e1");
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  res = set->contains("c1", "l", std::string(256, 'e'));
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  res = set->contains(std::string(256, 'c'), "l", "e1");
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  res = mark(std::string(256, 'l'), "e1");
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  // Longer than an LMDB key together: refused, nothing written.
  res = mark(std::string(127, 'l'), std::string(255, 'e'),
             std::string(128, 'c'));
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  // The longest event id and tenant company with a 126-byte listener fit.
  res = mark(std::string(126, 'l'), std::string(255, 'e'),
             std::string(128, 'c'));
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_TEST(*res);
}

BOOST_AUTO_TEST_SUITE_END()
