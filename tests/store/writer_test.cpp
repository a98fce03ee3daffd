#include "store/writer.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;
using test::make_event;

namespace {

/// Holds the writer thread inside an op until released.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool entered = false;
  bool open = false;

  void block(writer& w) {
    w.submit(
        [this](write_txn&) -> result<void> {
          std::unique_lock<std::mutex> lock{mtx};
          entered = true;
          cv.notify_all();
          cv.wait(lock, [this] {
            return open;
          });
          return {};
        },
        nullptr);
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait(lock, [this] {
      return entered;
    });
  }

  void release() {
    std::lock_guard<std::mutex> lock{mtx};
    open = true;
    cv.notify_all();
  }
};

/// Writes key -> value in `dbi`.
writer::op_fn put_op(MDB_dbi dbi, std::string key, std::string value) {
  return [dbi, key, value](write_txn& txn) -> result<void> {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (auto rc = mdb_put(txn.handle(), dbi, &k, &v, 0); rc != 0)
      return fail_mdb(rc, "mdb_put");
    return {};
  };
}

bool has_key(environment& env, MDB_dbi dbi, const std::string& key) {
  auto txn = env.begin_read();
  BOOST_REQUIRE(txn);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v;
  return mdb_get(txn->handle(), dbi, &k, &v) == 0;
}

using lane_ops = std::vector<std::pair<std::string, lane>>;

/// `n` ops named `prefix`0, `prefix`1, ... in lane `ln`.
lane_ops named(const std::string& prefix, int n, lane ln) {
  lane_ops out;
  for (int i = 0; i < n; ++i)
    out.emplace_back(prefix + std::to_string(i), ln);
  return out;
}

/// Holds the writer thread, submits `ops` in their order, lets it go and
/// drains it. Returns the ops' names in the order they ran, a transaction
/// apart from the next by " | ", e.g. "fg0 bg0 | bg1". Every op must
/// succeed.
std::string run_held(writer& w, const lane_ops& ops) {
  gate g;
  g.block(w);
  std::vector<std::pair<std::uint64_t, std::string>> runs; // txn, name
  std::atomic<int> done{0};
  for (const auto& [name, ln] : ops)
    w.submit(
        [&runs, name = name](write_txn& txn) -> result<void> {
          runs.emplace_back(txn.top().serial(), name); // the writer thread
          return {};
        },
        [&done](const result<void>& r) {
          if (r)
            ++done;
        },
        isolation::validated, ln);
  g.release();
  w.stop(); // drains both lanes and joins the writer thread
  BOOST_TEST(done.load() == static_cast<int>(ops.size()));
  std::string out;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (i > 0)
      out += runs[i].first == runs[i - 1].first ? " " : " | ";
    out += runs[i].second;
  }
  return out;
}

/// `a` then `b`.
lane_ops operator+(lane_ops a, const lane_ops& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// Opens `f` again with transactions of at most `max_batch` ops, at most
/// `per_commit` of them background ones besides the foreground ones, and
/// runs `ops` there as `run_held` does.
std::string run_held_with(test::store_fixture& f, std::size_t max_batch,
                          std::size_t per_commit, const lane_ops& ops) {
  f.close();
  f.opts.max_batch = max_batch;
  f.opts.background_per_commit = per_commit;
  f.open();
  return run_held(*f.w, ops);
}

/// Records the transaction each op ran in, by the op's name.
struct serials {
  std::mutex mtx;
  std::condition_variable cv;
  std::map<std::string, std::uint64_t> of;

  writer::op_fn op(const std::string& name) {
    return [this, name](write_txn& txn) -> result<void> {
      std::lock_guard<std::mutex> lock{mtx};
      of[name] = txn.top().serial();
      return {};
    };
  }
  writer::done_fn done() {
    return [this](const result<void>&) {
      std::lock_guard<std::mutex> lock{mtx};
      cv.notify_all();
    };
  }
  /// Submits `name` to `w`.
  void submit(writer& w, const std::string& name) {
    w.submit(op(name), done());
  }
  /// Waits up to `most` for `name` to have run; true when it has.
  bool ran(const std::string& name, std::chrono::milliseconds most) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, most, [&] {
      return of.count(name) > 0;
    });
  }
};

/// Opens `f` again with a writer that lingers up to `delay` for `enough`
/// ops, and makes it busy: one commit of two ops ("busy0", "busy1").
void reopen_busy(test::store_fixture& f, serials& s,
                 std::chrono::milliseconds delay, std::size_t enough) {
  f.close();
  f.opts.commit_delay = delay;
  f.opts.commit_min_batch = enough;
  f.open();
  gate g;
  g.block(*f.w); // a batch of one: nothing lingers after it
  s.submit(*f.w, "busy0");
  s.submit(*f.w, "busy1");
  g.release();
  BOOST_REQUIRE(s.ran("busy1", std::chrono::seconds{30}));
  BOOST_REQUIRE(s.of["busy0"] == s.of["busy1"]);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(writer_suite, test::store_fixture)

BOOST_AUTO_TEST_CASE(queued_appends_share_one_transaction_and_fail_alone) {
  // Seed a stream at version 1 for the conflicting append.
  append_one(make_event("appointment", "seeded"));
  gate g;
  g.block(*w);
  auto before = w->stats();
  constexpr int n = 32;
  std::vector<std::promise<event_store::append_result>> promises(n);
  for (int i = 0; i < n; ++i) {
    std::vector<envelope> v{make_event("appointment", "s" + std::to_string(i))};
    auto ev = expected_version::no_stream();
    if (i == 13) {
      v[0].aggregate_id = "seeded";
      ev = expected_version::exact(5); // conflicts: it is at 1
    }
    store->append_async(std::move(v), ev,
                        [&promises, i](event_store::append_result res) {
                          promises[i].set_value(std::move(res));
                        });
  }
  g.release();
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < n; ++i) {
    auto res = promises[i].get_future().get();
    if (i == 13) {
      BOOST_REQUIRE(!res);
      BOOST_TEST(res.error().code == errc::version_conflict);
      BOOST_TEST(res.error().actual_version == 1u);
    } else {
      BOOST_REQUIRE(res);
      seqs.push_back(res->front());
    }
  }
  auto after = w->stats();
  // The gate's op had a transaction of its own; all 32 appends queued
  // behind it went into the next one together.
  BOOST_TEST(after.commits - before.commits == 2u);
  BOOST_TEST(after.largest_batch >= 32u);
  BOOST_TEST(after.ops_failed - before.ops_failed == 1u);
  std::sort(seqs.begin(), seqs.end());
  for (std::size_t i = 0; i < seqs.size(); ++i)
    BOOST_TEST(seqs[i] == 2 + i);
  BOOST_TEST(*store->last_sequence() == 32u);
  BOOST_TEST(*store->stream_version("c1", "appointment", "seeded") == 1u);
}

BOOST_AUTO_TEST_CASE(many_concurrent_appenders) {
  constexpr int threads = 32;
  constexpr int per_thread = 40;
  std::atomic<int> conflicts{0}, failures{0};
  auto before = w->stats();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto id = "agg" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i) {
        std::vector<envelope> v{make_event("appointment", id)};
        // Thread 0 always claims a wrong version.
        auto ev = t == 0 ? expected_version::exact(1000)
                         : expected_version::exact(i);
        auto res = store->append(std::move(v), ev);
        if (!res) {
          if (res.error().code == errc::version_conflict)
            ++conflicts;
          else
            ++failures;
        }
      }
    });
  for (auto& th : pool)
    th.join();
  auto after = w->stats();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(conflicts.load() == per_thread);
  BOOST_TEST(*store->last_sequence()
             == static_cast<std::uint64_t>((threads - 1) * per_thread));
  for (int t = 1; t < threads; ++t)
    BOOST_TEST(
        *store->stream_version("c1", "appointment", "agg" + std::to_string(t))
        == static_cast<std::uint64_t>(per_thread));
  auto ops = after.ops_committed - before.ops_committed;
  auto commits = after.commits - before.commits;
  BOOST_TEST_MESSAGE("32 appenders: " << ops << " ops in " << commits
                                      << " commits, largest batch "
                                      << after.largest_batch);
  BOOST_TEST(ops == static_cast<std::uint64_t>((threads - 1) * per_thread));
  BOOST_TEST(commits < ops / 2); // transactions really were shared
}

BOOST_AUTO_TEST_CASE(nested_op_that_fails_leaves_nothing) {
  auto dbi = env->open_db("test_kv");
  BOOST_REQUIRE(dbi);
  gate g;
  g.block(*w);
  std::promise<result<void>> bad, good;
  w->submit(
      [d = *dbi](write_txn& txn) -> result<void> {
        auto res = put_op(d, "bad", "1")(txn);
        if (!res)
          return res;
        return fail(errc::invalid_argument, "changed my mind");
      },
      [&bad](const result<void>& r) {
        bad.set_value(r);
      },
      isolation::nested);
  w->submit(put_op(*dbi, "good", "1"), [&good](const result<void>& r) {
    good.set_value(r);
  });
  g.release();
  auto bad_res = bad.get_future().get();
  BOOST_REQUIRE(!bad_res);
  BOOST_TEST(bad_res.error().code == errc::invalid_argument);
  BOOST_TEST(good.get_future().get().has_value());
  BOOST_TEST(!has_key(*env, *dbi, "bad"));
  BOOST_TEST(has_key(*env, *dbi, "good"));
}

BOOST_AUTO_TEST_CASE(throwing_op_fails_alone) {
  auto dbi = env->open_db("test_kv");
  BOOST_REQUIRE(dbi);
  gate g;
  g.block(*w);
  std::promise<result<void>> a, b, c;
  w->submit(put_op(*dbi, "a", "1"), [&a](const result<void>& r) {
    a.set_value(r);
  });
  w->submit(
      [d = *dbi](write_txn& txn) -> result<void> {
        auto res = put_op(d, "thrower", "1")(txn);
        throw std::runtime_error("boom");
      },
      [&b](const result<void>& r) {
        b.set_value(r);
      });
  w->submit(put_op(*dbi, "c", "1"), [&c](const result<void>& r) {
    c.set_value(r);
  });
  g.release();
  BOOST_TEST(a.get_future().get().has_value());
  auto b_res = b.get_future().get();
  BOOST_REQUIRE(!b_res);
  BOOST_TEST(b_res.error().code == errc::internal);
  BOOST_TEST(b_res.error().message.find("boom") != std::string::npos);
  BOOST_TEST(c.get_future().get().has_value());
  BOOST_TEST(has_key(*env, *dbi, "a"));
  BOOST_TEST(has_key(*env, *dbi, "c"));
  BOOST_TEST(!has_key(*env, *dbi, "thrower"));
  BOOST_TEST(w->stats().batch_retries >= 1u);
}

BOOST_AUTO_TEST_CASE(append_in_runs_inside_another_op) {
  auto dbi = env->open_db("outbox_test");
  BOOST_REQUIRE(dbi);
  std::vector<envelope> v{make_event("appointment", "a1")};
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    auto seqs = store->append_in(txn, v, expected_version::no_stream());
    if (!seqs)
      return make_unexpected(seqs.error());
    return put_op(*dbi, "job-for-" + std::to_string(seqs->front()), "x")(txn);
  });
  BOOST_REQUIRE(res);
  BOOST_TEST(v[0].sequence == 1u);
  BOOST_TEST(v[0].version == 1u);
  BOOST_TEST(has_key(*env, *dbi, "job-for-1"));
  BOOST_TEST(*store->last_sequence() == 1u);
}

BOOST_AUTO_TEST_CASE(stop_drains_then_refuses) {
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i)
    store->append_async({make_event("appointment", "a1")},
                        expected_version::any(),
                        [&done](event_store::append_result r) {
                          if (r)
                            ++done;
                        });
  w->stop();
  BOOST_TEST(done.load() == 100);
  auto res = store->append({make_event("appointment", "a1")},
                           expected_version::any());
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::closed);
  BOOST_TEST(*store->last_sequence() == 100u);
}

BOOST_AUTO_TEST_CASE(background_ops_yield_to_foreground_ones) {
  // The default: 4 background ops besides the foreground ones waiting.
  BOOST_REQUIRE(opts.background_per_commit == 4u);
  auto before = w->stats();
  // First the foreground ops, queued last, with the 4 oldest background
  // ones in the same transaction; then the 6 others, alone in the next.
  auto ran = run_held(*w, named("bg", 10, lane::background)
                              + named("fg", 3, lane::foreground));
  BOOST_TEST(ran == "fg0 fg1 fg2 bg0 bg1 bg2 bg3 | bg4 bg5 bg6 bg7 bg8 bg9");
  auto after = w->stats();
  BOOST_TEST(after.commits - before.commits == 3u); // the gate's, 2 more
  BOOST_TEST(after.background_ops - before.background_ops == 10u);
}

BOOST_AUTO_TEST_CASE(background_ops_are_taken_past_a_full_batch) {
  // A batch full of foreground ops still takes its background ones: the
  // queues are never starved by requests.
  auto ran = run_held_with(*this, 2, 1,
                           named("bg", 2, lane::background)
                               + named("fg", 4, lane::foreground));
  BOOST_TEST(ran == "fg0 fg1 bg0 | fg2 fg3 bg1");
}

BOOST_AUTO_TEST_CASE(a_background_quota_above_max_batch_counts_as_max_batch) {
  auto ran = run_held_with(*this, 2, 100,
                           named("bg", 5, lane::background)
                               + named("fg", 1, lane::foreground));
  BOOST_TEST(ran == "fg0 bg0 bg1 | bg2 bg3 | bg4");
}

BOOST_AUTO_TEST_CASE(without_a_limit_every_op_is_first_come_first_served) {
  lane_ops ops;
  for (int i = 0; i < 6; ++i)
    ops.emplace_back("op" + std::to_string(i),
                     i % 2 == 0 ? lane::background : lane::foreground);
  BOOST_TEST(run_held_with(*this, opts.max_batch, 0, ops)
             == "op0 op1 op2 op3 op4 op5");
}

BOOST_AUTO_TEST_CASE(a_refusing_disk_is_told_once_and_its_end_once) {
  std::mutex mtx;
  std::vector<std::string> told;
  w->on_fault([&](const error& cause, bool recovered) {
    std::lock_guard<std::mutex> lock{mtx};
    told.push_back(recovered ? "recovered" : to_string(cause.code));
  });
  auto dbi = env->open_db("fault_test");
  BOOST_REQUIRE(dbi);
  // Only a commit that writes something proves the disk takes writes.
  auto write = [&, n = 0]() mutable {
    return w->execute(put_op(*dbi, "k" + std::to_string(n++), "v"));
  };
  auto no_space = [](write_txn&) -> result<void> {
    return fail(errc::no_space, "pwrite: No space left on device");
  };
  for (int i = 0; i < 3; ++i) {
    auto res = w->execute(no_space);
    BOOST_REQUIRE(!res);
    BOOST_TEST(res.error().code == errc::no_space);
    BOOST_TEST(w->faulted());
  }
  // Other failures (a conflict, bad input) are no disk fault.
  BOOST_TEST(!w->execute([](write_txn&) -> result<void> {
    return fail(errc::invalid_argument, "x");
  }));
  BOOST_TEST(w->faulted());
  BOOST_TEST(write().has_value());
  BOOST_TEST(!w->faulted());
  BOOST_TEST(!w->execute(no_space));
  BOOST_TEST(write().has_value());
  std::lock_guard<std::mutex> lock{mtx};
  std::vector<std::string> want{"no_space", "recovered", "no_space",
                                "recovered"};
  BOOST_TEST(told == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(enospc_from_lmdb_is_no_space) {
  BOOST_TEST(from_mdb(ENOSPC, "pwrite").code == errc::no_space);
  BOOST_TEST(from_mdb(EIO, "fdatasync").code == errc::io_error);
  BOOST_TEST(poisons_txn(errc::no_space));
}

BOOST_AUTO_TEST_CASE(a_busy_writer_lingers_for_more_writes) {
  using namespace std::chrono_literals;
  serials s;
  reopen_busy(*this, s, 10s, 3);
  // Ops that come 50 ms apart, well within a quarter of the delay, go
  // into one commit once three wait; without lingering, each would go
  // alone.
  for (int i = 0; i < 3; ++i) {
    if (i > 0)
      std::this_thread::sleep_for(50ms);
    s.submit(*w, "x" + std::to_string(i));
  }
  BOOST_REQUIRE(s.ran("x2", 30s));
  BOOST_TEST(s.of["x0"] == s.of["x1"]);
  BOOST_TEST(s.of["x1"] == s.of["x2"]);
  BOOST_TEST(s.of["x0"] != s.of["busy0"]);
}

BOOST_AUTO_TEST_CASE(a_writer_fed_one_op_at_a_time_commits_at_once) {
  using namespace std::chrono_literals;
  serials s;
  reopen_busy(*this, s, 10s, 64);
  // "x0" follows a commit of two, so it may linger (a quarter of the
  // delay, 2.5 s, without a new op); the ops after it each follow a
  // commit of one, and go at once.
  s.submit(*w, "x0");
  BOOST_REQUIRE(s.ran("x0", 30s));
  auto began = std::chrono::steady_clock::now();
  for (int i = 1; i <= 4; ++i)
    BOOST_REQUIRE(w->execute(s.op("x" + std::to_string(i))));
  auto took = std::chrono::steady_clock::now() - began;
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
             < 2000);
}

BOOST_AUTO_TEST_CASE(an_idle_writer_commits_at_once) {
  using namespace std::chrono_literals;
  serials s;
  reopen_busy(*this, s, 2s, 64);
  // Past the delay since the last commit, an op goes at once: it has run
  // before the next comes, 400 ms later (lingering, it would have waited
  // a quarter of the delay, 500 ms, for it).
  std::this_thread::sleep_for(2100ms);
  s.submit(*w, "x0");
  s.ran("x0", 400ms);
  s.submit(*w, "x1");
  BOOST_REQUIRE(s.ran("x1", 30s));
  BOOST_TEST(s.of["x0"] != s.of["x1"]);
}

BOOST_AUTO_TEST_SUITE_END()
