// The dispatch path: one transaction for events and outbox jobs, sync
// listeners by request/response that never fail the dispatch.

#include <boost/test/unit_test.hpp>

#include <actors/cache.hpp>
#include <actors/dispatcher.hpp>
#include <actors/listeners.hpp>
#include <actors/testing.hpp>
#include <store/audit_log.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/messages/samples.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::testing::deterministic_node;

namespace {

std::uint64_t all_jobs(deterministic_node& n) {
  auto c = n.node().store().jobs->counts("", n.now());
  BOOST_REQUIRE(c);
  return c->ready + c->delayed + c->leased + c->failed;
}

/// A sync listener that answers by `mode`.
sync_listener_actor spawn_sync(caf::actor_system& sys, std::string mode) {
  return sys.spawn([mode](sync_listener_actor::pointer self)
                       -> sync_listener_actor::behavior_type {
    return {
        [self, mode](handle_atom, const envelope&) -> caf::result<ok_atom> {
          if (mode == "fail")
            return make_runtime_error(runtime_errc::listener_failed, "boom");
          if (mode == "hang")
            return self->make_response_promise<ok_atom>();
          return ok_atom::value;
        },
    };
  });
}

} // namespace

BOOST_AUTO_TEST_SUITE(dispatcher_suite)

BOOST_AUTO_TEST_CASE(dispatch_stores_events_and_one_job_per_queued_listener) {
  deterministic_node n;
  appointment_created e{test::sample_appointment("a1", n.now() + 86400000 * 3),
                        "api",
                        {{"channel", "web"}}};
  event_metadata meta;
  meta.user_id = "u7";
  meta.ip_address = "10.0.0.1";
  meta.user_agent = "curl/8";
  auto res = n.dispatch_event(e, "a1", "c1", meta);
  BOOST_REQUIRE_MESSAGE(res, (res ? "" : describe(res.error())));
  BOOST_TEST(res->sequences == (std::vector<std::uint64_t>{1}),
             boost::test_tools::per_element());
  BOOST_TEST(res->versions == (std::vector<std::uint64_t>{1}),
             boost::test_tools::per_element());
  // appointment.created has four queued listeners, all of which read the
  // log after their checkpoints (catch-up listeners): no job.
  BOOST_TEST(res->jobs_enqueued == 0u);
  // appointment.completed's thank-you note is a job listener: one job.
  auto done = n.dispatch_event(
      appointment_completed{test::sample_appointment("a2", n.now()), "u1"},
      "a2", "c1");
  BOOST_REQUIRE(done);
  BOOST_TEST(done->jobs_enqueued == 1u);
  // Audit logger and cache invalidator ran, both fine.
  BOOST_REQUIRE(res->sync_outcomes.size() == 2u);
  BOOST_TEST(res->sync_outcomes[0].listener == listener_names::audit_logger);
  BOOST_TEST(res->sync_outcomes[1].listener
             == listener_names::cache_invalidator);
  for (const auto& o : res->sync_outcomes)
    BOOST_TEST(o.ok);
  auto stream
      = n.node().store().events->read_stream("c1", "appointment", "a1", 1, 10);
  BOOST_REQUIRE(stream && stream->size() == 1u);
  BOOST_TEST((*stream)[0].metadata.user_id == "u7");
  // The audit record carries the seed's fields.
  auto audit
      = n.node().store().audit->by_model("c1", "appointment", "a1", 0, 10);
  BOOST_REQUIRE(audit && audit->size() == 1u);
  const auto& rec = (*audit)[0];
  BOOST_TEST(rec.event_type == "appointment.created");
  BOOST_TEST(rec.user_id == "u7");
  BOOST_TEST(rec.company_id == "c1");
  BOOST_TEST(rec.ip_address == "10.0.0.1");
  BOOST_TEST(rec.user_agent == "curl/8");
  BOOST_TEST(rec.data == (*stream)[0].data);
  auto by_company = n.node().store().audit->by_company("c1", 0, 10);
  BOOST_REQUIRE(by_company);
  BOOST_TEST(by_company->size() == 2u);
  BOOST_TEST(*n.node().store().audit->checkpoint() == 2u);
}

BOOST_AUTO_TEST_CASE(a_conflicting_append_enqueues_nothing) {
  deterministic_node n;
  // The thank-you note's job is the one enqueued.
  appointment_completed e{test::sample_appointment("a1", n.now()), "u1"};
  dispatch_request req;
  req.events.push_back(make_envelope(e, "a1", 0, "c1", n.now(), {}));
  req.expect = expect_kind::exact;
  req.expected_version = 3;
  auto res = n.dispatch(req);
  BOOST_REQUIRE(!res);
  BOOST_TEST((runtime_code(res.error()) == runtime_errc::version_conflict));
  BOOST_TEST(describe(res.error()).find("version 0") != std::string::npos);
  BOOST_TEST(all_jobs(n) == 0u);
  BOOST_TEST(*n.node().store().events->last_sequence() == 0u);
  // The same request with the right expectation commits with its jobs.
  req.expected_version = 0;
  req.expect = expect_kind::no_stream;
  auto ok = n.dispatch(req);
  BOOST_REQUIRE(ok);
  BOOST_TEST(ok->jobs_enqueued == 1u);
}

BOOST_AUTO_TEST_CASE(an_idempotent_retry_stores_and_enqueues_once) {
  deterministic_node n;
  customer_created e{test::sample_customer("cu1"), customer_source::web};
  dispatch_request req;
  req.events.push_back(make_envelope(e, "cu1", 0, "c1", n.now(), {}));
  auto first = n.dispatch(req);
  BOOST_REQUIRE(first);
  auto jobs = all_jobs(n);
  auto again = n.dispatch(req);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->sequences == first->sequences,
             boost::test_tools::per_element());
  BOOST_TEST(again->jobs_enqueued == 0u);
  BOOST_TEST(all_jobs(n) == jobs);
  // The retry's commit wrote no audit record: the AuditLogger is asked,
  // finds the first one, and the log holds one record.
  bool audited = false;
  for (const auto& o : again->sync_outcomes)
    if (o.listener == listener_names::audit_logger)
      audited = o.ok;
  BOOST_TEST(audited);
  auto recs = n.node().store().audit->by_model("c1", "customer", "cu1", 0, 10);
  BOOST_REQUIRE(recs);
  BOOST_TEST(recs->size() == 1u);
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_naming_the_field) {
  deterministic_node n;
  dispatch_request empty;
  auto r1 = n.dispatch(empty);
  BOOST_REQUIRE(!r1);
  BOOST_TEST(describe(r1.error()).find("events") != std::string::npos);
  dispatch_request unknown;
  auto ev
      = test::sample_event("appointment.teleported", "appointment", "a1", "{}");
  unknown.events.push_back(ev);
  auto r2 = n.dispatch(unknown);
  BOOST_REQUIRE(!r2);
  BOOST_TEST(describe(r2.error()).find("events[0].type") != std::string::npos);
  dispatch_request bad_data;
  ev.type = "customer.created";
  ev.aggregate_type = "customer";
  ev.data = R"({"customer":{"id":"x","company_id":"c1"},"source":"fax"})";
  bad_data.events.push_back(ev);
  auto r3 = n.dispatch(bad_data);
  BOOST_REQUIRE(!r3);
  BOOST_TEST(describe(r3.error()).find("source") != std::string::npos);
  BOOST_TEST(*n.node().store().events->last_sequence() == 0u);
  BOOST_TEST(all_jobs(n) == 0u);
}

BOOST_AUTO_TEST_CASE(failing_and_hanging_sync_listeners_never_fail_dispatch) {
  deterministic_node n;
  // The node runs no actor named failing or hanging (it would refuse to
  // start), so a second dispatcher gets both, with its own registry.
  auto reg = std::make_shared<listener_registry>(n.node().registry());
  BOOST_REQUIRE(reg->listen_sync<customer_created>({"failing", 1, 1s}));
  BOOST_REQUIRE(reg->listen_sync<customer_created>({"hanging", 2, 1s}));
  dispatcher_deps d;
  d.registry = reg;
  d.events = n.node().store().events.get();
  d.jobs = n.node().store().jobs.get();
  d.writer = n.node().store().writer.get();
  d.inline_commits = true;
  d.sync_listeners["failing"] = spawn_sync(n.sys(), "fail");
  d.sync_listeners["hanging"] = spawn_sync(n.sys(), "hang");
  d.clock = n.node().clock();
  auto disp = n.sys().spawn(switchboard::dispatcher, d);
  dispatch_request req;
  customer_created e{test::sample_customer("cu1"), customer_source::web};
  req.events.push_back(make_envelope(e, "cu1", 0, "c1", n.now(), {}));
  auto out = std::make_shared<std::optional<dispatch_result>>();
  n.sys().spawn([=](caf::event_based_actor* self) {
    self->request(disp, caf::infinite, dispatch_atom::value, req)
        .then([out](dispatch_result r) {
          *out = std::move(r);
        });
  });
  n.run();
  BOOST_TEST(!out->has_value()); // waiting for the hanging listener
  n.advance(1500ms);
  BOOST_REQUIRE(out->has_value());
  const auto& res = **out;
  BOOST_TEST(res.sequences.size() == 1u);
  std::map<std::string, listener_outcome> by_name;
  for (const auto& o : res.sync_outcomes)
    by_name[o.listener] = o;
  BOOST_TEST(!by_name["failing"].ok);
  BOOST_TEST(by_name["failing"].error.find("boom") != std::string::npos);
  BOOST_TEST(!by_name["hanging"].ok);
  BOOST_TEST(by_name["hanging"].error.find("timeout") != std::string::npos);
  caf::anon_send_exit(disp, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(cache_invalidator_flushes_tags_and_company) {
  deterministic_node n;
  auto cache = n.node().cache();
  auto put = [&](std::string key, std::vector<std::string> tags) {
    BOOST_REQUIRE(n.call<ok_atom>(cache, put_atom::value, key, std::string{"v"},
                                  tags, std::uint32_t{0}));
  };
  put("appts:c1", {"appointments", "company:c1"});
  put("avail:c1", {"availability:c1"});
  // Another company's entries stay: c1's booking is none of their business.
  put("avail:c2", {"availability:c2"});
  put("customers:c2", {"customers", "company:c2"});
  put("other:c2", {"company:c2"});
  appointment_created e{
      test::sample_appointment("a1", n.now() + 86400000), "api", {}};
  BOOST_REQUIRE(n.dispatch_event(e, "a1", "c1"));
  auto lookup = [&](std::string key) {
    auto r = n.call<cache_lookup>(cache, get_atom::value, key);
    BOOST_REQUIRE(r);
    return r->found;
  };
  BOOST_TEST(!lookup("appts:c1"));
  BOOST_TEST(!lookup("avail:c1"));
  BOOST_TEST(lookup("avail:c2"));
  BOOST_TEST(lookup("customers:c2"));
  BOOST_TEST(lookup("other:c2"));
  auto stats = n.call<cache_stats>(cache, stats_atom::value);
  BOOST_REQUIRE(stats);
  BOOST_TEST(stats->flushes == 1u);
  BOOST_TEST(stats->flushed_entries == 2u);
  BOOST_TEST(stats->hits == 3u);
  BOOST_TEST(stats->misses == 2u);
}

BOOST_AUTO_TEST_CASE(cache_is_bounded_in_bytes_and_swept) {
  deterministic_node n;
  auto cache = n.sys().spawn(switchboard::cache, n.node().clock(),
                             cache_options{4096, 1000ms});
  auto put = [&](std::string key, std::uint32_t ttl) {
    BOOST_REQUIRE(n.call<ok_atom>(cache, put_atom::value, key,
                                  std::string(500, 'v'),
                                  std::vector<std::string>{"t"}, ttl));
  };
  auto stats = [&] {
    auto s = n.call<cache_stats>(cache, stats_atom::value);
    BOOST_REQUIRE(s);
    return *s;
  };
  // 100 entries of ~700 bytes in 4 kB: the oldest go, the bound holds.
  for (int i = 0; i < 100; ++i)
    put("k" + std::to_string(i), 0);
  auto s = stats();
  BOOST_TEST(s.bytes <= 4096u);
  BOOST_TEST(s.entries >= 4u);
  BOOST_TEST(s.evicted == 100u - s.entries);
  auto found = [&](std::string key) {
    auto r = n.call<cache_lookup>(cache, get_atom::value, key);
    BOOST_REQUIRE(r);
    return r->found;
  };
  BOOST_TEST(found("k99"));
  BOOST_TEST(!found("k0"));
  // Entries past their TTL go by the sweep, without a lookup.
  BOOST_REQUIRE(n.call<std::uint64_t>(cache, flush_atom::value,
                                      std::vector<std::string>{"t"}));
  put("a", 500);
  put("b", 500);
  BOOST_TEST(stats().entries == 2u);
  n.advance(1500ms);
  s = stats();
  BOOST_TEST(s.entries == 0u);
  BOOST_TEST(s.bytes == 0u);
  BOOST_TEST(s.expired == 2u);
  caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(cache_entries_expire_by_ttl) {
  deterministic_node n;
  auto cache = n.node().cache();
  BOOST_REQUIRE(n.call<ok_atom>(cache, put_atom::value, std::string{"k"},
                                std::string{"v"}, std::vector<std::string>{},
                                std::uint32_t{1000}));
  auto r = n.call<cache_lookup>(cache, get_atom::value, std::string{"k"});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->found);
  BOOST_TEST(r->value == "v");
  n.advance(1s);
  r = n.call<cache_lookup>(cache, get_atom::value, std::string{"k"});
  BOOST_REQUIRE(r);
  BOOST_TEST(!r->found);
}

BOOST_AUTO_TEST_CASE(audit_catches_up_after_a_restart) {
  // Events appended without the audit logger (as if the process died
  // between the append and the audit write) are audited at the next start.
  testing::deterministic_node first;
  auto dir = first.dir();
  (void)dir;
  // Append directly through the store, bypassing the dispatcher.
  customer_created e{test::sample_customer("cu9"), customer_source::import};
  std::vector<envelope> evs{make_envelope(e, "cu9", 0, "c1", first.now(), {})};
  BOOST_REQUIRE(
      first.node().store().events->append(evs, store::expected_version::any()));
  BOOST_TEST(*first.node().store().audit->checkpoint() == 0u);
  auto caught
      = first.node().store().audit->catch_up(*first.node().store().writer);
  BOOST_REQUIRE(caught);
  BOOST_TEST(*caught == 1u);
  BOOST_TEST(*first.node().store().audit->checkpoint() == 1u);
  auto recs
      = first.node().store().audit->by_model("c1", "customer", "cu9", 0, 10);
  BOOST_REQUIRE(recs);
  BOOST_TEST(recs->size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
