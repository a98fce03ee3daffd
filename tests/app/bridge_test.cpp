// The bridge from the gateway into CAF: a request's deadline answers 504
// when the runtime does not answer in time, drops the late reply, and lets
// go of the request's context at once.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/runtime.hpp"
#include "app/http/bridge.hpp"
#include "app/http/context.hpp"

using namespace std::chrono_literals;
using namespace switchboard;
using namespace switchboard::app::http;

namespace {

/// What a request context delivered, waited for across threads.
struct answers {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<response> got;

  void add(response r) {
    std::lock_guard<std::mutex> g{mtx};
    got.push_back(std::move(r));
    cv.notify_all();
  }

  bool wait_for_one(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> g{mtx};
    return cv.wait_for(g, limit, [this] {
      return !got.empty();
    });
  }

  std::size_t size() {
    std::lock_guard<std::mutex> g{mtx};
    return got.size();
  }
};

/// Holds every request it gets until told to answer them all; counts
/// them in `received`.
caf::behavior slow_actor(caf::event_based_actor* self,
                         std::shared_ptr<std::atomic<int>> received) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {
      [self, held, received](get_atom) {
        held->push_back(self->make_response_promise());
        ++*received;
      },
      [held](ok_atom) {
        for (auto& rp : *held)
          rp.deliver(std::string{"late"});
        held->clear();
      },
  };
}

/// A request context whose answers go to `got`.
std::shared_ptr<request_context> context_into(std::shared_ptr<answers> got) {
  return std::make_shared<request_context>(request{}, [got](response r) {
    got->add(std::move(r));
  });
}

/// Asks `slow` from a bridge task with a deadline of `timeout`: an answer
/// in time goes to `ctx` as a JSON string, a late one is counted in
/// `late`.
void ask_with_deadline(bridge& b, caf::actor slow,
                       std::shared_ptr<request_context> ctx,
                       std::chrono::milliseconds timeout,
                       std::shared_ptr<std::atomic<int>> late) {
  b.post([ctx, slow, timeout, late](caf::event_based_actor* self) {
    bridge_deadline d{self, timeout, ctx};
    self->request(slow, caf::infinite, get_atom::value)
        .then(
            [d, late](const std::string& s) {
              if (auto c = d.settle())
                c->respond_json(200, "\"" + s + "\"");
              else
                ++*late;
            },
            [d](caf::error& e) {
              if (auto c = d.settle())
                fail_with(*c, e);
            });
  });
}

/// An actor system with the slow actor, and where answers are collected.
struct bridge_fixture {
  runtime_config cfg{1};
  caf::actor_system sys{cfg};
  std::shared_ptr<std::atomic<int>> received
      = std::make_shared<std::atomic<int>>(0);
  caf::actor slow = sys.spawn(slow_actor, received);
  std::shared_ptr<answers> got = std::make_shared<answers>();

  ~bridge_fixture() {
    caf::anon_send_exit(slow, caf::exit_reason::user_shutdown);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(bridge_suite, bridge_fixture)

BOOST_AUTO_TEST_CASE(a_deadline_answers_504_and_drops_the_late_reply) {
  auto late_replies = std::make_shared<std::atomic<int>>(0);
  std::weak_ptr<request_context> watch;
  {
    bridge b{sys, 1};
    {
      auto ctx = context_into(got);
      watch = ctx;
      ask_with_deadline(b, slow, ctx, 50ms, late_replies);
    }
    BOOST_REQUIRE(got->wait_for_one(10s));
    {
      std::lock_guard<std::mutex> g{got->mtx};
      BOOST_TEST(got->got.front().status == 504);
      BOOST_TEST(got->got.front().body.find("\"timeout\"")
                 != std::string::npos);
    }
    // The deadline let go of the context: nothing keeps it (and with it a
    // connection) until the runtime answers.
    for (int i = 0; i < 100 && !watch.expired(); ++i)
      std::this_thread::sleep_for(10ms);
    BOOST_TEST(watch.expired());
    // The late answer is dropped: one answer in all.
    caf::anon_send(slow, ok_atom::value);
    for (int i = 0; i < 200 && late_replies->load() == 0; ++i)
      std::this_thread::sleep_for(10ms);
    BOOST_TEST(late_replies->load() == 1);
    BOOST_TEST(got->size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(an_answer_in_time_settles_the_deadline) {
  {
    bridge b{sys, 1};
    auto ctx = context_into(got);
    ask_with_deadline(b, slow, ctx, 500ms,
                      std::make_shared<std::atomic<int>>(0));
    ctx.reset();
    // Answer before the deadline, then let it pass: still one answer.
    for (int i = 0; i < 200 && received->load() == 0; ++i)
      std::this_thread::sleep_for(5ms);
    caf::anon_send(slow, ok_atom::value);
    BOOST_REQUIRE(got->wait_for_one(10s));
    std::this_thread::sleep_for(700ms);
    std::lock_guard<std::mutex> g{got->mtx};
    BOOST_REQUIRE_EQUAL(got->got.size(), 1u);
    BOOST_TEST(got->got.front().status == 200);
    BOOST_TEST(got->got.front().body == "\"late\"");
  }
}

BOOST_AUTO_TEST_SUITE_END()
