// Queue supervisors in simulated time: retries by the backoff list, the
// failed() hook, delays, crashing listeners, duplicate deliveries.

#include <atomic>
#include <memory>

#include <boost/test/unit_test.hpp>

#include <caf/send.hpp>

#include <actors/listeners.hpp>
#include <actors/testing.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/projections.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/store/job_queue_blocking.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::testing::deterministic_node;

namespace {

/// A node with one scripted listener `probe` on `customer.created`.
struct probe_node {
  std::shared_ptr<test::script_log> log = std::make_shared<test::script_log>();
  std::unique_ptr<deterministic_node> n;

  probe_node(retry_policy policy, std::uint32_t delay_s,
             std::function<test::script_action(std::uint32_t)> script) {
    auto log_ = log;
    n = std::make_unique<deterministic_node>([=](node_options& o) {
      o.configure = [=](listener_registry& reg) {
        queued_listener_spec spec;
        spec.name = "probe";
        spec.queue = "probe";
        spec.delay_s = delay_s;
        spec.retry = policy;
        return reg.listen_queued<customer_created>(spec);
      };
      // The clock is only known once the node exists; the probe reads it
      // through the node's listener context, so give it the same clock.
      o.extra_listeners.push_back(
          {test::scripted_listener("probe", log_, o.clock, script), "probe"});
    });
  }

  expected<dispatch_result, caf::error> create_customer(const std::string& id) {
    customer_created e{test::sample_customer(id), customer_source::phone};
    return n->dispatch_event(e, id, "c1");
  }

  store::queue_counts counts() {
    auto c = n->node().store().jobs->counts("probe", n->now());
    BOOST_REQUIRE(c);
    return *c;
  }
};

retry_policy seed_sync_policy() {
  retry_policy p;
  p.tries = 5;
  p.backoff_s = {10, 30, 60, 120, 300};
  return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(queue_supervisor_suite)

BOOST_AUTO_TEST_CASE(retry_delay_follows_laravel_backoff) {
  auto p = seed_sync_policy();
  BOOST_TEST(retry_delay_ms(p, 1) == 10000);
  BOOST_TEST(retry_delay_ms(p, 2) == 30000);
  BOOST_TEST(retry_delay_ms(p, 4) == 120000);
  BOOST_TEST(retry_delay_ms(p, 5) == 300000);
  BOOST_TEST(retry_delay_ms(p, 9) == 300000); // the last value repeats
  retry_policy e;
  e.exponential = true;
  e.base_s = 2;
  e.cap_s = 60;
  BOOST_TEST(retry_delay_ms(e, 1) == 2000);
  BOOST_TEST(retry_delay_ms(e, 3) == 8000);
  BOOST_TEST(retry_delay_ms(e, 10) == 60000); // capped
  e.jitter = true;
  BOOST_TEST(retry_delay_ms(e, 3, 0.25) == 2000);
}

BOOST_AUTO_TEST_CASE(attempts_follow_the_backoff_schedule_then_fail_once) {
  probe_node p{seed_sync_policy(), 0, test::always_fail};
  auto t0 = p.n->now();
  BOOST_REQUIRE(p.create_customer("cu1"));
  // Enough simulated time for every try and more.
  p.n->advance(std::chrono::seconds(10 + 30 + 60 + 120 + 300 + 600));
  std::vector<timestamp_ms> offsets;
  for (auto t : p.log->attempt_times)
    offsets.push_back(t - t0);
  std::vector<timestamp_ms> expected{0, 10000, 40000, 100000, 220000};
  BOOST_TEST(offsets == expected, boost::test_tools::per_element());
  BOOST_TEST(p.log->attempts == (std::vector<std::uint32_t>{1, 2, 3, 4, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(p.log->failed_calls == 1);
  BOOST_TEST(p.log->failed_reason.find("scripted failure")
             != std::string::npos);
  auto c = p.counts();
  BOOST_TEST(c.failed == 1u);
  BOOST_TEST(c.ready + c.delayed + c.leased == 0u);
  auto failed = p.n->node().store().jobs->list_failed("probe", 0, 10);
  BOOST_REQUIRE(failed);
  BOOST_REQUIRE(failed->size() == 1u);
  BOOST_TEST((*failed)[0].attempts == 5u);
  BOOST_TEST((*failed)[0].first_attempt_at == t0);
  BOOST_TEST((*failed)[0].last_attempt_at == t0 + 220000);
}

BOOST_AUTO_TEST_CASE(a_later_success_acks_the_job) {
  probe_node p{seed_sync_policy(), 0, [](std::uint32_t attempt) {
                 return attempt < 3 ? test::script_action::fail
                                    : test::script_action::succeed;
               }};
  auto& w = *p.n->node().store().writer;
  auto before = w.stats();
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(600s);
  BOOST_TEST(p.log->attempts.size() == 3u);
  BOOST_TEST(p.log->failed_calls == 0);
  auto c = p.counts();
  BOOST_TEST(c.failed + c.ready + c.delayed + c.leased == 0u);
  // The event's append (with its audit record) is the one foreground
  // write; the queues' leases, retries and acks, their ticks and the
  // analytics listener's effects all yield to requests.
  auto after = w.stats();
  auto bg = after.background_ops - before.background_ops;
  auto all = after.ops_committed + after.ops_failed - before.ops_committed
             - before.ops_failed;
  BOOST_TEST(bg >= 6u);
  BOOST_TEST(all - bg == 1u);
}

BOOST_AUTO_TEST_CASE(the_delay_holds_the_first_attempt) {
  probe_node p{seed_sync_policy(), 5, test::always_succeed};
  auto t0 = p.n->now();
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(4900ms);
  BOOST_TEST(p.log->attempts.empty());
  BOOST_TEST(p.counts().delayed == 1u);
  p.n->advance(200ms);
  BOOST_REQUIRE(p.log->attempt_times.size() == 1u);
  BOOST_TEST(p.log->attempt_times[0] - t0 == 5000);
}

BOOST_AUTO_TEST_CASE(a_crashing_listener_is_restarted_and_the_attempt_counts) {
  probe_node p{seed_sync_policy(), 0, [](std::uint32_t attempt) {
                 return attempt == 1 ? test::script_action::crash
                                     : test::script_action::succeed;
               }};
  BOOST_REQUIRE(p.create_customer("cu1"));
  BOOST_REQUIRE(p.create_customer("cu2"));
  p.n->advance(60s);
  // Both jobs crashed the actor on their first attempt; each was retried
  // (attempt 2) by a restarted actor and succeeded.
  std::vector<std::uint32_t> seen = p.log->attempts;
  BOOST_TEST(std::count(seen.begin(), seen.end(), 1u) == 2);
  BOOST_TEST(std::count(seen.begin(), seen.end(), 2u) == 2);
  auto c = p.counts();
  BOOST_TEST(c.failed + c.ready + c.delayed + c.leased == 0u);
}

BOOST_AUTO_TEST_CASE(a_hanging_listener_times_out_into_a_retry) {
  auto policy = seed_sync_policy();
  policy.timeout = 2s;
  probe_node p{policy, 0, [](std::uint32_t attempt) {
                 return attempt == 1 ? test::script_action::hang
                                     : test::script_action::succeed;
               }};
  auto t0 = p.n->now();
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(30s);
  BOOST_REQUIRE(p.log->attempt_times.size() == 2u);
  // Timed out after 2 s, then waited backoff[0] = 10 s.
  BOOST_TEST(p.log->attempt_times[1] - t0 == 12000);
}

BOOST_AUTO_TEST_CASE(a_job_delivered_twice_has_its_effects_once) {
  // The CRM is an endpoint of the test's (a provider, to the node), so
  // the external sync's log reader makes a job of the event.
  auto calls = std::make_shared<std::atomic<std::size_t>>(0);
  deterministic_node n{[calls](node_options& o) {
    o.endpoint = [calls](caf::actor_system& sys) {
      return sys.spawn(
          [calls](endpoint_actor::pointer) -> endpoint_actor::behavior_type {
            return {
                [calls](sync_atom, const outbound_call&) {
                  ++*calls;
                  return std::string{};
                },
            };
          });
    };
  }};
  auto c1 = test::sample_customer("cu1");
  customer_updated e{c1, {}};
  auto res = n.dispatch_event(e, "cu1", "c1");
  BOOST_REQUIRE(res);
  n.advance(5s);
  auto crm = [&] {
    return calls->load();
  };
  BOOST_REQUIRE(crm() == 1u);
  // Deliver the external sync's job a second time, as after a lost ack.
  store::job dup;
  dup.queue = "default";
  dup.listener = listener_names::external_sync;
  auto stored = n.node().store().events->read_all(1, 10);
  BOOST_REQUIRE(stored);
  BOOST_REQUIRE(stored->size() == 1u);
  dup.event_id = (*stored)[0].id;
  dup.event_seq = (*stored)[0].sequence;
  dup.company_id = "c1";
  dup.event_type = (*stored)[0].type;
  dup.created_at = dup.due_at = n.now();
  dup.max_tries = 1;
  dup.timeout_ms = 1000;
  BOOST_REQUIRE(store::test::enqueue(*n.node().store().jobs, dup));
  caf::anon_send(n.node().queues().at("default"), wake_atom::value);
  n.advance(5s);
  BOOST_TEST(crm() == 1u);
  auto c = n.node().store().jobs->counts("default", n.now());
  BOOST_REQUIRE(c);
  BOOST_TEST(c->ready + c->delayed + c->leased + c->failed == 0u);
}

BOOST_AUTO_TEST_CASE(failed_jobs_can_be_retried) {
  auto policy = seed_sync_policy();
  policy.tries = 1;
  auto calls = std::make_shared<int>(0);
  probe_node p{policy, 0, [calls](std::uint32_t) {
                 return ++*calls == 1 ? test::script_action::fail
                                      : test::script_action::succeed;
               }};
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(2s);
  BOOST_TEST(p.counts().failed == 1u);
  BOOST_TEST(p.log->failed_calls == 1);
  auto failed = p.n->node().store().jobs->list_failed("probe", 0, 10);
  BOOST_REQUIRE(failed && failed->size() == 1u);
  BOOST_REQUIRE(
      p.n->node().store().jobs->retry_failed((*failed)[0].id, p.n->now()));
  caf::anon_send(p.n->node().queues().at("probe"), wake_atom::value);
  p.n->advance(2s);
  BOOST_TEST(p.counts().failed == 0u);
  BOOST_TEST(p.log->attempts.back() == 1u); // attempts start over
  BOOST_TEST(*calls == 2);
}

BOOST_AUTO_TEST_CASE(retry_until_ends_retries_at_its_deadline) {
  auto policy = seed_sync_policy();
  policy.tries = 100;
  policy.backoff_s = {10};
  policy.retry_until_s = 35; // attempts at 0, 10, 20, 30; none at 40
  probe_node p{policy, 0, test::always_fail};
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(120s);
  BOOST_TEST(p.log->attempts.size() == 4u);
  BOOST_TEST(p.log->failed_calls == 1);
  BOOST_TEST(p.counts().failed == 1u);
}

BOOST_AUTO_TEST_CASE(max_exceptions_fails_before_the_tries_run_out) {
  auto policy = seed_sync_policy();
  policy.tries = 10;
  policy.backoff_s = {1};
  policy.max_exceptions = 3;
  probe_node p{policy, 0, test::always_fail};
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(60s);
  BOOST_TEST(p.log->attempts.size() == 3u);
  BOOST_TEST(p.log->failed_calls == 1);
}

BOOST_AUTO_TEST_CASE(exponential_backoff_with_jitter_and_cap) {
  retry_policy policy;
  policy.tries = 4;
  policy.exponential = true;
  policy.base_s = 4;
  policy.cap_s = 10;
  policy.jitter = true; // the deterministic node draws 0.5
  probe_node p{policy, 0, test::always_fail};
  auto t0 = p.n->now();
  BOOST_REQUIRE(p.create_customer("cu1"));
  p.n->advance(60s);
  std::vector<timestamp_ms> offsets;
  for (auto t : p.log->attempt_times)
    offsets.push_back(t - t0);
  // Waits: 0.5 * 4 s, 0.5 * 8 s, 0.5 * min(16, 10) s.
  std::vector<timestamp_ms> expected{0, 2000, 6000, 11000};
  BOOST_TEST(offsets == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(queue_stats_report_counts) {
  probe_node p{seed_sync_policy(), 30, test::always_succeed};
  BOOST_REQUIRE(p.create_customer("cu1"));
  auto st = p.n->call<queue_stats>(p.n->node().queues().at("probe"),
                                   stats_atom::value);
  BOOST_REQUIRE(st);
  BOOST_TEST(st->queue == "probe");
  BOOST_TEST(st->delayed == 1u);
  p.n->advance(31s);
  st = p.n->call<queue_stats>(p.n->node().queues().at("probe"),
                              stats_atom::value);
  BOOST_REQUIRE(st);
  BOOST_TEST(st->delayed == 0u);
  BOOST_TEST(st->processed == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
