// The streams index written behind the log: entries wait in memory, flush
// cycles write them in chunks, an open rebuilds what was not flushed, and
// reads and version checks see both at every step.

#include "store/event_store.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/prelude.hpp"
#include <map>
#include <string>
#include <vector>

namespace {

/// Every stream in slot 0 (probing keeps them apart).
std::uint64_t zero_hash(std::string_view, std::string_view, std::string_view) {
  return 0;
}

/// Stream "sN" in slot N << 26 (any other in slot 1 << 40): every slot in
/// a block of its own, and all the blocks sharing one entry of the table
/// that counts them.
std::uint64_t shared_count_hash(std::string_view, std::string_view,
                                std::string_view id) {
  std::uint64_t n = 0;
  if (id.size() < 2 || id[0] != 's')
    return std::uint64_t{1} << 40;
  for (char c : id.substr(1))
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return n << 26;
}

/// A store whose flush cycles start after 5 entries and write 2 per
/// transaction, with a model of what every stream must read.
struct index_fixture : store_fixture {
  std::map<std::string, std::vector<std::uint64_t>> model; // id → seqs

  explicit index_fixture(stream_hash_fn hash = nullptr) {
    close();
    cfg.stream_index_batch = 5;
    cfg.stream_index_chunk = 2;
    cfg.hash = hash;
    open();
  }

  /// Appends one event to stream `id` at its current version.
  void append(const std::string& id) {
    auto& seqs = model[id];
    std::vector<envelope> v{make_event("appointment", id)};
    auto res
        = store->append(std::move(v), expected_version::exact(seqs.size()));
    BOOST_REQUIRE_MESSAGE(res, why(res));
    seqs.push_back(res->front());
  }

  /// Every stream reads as the model says, by every read.
  void verify() {
    for (const auto& [id, seqs] : model) {
      auto v = store->stream_version("c1", "appointment", id);
      BOOST_REQUIRE_MESSAGE(v, why(v));
      BOOST_TEST(*v == seqs.size(), id);
      auto all = store->read_stream("c1", "appointment", id, 1, 1000);
      BOOST_REQUIRE_MESSAGE(all, why(all));
      BOOST_REQUIRE_EQUAL(all->size(), seqs.size());
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        BOOST_TEST((*all)[i].sequence == seqs[i]);
        BOOST_TEST((*all)[i].version == i + 1);
        BOOST_TEST((*all)[i].aggregate_id == id);
      }
      // A page from the middle.
      if (seqs.size() >= 3) {
        auto page = store->read_stream("c1", "appointment", id, 2, 1);
        BOOST_REQUIRE_MESSAGE(page, why(page));
        BOOST_REQUIRE_EQUAL(page->size(), 1u);
        BOOST_TEST(page->front().sequence == seqs[1]);
      }
      std::vector<std::uint64_t> visited;
      auto ok = store->visit_stream("c1", "appointment", id, seqs.front(),
                                    [&](std::uint64_t s) {
                                      visited.push_back(s);
                                      return true;
                                    });
      BOOST_REQUIRE_MESSAGE(ok, why(ok));
      BOOST_TEST(
          visited == std::vector<std::uint64_t>(seqs.begin() + 1, seqs.end()),
          boost::test_tools::per_element());
    }
    BOOST_TEST(*store->stream_version("c1", "appointment", "nobody") == 0u);
    BOOST_TEST(
        store->read_stream("c1", "appointment", "nobody", 1, 10)->empty());
  }

  /// Round-robin appends over `streams` streams, checking after each.
  void load(int streams, int events) {
    for (int i = 0; i < events; ++i) {
      append("s" + std::to_string(i % streams));
      verify();
    }
  }
};

struct colliding_index_fixture : index_fixture {
  colliding_index_fixture() : index_fixture(&zero_hash) {}
};

struct shared_count_fixture : index_fixture {
  shared_count_fixture() : index_fixture(&shared_count_hash) {}
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(stream_index_suite, index_fixture)

BOOST_AUTO_TEST_CASE(reads_see_memory_and_flushed_entries_at_every_step) {
  auto start = store->stream_index();
  BOOST_TEST(start.in_memory == 0u);
  BOOST_TEST(start.indexed_through == 0u);
  load(4, 40);
  auto after = store->stream_index();
  // Flush cycles ran: the checkpoint moved and memory stays bounded.
  BOOST_TEST(after.indexed_through > 20u);
  BOOST_TEST(after.in_memory < 20u);
  // A stale version is refused with the actual one, from either place.
  std::vector<envelope> v{make_event("appointment", "s0")};
  auto stale = store->append(std::move(v), expected_version::exact(3));
  BOOST_REQUIRE(!stale);
  BOOST_TEST(stale.error().code == errc::version_conflict);
  BOOST_TEST(stale.error().actual_version == 10u);
}

BOOST_AUTO_TEST_CASE(an_open_rebuilds_what_was_not_flushed) {
  load(3, 13);
  for (int round = 0; round < 3; ++round) {
    auto before = store->stream_index();
    BOOST_TEST(before.in_memory > 0u);
    reopen();
    auto after = store->stream_index();
    BOOST_TEST(after.indexed_through == before.indexed_through);
    BOOST_TEST(after.in_memory >= before.in_memory);
    verify();
    load(3, 7);
  }
}

BOOST_AUTO_TEST_CASE(a_dropped_transaction_leaves_no_entry_in_memory) {
  append("kept");
  // What readers of the type check before looking at a stream again.
  auto generation = store->stream_generation("appointment");
  // An append whose transaction is aborted (the op fails after it, with an
  // error that poisons the transaction).
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    std::vector<envelope> v{make_event("appointment", "dropped")};
    auto seqs = store->append_in(txn, v, expected_version::any());
    if (!seqs)
      return make_unexpected(seqs.error());
    return fail(errc::internal, "after the append");
  });
  BOOST_TEST(!res);
  // The same in a nested transaction that is aborted while its parent
  // commits other work.
  res = w->execute(
      [&](write_txn& txn) -> result<void> {
        std::vector<envelope> v{make_event("appointment", "dropped")};
        auto seqs = store->append_in(txn, v, expected_version::any());
        if (!seqs)
          return make_unexpected(seqs.error());
        return fail(errc::invalid_argument, "after the append");
      },
      isolation::nested);
  BOOST_TEST(!res);
  BOOST_TEST(*store->stream_version("c1", "appointment", "dropped") == 0u);
  BOOST_TEST(
      store->read_stream("c1", "appointment", "dropped", 1, 10)->empty());
  BOOST_TEST(store->stream_generation("appointment") == generation);
  // The sequence it would have had goes to the next append.
  append("kept");
  BOOST_TEST(store->stream_generation("appointment") != generation);
  verify();
  BOOST_TEST(model["kept"].back() == 2u);
  reopen();
  BOOST_TEST(*store->stream_version("c1", "appointment", "dropped") == 0u);
  verify();
}

BOOST_AUTO_TEST_CASE(a_store_indexed_with_every_append_keeps_later_entries) {
  // A store whose streams database is complete and has no checkpoint, as
  // written before the index moved behind the log: its entries written by
  // hand (slot = the stream's hash; no collisions among these ids).
  close();
  cfg.stream_index_batch = 1000;
  open();
  load(3, 6);
  BOOST_TEST(store->stream_index().indexed_through == 0u);
  auto written = w->execute([&](write_txn& txn) -> result<void> {
    auto dbi = env->open_db("streams");
    if (!dbi)
      return make_unexpected(dbi.error());
    for (const auto& [id, seqs] : model)
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        char k[16], v[8];
        put_be64(k, event_store::default_stream_hash("c1", "appointment", id));
        put_be64(k + 8, i + 1);
        put_be64(v, seqs[i]);
        MDB_val key{16, k}, val{8, v};
        if (auto rc = mdb_put(txn.handle(), *dbi, &key, &val, 0); rc != 0)
          return fail(errc::internal, mdb_strerror(rc));
      }
    return {};
  });
  BOOST_REQUIRE_MESSAGE(written, why(written));
  reopen();
  auto opened = store->stream_index();
  BOOST_TEST(opened.indexed_through == 6u);
  BOOST_TEST(opened.in_memory == 0u);
  verify();
  // Entries that stay in memory survive the next open.
  load(3, 4);
  BOOST_TEST(store->stream_index().in_memory == 4u);
  reopen();
  BOOST_TEST(store->stream_index().in_memory == 4u);
  verify();
  load(3, 3);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(stream_index_collisions, colliding_index_fixture)

BOOST_AUTO_TEST_CASE(colliding_streams_keep_their_slots_across_flushes) {
  load(6, 30);
  reopen();
  verify();
  load(7, 14); // a new stream probes past the six, in memory and flushed
  reopen();
  verify();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(shared_count_suite, shared_count_fixture)

BOOST_AUTO_TEST_CASE(streams_whose_blocks_share_a_count_are_all_found) {
  // Flushes drop slots one by one while the others stay in memory: each
  // drop takes one from the shared count, never the others' part of it.
  load(6, 30);
  reopen();
  verify();
  load(9, 27);
}

BOOST_AUTO_TEST_SUITE_END()
