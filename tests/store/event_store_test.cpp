#include "store/event_store.hpp"
#include "store/event_store_detail.hpp"
#include "store/lmdb_util.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include <string>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;
using test::make_event;

namespace {

std::vector<envelope> events_of(const std::string& id, int n) {
  std::vector<envelope> v;
  for (int i = 0; i < n; ++i)
    v.push_back(make_event("appointment", id));
  return v;
}

std::vector<std::uint64_t> seqs_of(const std::vector<envelope>& v) {
  std::vector<std::uint64_t> out;
  for (auto& e : v)
    out.push_back(e.sequence);
  return out;
}

/// Every event that `read(from, limit)` pages through from `from` on,
/// each page at most `limit` long; a page starts after the previous
/// page's last `cursor`.
template <class Read>
std::vector<envelope>
read_pages(Read read, std::uint64_t from, std::uint64_t limit,
           std::uint64_t envelope::*cursor = &envelope::sequence) {
  std::vector<envelope> out;
  for (;;) {
    auto page = read(from, limit);
    BOOST_REQUIRE(page);
    if (page->empty())
      return out;
    BOOST_TEST(page->size() <= limit);
    out.insert(out.end(), page->begin(), page->end());
    from = page->back().*cursor + 1;
  }
}

std::uint64_t constant_hash(std::string_view, std::string_view,
                            std::string_view) {
  return ~std::uint64_t{0} - 1; // also exercises wrap-around of probing
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(event_store_suite, test::store_fixture)

BOOST_AUTO_TEST_CASE(empty_store) {
  BOOST_TEST(*store->last_sequence() == 0u);
  BOOST_TEST(*store->stream_version("c1", "appointment", "a1") == 0u);
  BOOST_TEST(store->read_stream("c1", "appointment", "a1", 0, 10)->empty());
  BOOST_TEST(store->read_all(0, 10)->empty());
  BOOST_TEST(store->read_event(1).error().code == errc::not_found);
  BOOST_TEST(store->find_event("c1", "nope").error().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(append_assigns_versions_and_sequences) {
  auto input = events_of("a1", 3);
  auto res = store->append(input, expected_version::no_stream());
  BOOST_REQUIRE(res);
  BOOST_TEST(*res == (std::vector<std::uint64_t>{1, 2, 3}),
             boost::test_tools::per_element());
  auto res2 = store->append(events_of("a2", 2), expected_version::any());
  BOOST_REQUIRE(res2);
  BOOST_TEST(*res2 == (std::vector<std::uint64_t>{4, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(*store->last_sequence() == 5u);
  BOOST_TEST(*store->stream_version("c1", "appointment", "a1") == 3u);
  BOOST_TEST(*store->stream_version("c1", "appointment", "a2") == 2u);
  BOOST_TEST(*store->stream_version("c1", "customer", "a1") == 0u);
  auto stream = store->read_stream("c1", "appointment", "a1", 1, 100);
  BOOST_REQUIRE(stream);
  BOOST_REQUIRE_EQUAL(stream->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto expected = input[i];
    expected.version = i + 1;
    expected.sequence = i + 1;
    BOOST_CHECK((*stream)[i] == expected);
  }
  BOOST_TEST(*store->find_event("c1", input[1].id) == 2u);
  BOOST_CHECK(*store->read_event(2) == (*stream)[1]);
}

BOOST_AUTO_TEST_CASE(expected_versions) {
  BOOST_REQUIRE(store->append(events_of("a1", 2), expected_version::exact(0)));
  auto wrong = store->append(events_of("a1", 1), expected_version::exact(1));
  BOOST_REQUIRE(!wrong);
  BOOST_TEST(wrong.error().code == errc::version_conflict);
  BOOST_TEST(wrong.error().actual_version == 2u);
  BOOST_TEST(wrong.error().message.find("version 2") != std::string::npos);
  auto exists
      = store->append(events_of("a1", 1), expected_version::no_stream());
  BOOST_REQUIRE(!exists);
  BOOST_TEST(exists.error().code == errc::version_conflict);
  BOOST_TEST(exists.error().actual_version == 2u);
  auto missing = store->append(events_of("a9", 1), expected_version::exact(3));
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().actual_version == 0u);
  auto right = store->append(events_of("a1", 2), expected_version::exact(2));
  BOOST_REQUIRE(right);
  BOOST_TEST(*store->stream_version("c1", "appointment", "a1") == 4u);
  BOOST_REQUIRE(store->append(events_of("a1", 1), expected_version::any()));
  BOOST_TEST(*store->stream_version("c1", "appointment", "a1") == 5u);
  // Nothing of the refused appends was stored.
  BOOST_TEST(*store->last_sequence() == 5u);
  BOOST_TEST(store->stats().conflicts == 3u);
}

BOOST_AUTO_TEST_CASE(idempotent_append_returns_original_sequences) {
  BOOST_REQUIRE(store->append(events_of("a0", 1), expected_version::any()));
  auto input = events_of("a1", 3);
  auto first = store->append(input, expected_version::exact(0));
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(store->append(events_of("a1", 1), expected_version::any()));
  // The retry's expected version is stale; it is still answered.
  auto again = store->append(input, expected_version::exact(0));
  BOOST_REQUIRE(again);
  BOOST_TEST(*again == *first, boost::test_tools::per_element());
  BOOST_TEST(*store->last_sequence() == 5u);
  BOOST_TEST(store->stats().idempotent_appends == 1u);
  // Partly stored: refused, nothing written.
  auto mixed = input;
  mixed[2] = make_event("appointment", "a1");
  auto partial = store->append(mixed, expected_version::any());
  BOOST_REQUIRE(!partial);
  BOOST_TEST(partial.error().code == errc::duplicate_event);
  // An id stored in another stream.
  auto other = events_of("a2", 1);
  other[0].id = input[0].id;
  auto foreign = store->append(other, expected_version::any());
  BOOST_REQUIRE(!foreign);
  BOOST_TEST(foreign.error().code == errc::duplicate_event);
  BOOST_TEST(*store->last_sequence() == 5u);
  // Upper-case UUID text is the same id.
  auto upper = input;
  for (auto& e : upper)
    for (auto& c : e.id)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto up = store->append(upper, expected_version::any());
  BOOST_REQUIRE(up);
  BOOST_TEST(*up == *first, boost::test_tools::per_element());
}

// A stream belongs to a company: equal ids of two companies are two
// streams, each with its own versions, and event ids (the idempotency
// keys) are per company too. In memory and after a flush of the streams
// index alike.
BOOST_AUTO_TEST_CASE(equal_ids_of_two_companies_are_two_streams) {
  auto mine = make_event("customer", "x", "customer.created", "acme");
  BOOST_REQUIRE(store->append({mine}, expected_version::no_stream()));
  std::uint64_t replay_seq = 0;
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      auto last = *store->last_sequence();
      // globex's stream of the same id is new: version 1 on round 0.
      auto theirs = make_event("customer", "x", "customer.created", "globex");
      auto r = store->append({theirs}, expected_version::exact(round));
      BOOST_REQUIRE_MESSAGE(r, test::why(r));
      BOOST_TEST(r->front() == last + 1);
      BOOST_TEST(*store->stream_version("globex", "customer", "x")
                 == std::uint64_t(round + 1));
      BOOST_TEST(*store->stream_version("acme", "customer", "x") == 1u);
      BOOST_TEST(*store->stream_version("c1", "customer", "x") == 0u);
      // Each company reads its own events only.
      auto acme = store->read_stream("acme", "customer", "x", 1, 10);
      BOOST_REQUIRE(acme);
      BOOST_REQUIRE_EQUAL(acme->size(), 1u);
      BOOST_TEST(acme->front().id == mine.id);
      auto globex = store->read_stream("globex", "customer", "x", 1, 10);
      BOOST_REQUIRE(globex);
      BOOST_REQUIRE_EQUAL(globex->size(), std::size_t(round + 1));
      for (const auto& e : *globex)
        BOOST_TEST(e.company_id == "globex");
      // acme's event id, appended by globex: globex's own new event (ids
      // are per company), not a retry of acme's; on round 1 the same
      // append of globex's is a retry of its own.
      auto replay = mine;
      replay.company_id = "globex";
      replay.aggregate_id = "r";
      auto again = store->append({replay}, expected_version::no_stream());
      BOOST_REQUIRE_MESSAGE(again, test::why(again));
      if (round == 0)
        replay_seq = last + 2;
      BOOST_TEST(again->front() == replay_seq);
      BOOST_TEST(*store->find_event("acme", mine.id) == 1u);
      BOOST_TEST(*store->find_event("globex", mine.id) == replay_seq);
      BOOST_TEST(store->find_event("c1", mine.id).error().code
                 == errc::not_found);
      // A retry within acme is still one.
      auto retry = store->append({mine}, expected_version::any());
      BOOST_REQUIRE(retry);
      BOOST_TEST(retry->front() == 1u);
      BOOST_TEST(*store->last_sequence() == last + (round == 0 ? 2 : 1));
      if (round == 0) {
        // Flush the streams index (an append flushes once one entry is
        // held): the streams are then found in the database, not memory.
        cfg.stream_index_batch = 1;
        reopen();
        append_one(make_event("customer", "y", "customer.created", "acme"));
      }
    }
  }
  auto more = make_event("customer", "x", "customer.updated", "acme");
  auto r = store->append({more}, expected_version::exact(1));
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
  BOOST_TEST(*store->stream_version("acme", "customer", "x") == 2u);
  BOOST_TEST(*store->stream_version("globex", "customer", "x") == 2u);
}

// Events of one append are of one stream, and so of one company.
BOOST_AUTO_TEST_CASE(an_append_is_of_one_company) {
  auto two = events_of("a1", 2);
  two[1].company_id = "c2";
  auto r = store->append(two, expected_version::any());
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == errc::invalid_argument);
  BOOST_TEST(*store->last_sequence() == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_input_is_rejected) {
  auto check = [&](std::vector<envelope> v, const char* what) {
    auto res = store->append(std::move(v), expected_version::any());
    BOOST_TEST_CONTEXT(what) {
      BOOST_REQUIRE(!res);
      BOOST_TEST(res.error().code == errc::invalid_argument);
      BOOST_TEST(!res.error().message.empty());
    }
  };
  check({}, "empty");
  // Batches of events of a1, each spoiled in one way.
  std::vector<std::pair<const char*, std::vector<envelope>>> spoiled;
  auto batch = [&](const char* what, int n) -> std::vector<envelope>& {
    return spoiled.emplace_back(what, events_of("a1", n)).second;
  };
  batch("two aggregates", 2)[1].aggregate_id = "a2";
  batch("two aggregate types", 2)[1].aggregate_type = "customer";
  batch("empty id", 1)[0].id.clear();
  batch("long id", 1)[0].id = std::string(256, 'x');
  auto& dup = batch("duplicate id", 2);
  dup[1].id = dup[0].id;
  batch("empty type", 1)[0].type.clear();
  batch("empty aggregate id", 1)[0].aggregate_id.clear();
  batch("long company", 1)[0].company_id = std::string(300, 'c');
  for (auto& [what, v] : spoiled)
    check(std::move(v), what);
  BOOST_TEST(*store->last_sequence() == 0u);
  // A non-UUID id is fine.
  auto plain = events_of("a1", 1);
  plain[0].id = "order-42";
  BOOST_REQUIRE(store->append(plain, expected_version::any()));
  BOOST_TEST(*store->find_event("c1", "order-42") == 1u);
}

BOOST_AUTO_TEST_CASE(reads_are_ordered_and_paged) {
  // 30 events over 7 streams (each of one company), 2 types, 2
  // companies, times going back and forth.
  std::vector<envelope> all;
  for (int i = 0; i < 30; ++i) {
    auto company = i % 5 == 0 ? "c2" : "c1";
    auto stream = (i % 5 == 0 ? "b" : "a") + std::to_string(i % 3);
    auto e = make_event("appointment", i == 29 ? "z" : stream,
                        i % 2 ? "appointment.updated" : "appointment.created",
                        company,
                        1000 + (i * 7) % 11 - 5); // -4..1005 range
    if (i == 29)
      e.company_id.clear();
    std::vector<envelope> one{e};
    auto res = store->append(one, expected_version::any());
    BOOST_REQUIRE(res);
    e.sequence = res->front();
    all.push_back(e);
  }
  // read_all pages.
  auto paged = read_pages(
      [&](std::uint64_t from, std::uint64_t limit) {
        return store->read_all(from, limit);
      },
      0, 7);
  BOOST_REQUIRE_EQUAL(paged.size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) {
    BOOST_TEST(paged[i].sequence == i + 1);
    BOOST_TEST(paged[i].id == all[i].id);
  }
  // read_stream pages by version.
  auto a1 = read_pages(
      [&](std::uint64_t from, std::uint64_t limit) {
        return store->read_stream("c1", "appointment", "a1", from, limit);
      },
      1, 3, &envelope::version);
  std::vector<std::string> a1_ids;
  for (const auto& e : all)
    if (e.aggregate_id == "a1")
      a1_ids.push_back(e.id);
  BOOST_REQUIRE_EQUAL(a1.size(), 8u);
  BOOST_REQUIRE_EQUAL(a1.size(), a1_ids.size());
  for (std::size_t i = 0; i < a1.size(); ++i) {
    BOOST_TEST(a1[i].version == i + 1);
    BOOST_TEST(a1[i].id == a1_ids[i]);
  }
  BOOST_TEST(store->read_stream("c1", "appointment", "a1", 9, 5)->empty());
  // read_by, the type index.
  auto updated = read_pages(
      [&](std::uint64_t from, std::uint64_t limit) {
        return store->read_by(event_index::type, "appointment.updated", from,
                              limit);
      },
      0, 4);
  for (auto& e : updated)
    BOOST_TEST(e.type == "appointment.updated");
  std::vector<std::uint64_t> want;
  for (int i = 1; i < 30; i += 2)
    want.push_back(i + 1);
  BOOST_TEST(seqs_of(updated) == want, boost::test_tools::per_element());
  BOOST_TEST(store->read_by(event_index::type, "nope", 0, 4)->empty());
  // read_by_company.
  auto c2 = read_pages(
      [&](std::uint64_t from, std::uint64_t limit) {
        return store->read_by_company("c2", from, limit);
      },
      0, 2);
  BOOST_TEST(seqs_of(c2) == (std::vector<std::uint64_t>{1, 6, 11, 16, 21, 26}),
             boost::test_tools::per_element());
  BOOST_TEST(store->read_by_company("c1", 0, 100)->size() == 23u);
  BOOST_TEST(store->read_by_company("", 0, 100)->empty());
  // read_by_time pages by (occurred_at, sequence), inside [from, to).
  std::vector<std::pair<timestamp_ms, std::uint64_t>> expect_time;
  for (auto& e : all)
    if (e.occurred_at >= 996 && e.occurred_at < 1004)
      expect_time.emplace_back(e.occurred_at, e.sequence);
  std::sort(expect_time.begin(), expect_time.end());
  std::vector<std::pair<timestamp_ms, std::uint64_t>> got_time;
  timestamp_ms from_ms = 996;
  std::uint64_t after = 0;
  for (;;) {
    auto page = store->read_by_time(from_ms, 1004, after, 4);
    BOOST_REQUIRE(page);
    if (page->empty())
      break;
    for (auto& e : *page)
      got_time.emplace_back(e.occurred_at, e.sequence);
    from_ms = page->back().occurred_at;
    after = page->back().sequence;
  }
  BOOST_REQUIRE_EQUAL(got_time.size(), expect_time.size());
  for (std::size_t i = 0; i < got_time.size(); ++i) {
    BOOST_TEST(got_time[i].first == expect_time[i].first);
    BOOST_TEST(got_time[i].second == expect_time[i].second);
  }
  BOOST_TEST(!expect_time.empty());
  BOOST_TEST(store->read_by_time(5000, 6000, 0, 10)->empty());
  // scan visits in order and stops when asked.
  std::uint64_t last = 0;
  auto n = store->scan(11, [&](const envelope_view& v) {
    BOOST_TEST(v.sequence == last + (last ? 1 : 11));
    last = v.sequence;
    return v.sequence < 20;
  });
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 10u);
  BOOST_TEST(last == 20u);
}

BOOST_AUTO_TEST_CASE(negative_times_order_before_positive) {
  append_one(make_event("appointment", "a1", "t", "c1", 5));
  append_one(make_event("appointment", "a1", "t", "c1", -5));
  auto page = store->read_by_time(-10, 10, 0, 10);
  BOOST_REQUIRE(page);
  BOOST_REQUIRE_EQUAL(page->size(), 2u);
  BOOST_TEST((*page)[0].occurred_at == -5);
  BOOST_TEST((*page)[1].occurred_at == 5);
}

BOOST_AUTO_TEST_CASE(reopen_keeps_everything) {
  std::vector<envelope> appended;
  for (int i = 0; i < 50; ++i) {
    auto v = events_of("a" + std::to_string(i % 7), 2);
    auto res = store->append(v, expected_version::any());
    BOOST_REQUIRE(res);
    for (std::size_t k = 0; k < v.size(); ++k)
      v[k].sequence = (*res)[k];
    appended.insert(appended.end(), v.begin(), v.end());
  }
  auto before = store->read_all(0, 1000);
  BOOST_REQUIRE(before);
  reopen();
  auto after = store->read_all(0, 1000);
  BOOST_REQUIRE(after);
  BOOST_REQUIRE_EQUAL(after->size(), 100u);
  BOOST_CHECK(*after == *before);
  BOOST_TEST(seqs_of(*after) == seqs_of(appended),
             boost::test_tools::per_element());
  BOOST_TEST(*store->stream_version("c1", "appointment", "a0") == 16u);
  auto next = store->append(events_of("a0", 1), expected_version::exact(16));
  BOOST_REQUIRE(next);
  BOOST_TEST(next->front() == 101u);
}

BOOST_AUTO_TEST_SUITE_END()

// Every stream hashes to the same slot: probing keeps them apart.
struct colliding_fixture : test::store_fixture {
  colliding_fixture() {
    close();
    cfg.hash = &constant_hash;
    open();
  }
};

BOOST_FIXTURE_TEST_SUITE(event_store_collisions, colliding_fixture)

BOOST_AUTO_TEST_CASE(colliding_streams_stay_apart) {
  for (int round = 0; round < 3; ++round)
    for (int s = 0; s < 5; ++s) {
      auto res = store->append(events_of("a" + std::to_string(s), 1),
                               expected_version::exact(round));
      BOOST_REQUIRE_MESSAGE(res, test::why(res));
    }
  for (int s = 0; s < 5; ++s) {
    auto id = "a" + std::to_string(s);
    BOOST_TEST(*store->stream_version("c1", "appointment", id) == 3u);
    auto stream = store->read_stream("c1", "appointment", id, 0, 10);
    BOOST_REQUIRE(stream);
    BOOST_REQUIRE_EQUAL(stream->size(), 3u);
    for (auto& e : *stream)
      BOOST_TEST(e.aggregate_id == id);
  }
  BOOST_TEST(*store->stream_version("c1", "appointment", "a9") == 0u);
  BOOST_TEST(store->read_stream("c1", "appointment", "a9", 0, 10)->empty());
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// References for the by_ref tests: "agg/<aggregate id>" and, for ids
/// starting with 'x', "x".
void test_refs(const envelope& e, std::vector<std::string>& out) {
  out.push_back("agg/" + e.aggregate_id);
  if (!e.aggregate_id.empty() && e.aggregate_id[0] == 'x')
    out.push_back("x");
}

} // namespace

BOOST_FIXTURE_TEST_CASE(events_are_read_by_reference, test::store_fixture) {
  // Without references nothing is indexed (and nothing claims to be).
  append_one(make_event("appointment", "x1"));
  BOOST_TEST(store->refs_indexed_from() == UINT64_MAX);
  // With them, from the next event on: the older one is not indexed.
  cfg.refs = test_refs;
  reopen();
  BOOST_TEST(store->refs_indexed_from() == 2u);
  append_one(make_event("appointment", "x2"));
  append_one(make_event("appointment", "y1"));
  append_one(make_event("appointment", "x1"));
  auto x = store->read_by(event_index::ref, "x", 1, 100);
  BOOST_REQUIRE(x);
  BOOST_TEST(seqs_of(*x) == (std::vector<std::uint64_t>{2, 4}),
             boost::test_tools::per_element());
  auto y = store->read_by(event_index::ref, "agg/y1", 1, 100);
  BOOST_REQUIRE(y);
  BOOST_TEST(seqs_of(*y) == (std::vector<std::uint64_t>{3}),
             boost::test_tools::per_element());
  auto paged = store->read_by(event_index::ref, "x", 3, 1);
  BOOST_REQUIRE(paged);
  BOOST_TEST(seqs_of(*paged) == (std::vector<std::uint64_t>{4}),
             boost::test_tools::per_element());
  // The checkpoint stays where it was set.
  reopen();
  BOOST_TEST(store->refs_indexed_from() == 2u);
  // A new store indexes everything.
  test::temp_dir fresh;
  opts.path = fresh.path + "/db";
  reopen();
  BOOST_TEST(store->refs_indexed_from() == 1u);
  close();
}

namespace {

/// Lists for the sorted-list tests: every aggregate under "all", sorted by
/// (event type, id), and under "type/<event type>", sorted by id; events
/// of aggregates starting with 'n' list nothing.
void test_lists(const envelope& e, listing& out) {
  if (!e.aggregate_id.empty() && e.aggregate_id[0] == 'n')
    return;
  out.entries.emplace_back("all", e.type + "/" + e.aggregate_id);
  out.entries.emplace_back("type/" + e.type, e.aggregate_id);
}

std::vector<std::string> keys_of(const std::vector<list_entry>& v) {
  std::vector<std::string> out;
  for (const auto& x : v)
    out.push_back(x.sort_key);
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(sorted_lists_hold_each_entity_once,
                        test::store_fixture) {
  // Events stored before the lists are listed when the store opens, each
  // stream as of its last event.
  append_one(make_event("appointment", "a2", "t.zero"));
  append_one(make_event("appointment", "a2", "t.one"));
  cfg.lists = test_lists;
  reopen();
  append_one(make_event("appointment", "a1", "t.one"));
  append_one(make_event("appointment", "a3", "t.one"));
  append_one(make_event("appointment", "n1", "t.one"));
  auto all = store->read_list("all", "", "", 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(
      keys_of(*all)
          == (std::vector<std::string>{"t.one/a1", "t.one/a2", "t.one/a3"}),
      boost::test_tools::per_element());
  // A later event moves its entity: the old entries go.
  auto moved = append_one(make_event("appointment", "a1", "t.two"));
  all = store->read_list("all", "", "", 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(
      keys_of(*all)
          == (std::vector<std::string>{"t.one/a2", "t.one/a3", "t.two/a1"}),
      boost::test_tools::per_element());
  BOOST_TEST(all->back().event.sequence == moved);
  BOOST_TEST(all->back().event.type == "t.two");
  auto one = store->read_list("type/t.one", "", "", 100);
  BOOST_REQUIRE(one);
  BOOST_TEST(keys_of(*one) == (std::vector<std::string>{"a2", "a3"}),
             boost::test_tools::per_element());
  // Pages: from a key (inclusive), before a key, at most n.
  auto page = store->read_list("all", std::string{"t.one/a2"} + '\0', "", 1);
  BOOST_REQUIRE(page);
  BOOST_TEST(keys_of(*page) == (std::vector<std::string>{"t.one/a3"}),
             boost::test_tools::per_element());
  page = store->read_list("all", "t.one/a3", "t.two", 100);
  BOOST_REQUIRE(page);
  BOOST_TEST(keys_of(*page) == (std::vector<std::string>{"t.one/a3"}),
             boost::test_tools::per_element());
  BOOST_TEST(store->read_list("type/t.three", "", "", 100)->empty());
  // a2's first event was replaced before the lists were built.
  BOOST_TEST(store->read_list("type/t.zero", "", "", 100)->empty());
  // The lists are kept across a reopen, not built again.
  reopen();
  all = store->read_list("all", "", "", 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 3u);
  close();
}

BOOST_FIXTURE_TEST_CASE(lists_written_behind_the_log_read_whole,
                        test::store_fixture) {
  // The lister waits: reads must fold the unlisted events themselves.
  cfg.lists = test_lists;
  cfg.lists_behind = true;
  cfg.list_wake = 1000000;
  cfg.list_interval = std::chrono::hours(1);
  reopen();
  auto listed = env->open_db(event_detail::listed_db);
  BOOST_REQUIRE(listed);
  auto stored = [&] {
    std::vector<std::string> keys;
    auto txn = env->begin_read();
    BOOST_REQUIRE(txn);
    MDB_cursor* c = nullptr;
    BOOST_REQUIRE(mdb_cursor_open(txn->handle(), *listed, &c) == 0);
    MDB_val k, v;
    for (auto rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
      keys.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
    mdb_cursor_close(c);
    return keys.size();
  };
  auto all_keys = [&] {
    auto all = store->read_list("all", "", "", 100);
    BOOST_REQUIRE(all);
    return keys_of(*all);
  };
  append_one(make_event("appointment", "a1", "t.one"));
  append_one(make_event("appointment", "a2", "t.one"));
  append_one(make_event("appointment", "a3", "t.two"));
  auto moved = append_one(make_event("appointment", "a1", "t.two"));
  BOOST_TEST(stored() == 0u); // nothing listed yet
  BOOST_TEST(
      all_keys()
          == (std::vector<std::string>{"t.one/a2", "t.two/a1", "t.two/a3"}),
      boost::test_tools::per_element());
  auto one = store->read_list("type/t.one", "", "", 100);
  BOOST_REQUIRE(one);
  BOOST_TEST(keys_of(*one) == (std::vector<std::string>{"a2"}),
             boost::test_tools::per_element());
  auto two = store->read_list("type/t.two", "", "", 100);
  BOOST_REQUIRE(two);
  BOOST_REQUIRE(two->size() == 2u);
  BOOST_TEST(two->front().event.sequence == moved);
  // Pages count the folded entries as stored ones.
  auto page = store->read_list("all", "t.one/a2", "", 1);
  BOOST_REQUIRE(page);
  BOOST_TEST(keys_of(*page) == (std::vector<std::string>{"t.one/a2"}),
             boost::test_tools::per_element());
  // An open lists what was left: 3 entities in 2 lists each.
  reopen();
  BOOST_TEST(stored() == 6u);
  BOOST_TEST(
      all_keys()
          == (std::vector<std::string>{"t.one/a2", "t.two/a1", "t.two/a3"}),
      boost::test_tools::per_element());
  // Unlisted events over listed ones: a2 moves, a4 comes.
  append_one(make_event("appointment", "a2", "t.three"));
  append_one(make_event("appointment", "a4", "t.one"));
  BOOST_TEST(stored() == 6u);
  BOOST_TEST(all_keys()
                 == (std::vector<std::string>{"t.one/a4", "t.three/a2",
                                              "t.two/a1", "t.two/a3"}),
             boost::test_tools::per_element());
  BOOST_TEST(store->read_list("type/t.one", "", "", 100)->size() == 1u);
  // The lister lists on its own.
  cfg.list_interval = std::chrono::milliseconds(5);
  reopen();
  append_one(make_event("appointment", "a5", "t.one"));
  for (int i = 0; i < 500 && stored() < 10u; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  BOOST_TEST(stored() == 10u);
  BOOST_TEST(all_keys().size() == 5u);
  // Without lists_behind the appends list again, and the checkpoint goes.
  cfg.lists_behind = false;
  reopen();
  append_one(make_event("appointment", "a6", "t.one"));
  BOOST_TEST(stored() == 12u);
  BOOST_TEST(all_keys().size() == 6u);
  close();
}

BOOST_FIXTURE_TEST_CASE(split_lists_read_as_one, test::store_fixture) {
  // "type/t.one" and "type/t.two" split the entities between them (by
  // their last event's type): read together, they are one list in id
  // order, paged as one.
  cfg.lists = test_lists;
  reopen();
  for (auto [id, type] : {std::pair{"a4", "t.two"}, std::pair{"a1", "t.one"},
                          std::pair{"a3", "t.two"}, std::pair{"a2", "t.one"},
                          std::pair{"a5", "t.one"}})
    append_one(make_event("appointment", id, type));
  append_one(make_event("appointment", "a1", "t.two")); // moves a1
  const std::vector<std::string> both{"type/t.one", "type/t.two"};
  auto all = store->read_lists(both, "", "", 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(keys_of(*all)
                 == (std::vector<std::string>{"a1", "a2", "a3", "a4", "a5"}),
             boost::test_tools::per_element());
  BOOST_TEST(all->front().event.type == "t.two");
  // Pages of two: each page the least keys of both lists after the last.
  std::vector<std::string> walked;
  std::string from;
  for (int pages = 0; pages < 5; ++pages) {
    auto page = store->read_lists(both, from, "", 2);
    BOOST_REQUIRE(page);
    for (const auto& e : *page)
      walked.push_back(e.sort_key);
    if (page->size() < 2)
      break;
    from = page->back().sort_key + '\0';
  }
  BOOST_TEST(walked == keys_of(*all), boost::test_tools::per_element());
  auto bounded = store->read_lists(both, "a2", "a5", 100);
  BOOST_REQUIRE(bounded);
  BOOST_TEST(keys_of(*bounded) == (std::vector<std::string>{"a2", "a3", "a4"}),
             boost::test_tools::per_element());
  // One list read as a set of one is read_list.
  auto one = store->read_lists({"type/t.one"}, "", "", 100);
  BOOST_REQUIRE(one);
  BOOST_TEST(keys_of(*one)
                 == keys_of(*store->read_list("type/t.one", "", "", 100)),
             boost::test_tools::per_element());
  close();
}

BOOST_FIXTURE_TEST_CASE(lists_of_the_first_layout_are_listed_again,
                        test::store_fixture) {
  cfg.lists = test_lists;
  reopen();
  append_one(make_event("appointment", "a1", "t.one"));
  append_one(make_event("appointment", "a2", "t.two"));
  // What a store of the first layout holds: its checkpoint, not this
  // one, and an entry no list of this layout has.
  auto listed = env->open_db(event_detail::listed_db);
  auto checkpoints = env->open_db(event_detail::checkpoints_db);
  BOOST_REQUIRE(listed);
  BOOST_REQUIRE(checkpoints);
  auto old = w->execute([&](write_txn& t) -> result<void> {
    auto k = event_detail::list_key("any/acme", "a1");
    auto key = as_val(k);
    char seq[8];
    put_be64(seq, 1);
    MDB_val val{8, seq};
    if (auto rc = mdb_put(t.handle(), *listed, &key, &val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(listed)");
    auto v2 = as_val(event_store::lists_checkpoint);
    if (auto rc = mdb_del(t.handle(), *checkpoints, &v2, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del(checkpoints)");
    return write_checkpoint(t.handle(), *checkpoints,
                            event_detail::lists_checkpoint_v1, 3);
  });
  BOOST_REQUIRE(old);
  BOOST_TEST(store->read_list("any/acme", "", "", 100)->size() == 1u);
  // Opened again: the old entries and checkpoint are gone, the store is
  // listed as this layout lists it, and the checkpoint is this one's.
  reopen();
  BOOST_TEST(store->read_list("any/acme", "", "", 100)->empty());
  auto all = store->read_list("all", "", "", 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(keys_of(*all)
                 == (std::vector<std::string>{"t.one/a1", "t.two/a2"}),
             boost::test_tools::per_element());
  bool found = false;
  BOOST_TEST(*read_checkpoint(*env, *checkpoints,
                              event_detail::lists_checkpoint_v1, &found)
             == 0u);
  BOOST_TEST(!found);
  read_checkpoint(*env, *checkpoints, event_store::lists_checkpoint, &found);
  BOOST_TEST(found);
  close();
}
