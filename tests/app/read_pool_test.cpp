// The read pool: companies in turn, a company's share of the threads,
// deadlines of reads that wait, refusals when a company queues too many.

#include <app/http/read_pool.hpp>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using namespace switchboard::app::http;

namespace {

/// A context that records the status it was answered with.
struct answered {
  std::shared_ptr<std::promise<int>> status
      = std::make_shared<std::promise<int>>();
  std::future<int> got = status->get_future();
  context_ptr ctx;

  answered() {
    auto p = status;
    ctx = std::make_shared<request_context>(request{}, [p](response r) {
      p->set_value(r.status);
    });
  }
};

/// A gate reads wait at until it opens.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;

  void wait() {
    std::unique_lock<std::mutex> lk{mtx};
    ++waiting;
    cv.notify_all();
    cv.wait(lk, [this] {
      return open;
    });
  }
  void wait_for_waiters(int n) {
    std::unique_lock<std::mutex> lk{mtx};
    cv.wait(lk, [&] {
      return waiting >= n;
    });
  }
  void release() {
    std::lock_guard<std::mutex> lk{mtx};
    open = true;
    cv.notify_all();
  }
};

/// Posts to `pool` a read of `company` answering `x`: it waits at `g`, then
/// answers 200.
read_pool::posted post_held(read_pool& pool, const std::string& company,
                            answered& x, gate& g) {
  auto ctx = x.ctx;
  return pool.post(company, ctx, 60s, [ctx, &g](const read_deadline&) {
    g.wait();
    ctx->respond(200, nullptr);
  });
}

} // namespace

BOOST_AUTO_TEST_SUITE(read_pool_suite)

BOOST_AUTO_TEST_CASE(a_company_cannot_take_every_thread) {
  read_pool pool{2, 64};
  gate g;
  // Company a fills its share (one of two threads) and queues more.
  std::vector<std::unique_ptr<answered>> a;
  for (int i = 0; i < 4; ++i) {
    a.push_back(std::make_unique<answered>());
    BOOST_REQUIRE(post_held(pool, "a", *a.back(), g)
                  == read_pool::posted::queued);
  }
  g.wait_for_waiters(1);
  // Company b's read runs on the other thread while a's wait.
  answered b;
  auto bctx = b.ctx;
  BOOST_REQUIRE(pool.post("b", bctx, 60s, [bctx](const read_deadline&) {
    bctx->respond(200, nullptr);
  }) == read_pool::posted::queued);
  // (Without the share b would wait for a's gate: fail, not hang.)
  bool ran = b.got.wait_for(60s) == std::future_status::ready;
  BOOST_TEST(ran);
  BOOST_TEST(pool.queued() == 3u); // a's others still wait their turn
  g.release();
  if (ran)
    BOOST_TEST(b.got.get() == 200);
  for (auto& x : a)
    BOOST_TEST(x->got.get() == 200);
}

BOOST_AUTO_TEST_CASE(reads_wait_within_bounds) {
  read_pool pool{1, 2};
  gate g;
  answered first;
  BOOST_REQUIRE(post_held(pool, "a", first, g) == read_pool::posted::queued);
  g.wait_for_waiters(1);
  // Queued behind it: one whose deadline passes while it waits answers
  // 504 without running; past two waiting, the company is refused.
  answered late;
  bool ran = false;
  BOOST_REQUIRE(pool.post("a", late.ctx, 0ms, [&ran](const read_deadline&) {
    ran = true;
  }) == read_pool::posted::queued);
  answered second; // handed over: the pool holds its only reference
  BOOST_REQUIRE(
      pool.post("a", std::move(second.ctx), 60s, [](const read_deadline&) {})
      == read_pool::posted::queued);
  answered third;
  BOOST_TEST((pool.post("a", third.ctx, 60s, [](const read_deadline&) {})
              == read_pool::posted::company_full));
  g.release();
  BOOST_TEST(first.got.get() == 200);
  BOOST_TEST(late.got.get() == 504);
  BOOST_TEST(!ran);
  // A read that answers nothing: its dropped context answers 500.
  BOOST_TEST(second.got.get() == 500);
  // After stop, posts are refused and nothing waits.
  pool.stop();
  answered after;
  BOOST_TEST((pool.post("a", after.ctx, 60s, [](const read_deadline&) {})
              == read_pool::posted::stopped));
}

BOOST_AUTO_TEST_SUITE_END()
