#include "store/environment.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;
using test::make_event;

namespace {

envelope big_event(const std::string& agg, std::size_t size) {
  auto e = make_event("appointment", agg);
  e.data = std::string(size, 'x');
  return e;
}

/// Opens `f` again with a map of `size` bytes that grows to at most
/// `max_size`.
void reopen_with_map(test::store_fixture& f, std::size_t size,
                     std::size_t max_size) {
  f.close();
  f.opts.map_size = size;
  f.opts.max_map_size = max_size;
  f.open();
}

} // namespace

BOOST_AUTO_TEST_SUITE(environment_suite)

BOOST_AUTO_TEST_CASE(bad_options_are_refused) {
  options o;
  auto no_path = environment::open(o);
  BOOST_REQUIRE(!no_path);
  BOOST_TEST(no_path.error().code == errc::invalid_argument);
  test::temp_dir dir;
  o.path = dir.path + "/db";
  o.map_size = 1 << 20;
  o.max_map_size = 1 << 19;
  auto small_max = environment::open(o);
  BOOST_REQUIRE(!small_max);
  BOOST_TEST(small_max.error().code == errc::invalid_argument);
  o.path = "/proc/no/such/dir";
  o.max_map_size = o.map_size;
  auto bad_dir = environment::open(o);
  BOOST_REQUIRE(!bad_dir);
  BOOST_TEST(bad_dir.error().code == errc::io_error);
}

BOOST_AUTO_TEST_CASE(named_dbs_open_once) {
  test::temp_dir dir;
  options o;
  o.path = dir.path + "/db";
  auto env = environment::open(o);
  BOOST_REQUIRE(env);
  auto a = (*env)->open_db("jobs");
  auto b = (*env)->open_db("jobs");
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(*a == *b);
  BOOST_TEST(!(*env)->open_db(""));
}

BOOST_AUTO_TEST_CASE(map_grows_when_full) {
  test::store_fixture f;
  reopen_with_map(f, 256 << 10, 256 << 20);
  // 4 MiB of events into a 256 KiB map, from concurrent appenders so that
  // batches are redone after growing.
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < 128; ++i) {
        auto res = f.store->append({big_event("a" + std::to_string(t), 4000)},
                                   expected_version::exact(i));
        if (!res)
          ++failures;
      }
    });
  for (auto& th : pool)
    th.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(f.env->grow_count() > 0u);
  BOOST_TEST(f.env->map_size() > std::size_t{256 << 10});
  BOOST_TEST(*f.store->last_sequence() == 1024u);
  for (int t = 0; t < 8; ++t)
    BOOST_TEST(
        *f.store->stream_version("c1", "appointment", "a" + std::to_string(t))
        == 128u);
  f.reopen();
  BOOST_TEST(f.store->read_all(0, 2000)->size() == 1024u);
}

BOOST_AUTO_TEST_CASE(full_map_fails_cleanly_and_store_still_works) {
  test::store_fixture f;
  reopen_with_map(f, 512 << 10, 512 << 10);
  std::uint64_t stored = 0;
  error last;
  for (int i = 0; i < 1000; ++i) {
    auto res = f.store->append({big_event("a1", 8000)},
                               expected_version::exact(stored));
    if (!res) {
      last = res.error();
      break;
    }
    ++stored;
  }
  BOOST_TEST(stored > 0u);
  BOOST_TEST(last.code == errc::map_full);
  BOOST_TEST_MESSAGE("map_full message: " << last.message);
  BOOST_TEST(last.message.find("MDB_MAP_FULL") != std::string::npos);
  // Nothing half-written; reads work; a small append may still fit.
  BOOST_TEST(*f.store->stream_version("c1", "appointment", "a1") == stored);
  auto all = f.store->read_all(0, 10000);
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == stored);
  // With a larger map the same store takes appends again.
  f.close();
  f.opts.max_map_size = 8 << 20;
  f.open();
  auto res = f.store->append({big_event("a1", 8000)},
                             expected_version::exact(stored));
  BOOST_REQUIRE_MESSAGE(res, test::why(res));
  BOOST_TEST(res->front() == stored + 1);
}

BOOST_AUTO_TEST_CASE(concurrent_readers_while_growing) {
  test::store_fixture f;
  f.close();
  f.opts.map_size = 128 << 10;
  f.open();
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    while (!stop) {
      auto n = f.store->scan(0, [](const envelope_view&) {
        return true;
      });
      if (!n)
        ++read_errors;
    }
  });
  for (int i = 0; i < 300; ++i)
    BOOST_REQUIRE(
        f.store->append({big_event("a1", 2000)}, expected_version::any()));
  stop = true;
  reader.join();
  BOOST_TEST(read_errors.load() == 0);
  BOOST_TEST(f.env->grow_count() > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
