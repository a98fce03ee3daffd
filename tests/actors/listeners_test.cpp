// The seed's listeners, end to end through the queues in simulated time.

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include <boost/test/unit_test.hpp>

#include <actors/listeners.hpp>
#include <actors/listeners/catch_up.hpp>
#include <actors/listeners/common.hpp>
#include <actors/listeners/customer_view.hpp>
#include <actors/testing.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/support/times.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::testing::deterministic_node;

namespace {

std::vector<store::outbound_message> outbox(deterministic_node& n,
                                            std::string_view channel = {}) {
  auto m = n.node().store().outbox->list(0, 1000, channel);
  BOOST_REQUIRE(m);
  return *m;
}

/// The one SMS and the one email in the outbox, and no WhatsApp message
/// (the sample customer prefers SMS and email).
std::pair<store::outbound_message, store::outbound_message>
sms_and_email(deterministic_node& n) {
  auto sms = outbox(n, "sms");
  auto email = outbox(n, "email");
  BOOST_REQUIRE(sms.size() == 1u);
  BOOST_REQUIRE(email.size() == 1u);
  BOOST_TEST(outbox(n, "whatsapp").empty());
  return {sms[0], email[0]};
}

/// The due time of each pending reminder job, by its listener name.
std::map<std::string, timestamp_ms> pending_reminders(deterministic_node& n) {
  auto pending = n.node().store().jobs->list_pending("notifications", 0, 100);
  BOOST_REQUIRE(pending);
  std::map<std::string, timestamp_ms> out;
  for (const auto& j : *pending)
    if (j.listener.rfind("reminder.", 0) == 0)
      out[j.listener] = j.due_at;
  return out;
}

std::int64_t counter(deterministic_node& n, const std::string& key) {
  auto c = n.node().store().projections->counter(key);
  BOOST_REQUIRE(c);
  return *c;
}

void create_customer(deterministic_node& n, customer c) {
  customer_created e{c, customer_source::phone};
  BOOST_REQUIRE(n.dispatch_event(e, c.id, c.company_id));
}

/// Appointment a1 of cu1 three days ahead, created from `source`.
appointment create_a1(deterministic_node& n,
                      const std::string& source = "api") {
  auto a = test::sample_appointment("a1", n.now() + 3 * day_ms);
  BOOST_REQUIRE(
      n.dispatch_event(appointment_created{a, source, {}}, "a1", "c1"));
  return a;
}

/// Customer cu1 and their appointment a1 three days ahead, created.
appointment booked_ahead(deterministic_node& n) {
  create_customer(n, test::sample_customer("cu1"));
  return create_a1(n);
}

/// An endpoint that fails the first `failures` calls to `target`.
struct flaky_endpoint {
  struct state {
    std::mutex mtx;
    std::map<std::string, int> failures_left;
    std::vector<outbound_call> calls;
  };
  std::shared_ptr<state> st = std::make_shared<state>();

  endpoint_actor spawn(caf::actor_system& sys) {
    auto s = st;
    return sys.spawn(
        [s](endpoint_actor::pointer) -> endpoint_actor::behavior_type {
          return {
              [s](sync_atom,
                  const outbound_call& call) -> caf::result<std::string> {
                std::lock_guard<std::mutex> guard{s->mtx};
                s->calls.push_back(call);
                auto& left = s->failures_left[call.target];
                if (left > 0) {
                  --left;
                  return make_runtime_error(runtime_errc::unavailable,
                                            call.target + " answered 503");
                }
                return std::string{};
              },
          };
        });
  }
};

/// A node whose external calls go to a flaky endpoint.
struct flaky_fixture {
  flaky_endpoint ep;
  deterministic_node n{[this](node_options& o) {
    o.endpoint = [this](caf::actor_system& sys) {
      return ep.spawn(sys);
    };
  }};
};

} // namespace

BOOST_AUTO_TEST_SUITE(listeners_suite)

BOOST_AUTO_TEST_CASE(notification_goes_out_on_preferred_channels_after_5s) {
  deterministic_node n;
  auto c = test::sample_customer("cu1"); // SMS and email, no WhatsApp
  create_customer(n, c);
  create_a1(n, "phone");
  n.advance(4s);
  BOOST_TEST(outbox(n, "sms").empty());
  n.advance(2s);
  auto [sms, email] = sms_and_email(n);
  BOOST_TEST(sms.recipient == c.phone);
  BOOST_TEST(email.recipient == c.email);
  BOOST_TEST(sms.body.find("confirmed") != std::string::npos);
  BOOST_TEST(!sms.idempotency_key.empty());
  BOOST_TEST(sms.idempotency_key != email.idempotency_key);
}

BOOST_AUTO_TEST_CASE(a_completed_appointment_thanks_the_customer) {
  deterministic_node n;
  auto c = test::sample_customer("cu1"); // SMS and email, no WhatsApp
  create_customer(n, c);
  auto a = test::sample_appointment("a1", n.now() - hour_ms);
  a.status = appointment_status::completed;
  BOOST_REQUIRE(n.dispatch_event(appointment_completed{a, "u1"}, "a1", "c1"));
  n.advance(1s);
  auto [sms, email] = sms_and_email(n);
  BOOST_TEST(sms.recipient == c.phone);
  BOOST_TEST(email.subject == "Thank you for your visit");
  BOOST_TEST(sms.body.find("thank you for your visit") != std::string::npos);
  // Counted as completed, with its price, for its company.
  auto appts = projection_keys::analytics("appointments", "c1");
  BOOST_TEST(counter(n, appts + "completed") == 1);
  BOOST_TEST(counter(n, appts + "completed_value_cents") == a.price_cents);
  // One note per channel, none later.
  n.advance(60s);
  BOOST_TEST(outbox(n, "sms").size() == 1u);
}

// An event that names another company's customer (stored before the
// append route refused it, or imported) never reads that customer: its
// notification job fails at once, naming the company, and nothing of the
// customer reaches the outbox.
BOOST_AUTO_TEST_CASE(notification_refuses_another_companys_customer) {
  deterministic_node n;
  auto other = test::sample_customer("cu-g");
  other.company_id = "c2";
  create_customer(n, other);
  auto a = test::sample_appointment("a1", n.now() + 3 * day_ms, "cu-g");
  BOOST_REQUIRE(
      n.dispatch_event(appointment_created{a, "phone", {}}, "a1", "c1"));
  n.advance(10s);
  BOOST_TEST(outbox(n, "sms").empty());
  BOOST_TEST(outbox(n, "email").empty());
  for (const auto& m : outbox(n)) {
    BOOST_TEST(m.body.find(other.phone) == std::string::npos);
    BOOST_TEST(m.recipient != other.phone);
  }
  std::string errors;
  for (const char* q : {"notifications", "default"}) {
    auto failed = n.node().store().jobs->list_failed(q, 0, 10);
    BOOST_REQUIRE(failed);
    for (const auto& j : *failed)
      errors += j.listener + ": " + j.last_error + "\n";
  }
  BOOST_TEST_INFO(errors);
  BOOST_TEST(errors.find("customer cu-g does not exist in company c1")
             != std::string::npos);
}

// The listeners' customer view folds a customer's stream once, and again
// after any customer commit; the next job then sees the change.
BOOST_AUTO_TEST_CASE(customer_view_folds_again_after_a_customer_commit) {
  deterministic_node n;
  auto c = test::sample_customer("cu1");
  create_customer(n, c);
  customer_view view;
  const auto& events = *n.node().store().events;
  for (int i = 0; i < 3; ++i) {
    auto got = view.get(events, "c1", "cu1");
    BOOST_REQUIRE(got);
    BOOST_TEST(got->phone == c.phone);
  }
  BOOST_TEST(view.folds() == 1u);
  // Another company's id is no customer of c1, and is not kept.
  BOOST_TEST(!view.get(events, "c2", "cu1"));
  BOOST_TEST(!view.get(events, "c2", "cu1"));
  BOOST_TEST(view.folds() == 3u);
  auto moved = c;
  moved.phone = "+4930999999";
  BOOST_REQUIRE(n.dispatch_event(customer_updated{moved, {}}, "cu1", "c1"));
  auto got = view.get(events, "c1", "cu1");
  BOOST_REQUIRE(got);
  BOOST_TEST(got->phone == moved.phone);
  BOOST_TEST(view.folds() == 4u);
  // Through the node's own view: the next booking's SMS goes to the new
  // number.
  create_a1(n, "phone");
  n.advance(6s);
  auto sms = outbox(n, "sms");
  BOOST_REQUIRE(sms.size() == 1u);
  BOOST_TEST(sms[0].recipient == moved.phone);
  auto phone_two = moved;
  phone_two.phone = "+4930888888";
  BOOST_REQUIRE(n.dispatch_event(customer_updated{phone_two, {}}, "cu1", "c1"));
  auto b = test::sample_appointment("a2", n.now() + 4 * day_ms);
  BOOST_REQUIRE(
      n.dispatch_event(appointment_created{b, "phone", {}}, "a2", "c1"));
  n.advance(6s);
  sms = outbox(n, "sms");
  BOOST_REQUIRE(sms.size() == 2u);
  BOOST_TEST(sms[1].recipient == phone_two.phone);
}

BOOST_AUTO_TEST_CASE(whatsapp_only_customer_gets_whatsapp_only) {
  deterministic_node n;
  auto c = test::sample_customer("cu2");
  c.prefers_sms = false;
  c.prefers_email = true;
  c.email.clear(); // prefers email but has none
  c.prefers_whatsapp = true;
  create_customer(n, c);
  auto a = test::sample_appointment("a2", n.now() + 3 * day_ms, "cu2");
  BOOST_REQUIRE(
      n.dispatch_event(appointment_created{a, "web", {}}, "a2", "c1"));
  n.advance(10s);
  BOOST_TEST(outbox(n, "whatsapp").size() == 1u);
  BOOST_TEST(outbox(n, "sms").empty());
  BOOST_TEST(outbox(n, "email").empty());
}

BOOST_AUTO_TEST_CASE(analytics_projections_follow_the_seed) {
  deterministic_node n;
  create_customer(n, test::sample_customer("cu1"));
  auto a = test::sample_appointment("a1", n.now() + 50 * hour_ms);
  BOOST_REQUIRE(
      n.dispatch_event(appointment_created{a, "phone", {}}, "a1", "c1"));
  call_completed cc;
  cc.call.id = "call1";
  cc.call.company_id = "c1";
  cc.analysis.appointment_request.service_id = "s1";
  BOOST_REQUIRE(n.dispatch_event(cc, "call1", "c1"));
  call_completed plain;
  plain.call.id = "call2";
  plain.call.company_id = "c1";
  plain.analysis.sentiment = "positive";
  BOOST_REQUIRE(n.dispatch_event(plain, "call2", "c1"));
  n.advance(3s);
  auto appts = projection_keys::analytics("appointments", "c1");
  BOOST_TEST(counter(n, appts + "count") == 1);
  BOOST_TEST(counter(n, appts + "branch=b1") == 1);
  BOOST_TEST(counter(n, appts + "service=s1") == 1);
  BOOST_TEST(counter(n, appts + "source=phone") == 1);
  BOOST_TEST(counter(n, appts + "value_cents") == 4500);
  BOOST_TEST(counter(n, appts + "lead_time_hours_sum") == 50);
  BOOST_TEST(counter(n, appts + "day=2030-01-01") == 1);
  auto calls = projection_keys::analytics("calls", "c1");
  BOOST_TEST(counter(n, calls + "count") == 2);
  BOOST_TEST(counter(n, calls + "sentiment=neutral") == 1);
  BOOST_TEST(counter(n, calls + "sentiment=positive") == 1);
  BOOST_TEST(counter(n, calls + "booking_intent") == 1);
  BOOST_TEST(
      counter(n, projection_keys::analytics("customers", "c1") + "source=phone")
      == 1);
}

// The listeners of one event share its decoding: equal payload text gives
// the same decoded event, other text its own, and what does not decode is
// an error each time, never kept.
BOOST_AUTO_TEST_CASE(equal_payloads_are_decoded_once) {
  auto& cache = decoded_events<appointment_created>::instance();
  auto a
      = test::sample_appointment("a-shared", deterministic_node::default_start);
  auto env = make_envelope(appointment_created{a, "web", {}}, "a-shared", 0,
                           "c1", deterministic_node::default_start, {});
  auto copy = env; // another job's copy of the same event
  copy.id = "another";
  auto first = cache.get(env);
  auto second = cache.get(copy);
  BOOST_REQUIRE(first && second);
  BOOST_TEST(first->get() == second->get());
  BOOST_TEST((*first)->appointment.id == "a-shared");
  auto b = a;
  b.id = "b-other";
  auto other = make_envelope(appointment_created{b, "web", {}}, "b-other", 0,
                             "c1", deterministic_node::default_start, {});
  auto third = cache.get(other);
  BOOST_REQUIRE(third);
  BOOST_TEST((*third)->appointment.id == "b-other");
  BOOST_TEST(cache.get(env)->get() == first->get());
  // Another type's envelope is refused as event_from refuses it.
  auto wrong = other;
  wrong.type = "appointment.updated";
  BOOST_TEST(!cache.get(wrong));
  auto broken = env;
  broken.data = R"({"appointment":{"id":7}})";
  for (int i = 0; i < 2; ++i) {
    auto bad = cache.get(broken);
    BOOST_REQUIRE(!bad);
    BOOST_TEST(bad.error().field.rfind("data.", 0) == 0u);
  }
}

// A decider's envelope is known decoded: its listeners get the event it was
// made from, equal to what its text decodes to, without parsing it.
BOOST_AUTO_TEST_CASE(a_deciders_envelope_is_known_decoded) {
  auto& cache = decoded_events<appointment_created>::instance();
  auto a
      = test::sample_appointment("a-known", deterministic_node::default_start);
  appointment_created made{a, "phone", {{"user_id", "u1"}}};
  auto env = make_known_envelope(made, "a-known", 0, "c1",
                                 deterministic_node::default_start,
                                 event_metadata{});
  auto first = cache.get(env);
  auto copy = env; // a reader's copy, read back from the log
  auto second = cache.get(copy);
  BOOST_REQUIRE(first && second);
  BOOST_TEST(first->get() == second->get());
  BOOST_TEST((**first == made));
  auto parsed = event_from<appointment_created>(env);
  BOOST_REQUIRE(parsed);
  BOOST_TEST((*parsed == made));
}

// A job's view of an appointment is its stream's last event, whatever the
// job's own event says: a job of the booking that runs after a move sees
// the new time, after a cancellation the cancelled status.
BOOST_AUTO_TEST_CASE(the_current_appointment_is_its_last_event) {
  deterministic_node n;
  auto a = test::sample_appointment("a1", n.now() + 3 * day_ms);
  BOOST_REQUIRE(
      n.dispatch_event(appointment_created{a, "web", {}}, "a1", "c1"));
  listener_context ctx;
  ctx.events = n.node().store().events.get();
  ctx.processed = n.node().store().processed.get();
  auto stream = [&] {
    auto read = ctx.events->read_stream("c1", "appointment", "a1", 1, 10);
    BOOST_REQUIRE(read);
    return *read;
  };
  auto created = stream().front();
  // Only the booking so far: its own event, not read again.
  auto cur = listener_detail::load_current(ctx, "c1", "a1", &created, &a);
  BOOST_REQUIRE(cur);
  BOOST_TEST(cur->exists);
  BOOST_TEST(cur->appt.start_time == a.start_time);
  auto moved = a;
  moved.start_time += hour_ms;
  moved.end_time += hour_ms;
  auto updated
      = n.dispatch_event(appointment_updated{moved, {}, ""}, "a1", "c1");
  if (!updated)
    BOOST_FAIL(to_string(updated.error()));
  for (const envelope* known : {static_cast<const envelope*>(&created),
                                static_cast<const envelope*>(nullptr)}) {
    cur = listener_detail::load_current(ctx, "c1", "a1", known, &a);
    BOOST_REQUIRE(cur);
    BOOST_TEST(cur->appt.start_time == moved.start_time);
    BOOST_TEST((cur->appt.status == appointment_status::scheduled));
  }
  BOOST_REQUIRE(
      n.dispatch_event(appointment_cancelled{moved, "ill", ""}, "a1", "c1"));
  cur = listener_detail::load_current(ctx, "c1", "a1", &created, &a);
  BOOST_REQUIRE(cur);
  BOOST_TEST((cur->appt.status == appointment_status::cancelled));
  // Another company's equal id is another stream: none here.
  cur = listener_detail::load_current(ctx, "c2", "a1", &created, &a);
  BOOST_REQUIRE(cur);
  BOOST_TEST(!cur->exists);
}

// UpdateAnalytics reads the log after its checkpoint: no job and no
// processed mark per event, each company's customers counted once in its
// own company, and the checkpoint at the last event it read.
BOOST_AUTO_TEST_CASE(analytics_reads_the_log_after_its_checkpoint) {
  deterministic_node n;
  dispatch_request req;
  std::vector<std::pair<std::string, std::string>> made; // company, event id
  for (int i = 0; i < 40; ++i) {
    auto company = i % 4 == 0 ? std::string{"c2"} : std::string{"c1"};
    auto id = "cu" + std::to_string(i);
    auto c = test::sample_customer(id);
    c.company_id = company;
    auto source = i % 2 == 0 ? customer_source::web : customer_source::phone;
    req.events.push_back(make_envelope(customer_created{c, source}, id, 0,
                                       company, n.now(), {}));
    made.emplace_back(company, req.events.back().id);
    if (i > 0)
      req.linked_versions.push_back(0); // a new stream each
  }
  auto res = n.dispatch(std::move(req));
  BOOST_REQUIRE(res);
  BOOST_TEST(res->jobs_enqueued == 0u);
  n.advance(3s);
  auto customers = [](const char* company) {
    return projection_keys::analytics("customers", company);
  };
  BOOST_TEST(counter(n, customers("c1") + "count") == 30);
  BOOST_TEST(counter(n, customers("c2") + "count") == 10);
  // c2 holds every fourth customer, all of them even: all from the web.
  BOOST_TEST(counter(n, customers("c2") + "source=web") == 10);
  BOOST_TEST(counter(n, customers("c1") + "source=web") == 10);
  BOOST_TEST(counter(n, customers("c1") + "source=phone") == 20);
  auto& st = n.node().store();
  auto cp = read_checkpoint(*st.projections, listener_names::update_analytics);
  BOOST_REQUIRE(cp);
  BOOST_REQUIRE(cp->has_value());
  BOOST_TEST(**cp == *st.events->last_sequence());
  for (const auto& [company, event_id] : made) {
    auto marked = st.processed->contains(
        company, listener_names::update_analytics, event_id);
    BOOST_TEST((marked && !*marked), event_id);
  }
  auto c = st.jobs->counts("analytics", n.now());
  BOOST_REQUIRE(c);
  BOOST_TEST(c->ready + c->delayed + c->leased + c->failed == 0u);
  // More events: counted from the checkpoint on, nothing twice.
  auto more = test::sample_customer("cu99");
  BOOST_REQUIRE(n.dispatch_event(customer_created{more, customer_source::web},
                                 "cu99", "c1"));
  n.advance(3s);
  BOOST_TEST(counter(n, customers("c1") + "count") == 31);
  BOOST_TEST(counter(n, customers("c2") + "count") == 10);
}

// An event UpdateAnalytics cannot read (stored by another path) becomes
// a job of its own, tried and failed by the listener's policy, and the
// checkpoint moves past it: the events after it are counted.
BOOST_AUTO_TEST_CASE(an_event_analytics_cannot_read_becomes_a_job) {
  deterministic_node n;
  auto bad = make_envelope(
      customer_created{test::sample_customer("cu1"), customer_source::web},
      "cu1", 0, "c1", n.now(), {});
  bad.id = "bad-1";
  bad.data = R"({"customer": 7})";
  auto& st = n.node().store();
  BOOST_REQUIRE(st.events->append({bad}, store::expected_version::any()));
  BOOST_REQUIRE(n.dispatch_event(
      customer_created{test::sample_customer("cu2"), customer_source::web},
      "cu2", "c1"));
  n.advance(60s);
  auto key = projection_keys::analytics("customers", "c1") + "count";
  BOOST_TEST(counter(n, key) == 1);
  auto c = st.jobs->counts("analytics", n.now());
  BOOST_REQUIRE(c);
  BOOST_TEST(c->failed == 1u);
  BOOST_TEST(c->ready + c->delayed + c->leased == 0u);
  auto failed = st.jobs->list_failed("analytics", 0, 10);
  BOOST_REQUIRE(failed);
  BOOST_REQUIRE(failed->size() == 1u);
  BOOST_TEST(failed->front().event_id == "bad-1");
  BOOST_TEST(failed->front().attempts == 3u);
  auto cp = read_checkpoint(*st.projections, listener_names::update_analytics);
  BOOST_REQUIRE((cp && cp->has_value()));
  BOOST_TEST(**cp == 2u);
}

// A batch read before the checkpoint moved (a replay's switch) is not
// applied: the listener reads again from the new checkpoint, so nothing
// the replay counted is counted twice.
BOOST_AUTO_TEST_CASE(a_batch_read_before_a_replay_is_not_applied) {
  deterministic_node n{[](node_options& o) {
    o.listener_overrides[listener_names::update_analytics].delay_ms = 1000;
  }};
  auto key = projection_keys::analytics("customers", "c1") + "count";
  BOOST_REQUIRE(n.dispatch_event(
      customer_created{test::sample_customer("cu1"), customer_source::web},
      "cu1", "c1"));
  n.advance(100ms); // read, and held for the delay
  BOOST_TEST(counter(n, key) == 0);
  // What a replay's switch does: the counters and the checkpoint, at once.
  auto& st = n.node().store();
  auto replayed = st.writer->execute([&](store::write_txn& txn) {
    if (auto r = st.projections->add_in(txn, key, 1); !r)
      return r;
    return write_checkpoint_in(txn, *st.projections,
                               listener_names::update_analytics, 1);
  });
  BOOST_REQUIRE(replayed);
  n.advance(5s);
  BOOST_TEST(counter(n, key) == 1);
  BOOST_REQUIRE(n.dispatch_event(
      customer_created{test::sample_customer("cu2"), customer_source::web},
      "cu2", "c1"));
  n.advance(5s);
  BOOST_TEST(counter(n, key) == 2);
}

BOOST_FIXTURE_TEST_CASE(external_sync_retries_only_the_failed_step,
                        flaky_fixture) {
  ep.st->failures_left["crm"] = 2;
  auto t0 = n.now();
  create_a1(n);
  n.advance(100s);
  std::vector<std::string> targets;
  for (const auto& c : ep.st->calls)
    targets.push_back(c.target);
  // Cal.com once; the CRM failed twice (retried after 10 s and 30 s) and
  // then succeeded; Cal.com was not called again.
  BOOST_TEST(targets
                 == (std::vector<std::string>{"calcom", "crm", "crm", "crm"}),
             boost::test_tools::per_element());
  for (const auto& c : ep.st->calls) {
    BOOST_TEST(c.idempotency_key.find(c.target) != std::string::npos);
    BOOST_TEST(c.body.find("\"a1\"") != std::string::npos);
  }
  auto c = n.node().store().jobs->counts("default", n.now());
  BOOST_REQUIRE(c);
  BOOST_TEST(c->failed == 0u);
  (void)t0;
}

// With no provider set, the external sync's log reader writes each step's
// message to the outbox in its batch's commit, and the event gets no job:
// no marks but the Cal.com create's, which a later change of the
// appointment asks whether the create is pending. The outbox endpoint
// writes a call with its step's mark in one transaction, so a call
// repeated after its step was marked (an ack lost) writes nothing.
BOOST_AUTO_TEST_CASE(outbox_steps_are_written_by_the_reader) {
  deterministic_node n;
  auto a = test::sample_appointment("a1", n.now() + 3 * day_ms);
  dispatch_request req;
  req.events.push_back(make_envelope(appointment_created{a, "api", {}}, "a1", 0,
                                     "c1", n.now(), {}));
  auto event_id = req.events.front().id;
  BOOST_REQUIRE(!event_id.empty());
  auto& jobs = *n.node().store().jobs;
  std::string sync{listener_names::external_sync};
  auto sync_jobs = [&] {
    auto pending = jobs.list_pending("default", 0, 100);
    auto failed = jobs.list_failed("default", 0, 100);
    BOOST_REQUIRE(pending);
    BOOST_REQUIRE(failed);
    pending->insert(pending->end(), failed->begin(), failed->end());
    return std::count_if(pending->begin(), pending->end(), [&](const auto& j) {
      return j.listener == sync;
    });
  };
  BOOST_REQUIRE(n.dispatch(std::move(req)));
  BOOST_TEST(sync_jobs() == 0);
  n.advance(5s);
  BOOST_TEST(outbox(n, "calcom").size() == 1u);
  BOOST_TEST(outbox(n, "crm").size() == 1u);
  BOOST_TEST(sync_jobs() == 0);
  auto& processed = *n.node().store().processed;
  auto calcom_marked = processed.contains("c1", sync + ".calcom", event_id);
  BOOST_TEST((calcom_marked && *calcom_marked));
  auto crm_marked = processed.contains("c1", sync + ".crm", event_id);
  BOOST_TEST((crm_marked && !*crm_marked));
  auto cp = read_checkpoint(*n.node().store().projections, sync);
  BOOST_REQUIRE(cp);
  BOOST_TEST(cp->value_or(0) == 1u);
  // The endpoint itself: a call whose step is marked already is dropped.
  auto endpoint
      = spawn_outbox_endpoint(n.sys(), n.node().store().outbox.get(),
                              &processed, n.node().writer(), n.node().clock());
  outbound_call again{"crm", "appointment.upsert", event_id + ":crm", "{}"};
  again.mark = sync + ".calcom";
  again.mark_event = event_id;
  again.company_id = "c1";
  BOOST_TEST(
      n.call<std::string>(endpoint, sync_atom::value, again).has_value());
  BOOST_TEST(outbox(n, "crm").size() == 1u);
  // A new mark queues its message and is marked.
  again.mark = sync + ".other";
  BOOST_TEST(
      n.call<std::string>(endpoint, sync_atom::value, again).has_value());
  BOOST_TEST(outbox(n, "crm").size() == 2u);
  auto marked = processed.contains("c1", sync + ".other", event_id);
  BOOST_TEST((marked && *marked));
  // Marks are the company's: the same event id in another company is not
  // marked, and its call is queued.
  auto other = processed.contains("c2", sync + ".other", event_id);
  BOOST_TEST((other && !*other));
  again.company_id = "c2";
  BOOST_TEST(
      n.call<std::string>(endpoint, sync_atom::value, again).has_value());
  BOOST_TEST(outbox(n, "crm").size() == 3u);
  marked = processed.contains("c2", sync + ".other", event_id);
  BOOST_TEST((marked && *marked));
  caf::anon_send_exit(endpoint, caf::exit_reason::user_shutdown);
  n.run();
}

// With no provider for their targets, the steps of one event are queued
// by the listener itself in one transaction (not a commit per step through
// the outbox endpoint), each with its mark; a job delivered again writes
// nothing.
BOOST_AUTO_TEST_CASE(outbox_bound_steps_are_queued_in_one_commit) {
  deterministic_node n;
  auto& s = n.node().store();
  // The node's own context: no provider, so every target goes to the
  // outbox.
  const auto& ctx = n.node().listener_ctx();
  BOOST_REQUIRE(ctx.provider_targets);
  BOOST_REQUIRE(ctx.provider_targets->empty());
  auto endpoint = spawn_outbox_endpoint(n.sys(), ctx.outbox, ctx.processed,
                                        ctx.writer, ctx.clock);
  auto sync = n.sys().spawn(sync_with_external_services, ctx, endpoint);
  auto a = test::sample_appointment("a1", n.now() + 3 * day_ms);
  job_request req;
  req.job_id = 1;
  req.queue = "default";
  req.listener = listener_names::external_sync;
  req.attempt = 1;
  req.event = make_envelope(appointment_created{a, "api", {}}, "a1", 0, "c1",
                            n.now(), {});
  auto commits = [&] {
    return s.writer->stats().commits;
  };
  auto before = commits();
  BOOST_TEST(n.call<ok_atom>(sync, handle_atom::value, req).has_value());
  BOOST_TEST(commits() - before == 1u);
  auto calcom = outbox(n, "calcom");
  auto crm = outbox(n, "crm");
  BOOST_REQUIRE(calcom.size() == 1u);
  BOOST_REQUIRE(crm.size() == 1u);
  BOOST_TEST(calcom[0].recipient == "booking.create");
  BOOST_TEST(calcom[0].idempotency_key == "c1:" + req.event.id + ":calcom");
  BOOST_TEST(crm[0].recipient == "appointment.upsert");
  BOOST_TEST(crm[0].idempotency_key == "c1:" + req.event.id + ":crm");
  // Event ids are unique within a company only: the same id in another
  // company is another key, so a provider never takes one company's call
  // for a repeat of another's.
  auto twin = req.event;
  twin.company_id = "c2";
  BOOST_TEST(listener_detail::idempotency_key(twin, "crm")
             != crm[0].idempotency_key);
  for (const auto& m : {calcom[0], crm[0]}) {
    BOOST_TEST(m.company_id == "c1");
    BOOST_TEST(m.event_id == req.event.id);
    BOOST_TEST(m.body.find("\"a1\"") != std::string::npos);
  }
  std::string mark{listener_names::external_sync};
  for (const char* step : {".calcom", ".crm"}) {
    auto marked = s.processed->contains(req.event.company_id, mark + step,
                                        req.event.id);
    BOOST_TEST((marked && *marked), step);
  }
  // Delivered again (an ack lost): nothing more is written.
  before = commits();
  BOOST_TEST(n.call<ok_atom>(sync, handle_atom::value, req).has_value());
  BOOST_TEST(commits() == before);
  BOOST_TEST(outbox(n).size() == 2u);
  caf::anon_send_exit(sync, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(endpoint, caf::exit_reason::user_shutdown);
  n.run();
}

BOOST_FIXTURE_TEST_CASE(bookings_from_calcom_are_not_sent_back_to_calcom,
                        flaky_fixture) {
  create_a1(n, "calcom");
  n.advance(5s);
  BOOST_REQUIRE(ep.st->calls.size() == 1u);
  BOOST_TEST(ep.st->calls[0].target == "crm");
}

BOOST_FIXTURE_TEST_CASE(external_sync_fails_after_five_tries, flaky_fixture) {
  ep.st->failures_left["calcom"] = 100;
  create_a1(n);
  n.advance(std::chrono::seconds(10 + 30 + 60 + 120 + 5));
  BOOST_TEST(ep.st->calls.size() == 5u);
  auto failed = n.node().store().jobs->list_failed("default", 0, 10);
  BOOST_REQUIRE(failed);
  BOOST_REQUIRE(failed->size() == 1u);
  BOOST_TEST((*failed)[0].listener == listener_names::external_sync);
  BOOST_TEST((*failed)[0].last_error.find("503") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(subscriber_keeps_slots_stats_and_reminders) {
  deterministic_node n;
  auto a = booked_ahead(n);
  auto start = a.start_time;
  // Past the confirmation's delay: a move within it would be confirmed at
  // its new time instead of being notified.
  n.advance(6s);
  auto& proj = *n.node().store().projections;
  auto slot = proj.get(projection_keys::slot("c1", "st1", start));
  BOOST_REQUIRE(slot);
  BOOST_TEST(*slot == "a1");
  BOOST_TEST(
      counter(n, projection_keys::branch_stats("c1", "b1") + "appointments")
      == 1);
  auto reminders = pending_reminders(n);
  BOOST_REQUIRE(reminders.size() == 2u);
  BOOST_TEST(reminders["reminder.24h"] == start - day_ms);
  BOOST_TEST(reminders["reminder.1h"] == start - hour_ms);
  // Written by its log reader: no job of its own, no mark, and its
  // checkpoint past the booking.
  auto pending = n.node().store().jobs->list_pending("", 0, 100);
  BOOST_REQUIRE(pending);
  for (const auto& j : *pending)
    BOOST_TEST(j.listener.rfind(listener_names::appointment_subscriber, 0) != 0,
               j.listener);
  auto booking = n.node().store().events->read_by(store::event_index::type,
                                                  "appointment.created", 1, 1);
  BOOST_REQUIRE(booking);
  BOOST_REQUIRE(booking->size() == 1u);
  auto marked = n.node().store().processed->contains(
      "c1", listener_names::appointment_subscriber, (*booking)[0].id);
  BOOST_TEST((marked && !*marked));
  auto cp = read_checkpoint(proj, listener_names::appointment_subscriber);
  BOOST_REQUIRE(cp);
  BOOST_TEST(cp->value_or(0) >= (*booking)[0].sequence);

  // Reschedule by a day: old slot cleared, reminders moved, customer told.
  auto moved = a;
  moved.start_time = start + day_ms;
  moved.end_time = a.end_time + day_ms;
  appointment_updated upd;
  upd.appointment = moved;
  upd.changes["start_time"] = {"\"" + format_rfc3339(start) + "\"",
                               "\"" + format_rfc3339(moved.start_time) + "\""};
  BOOST_TEST(was_rescheduled(upd));
  BOOST_REQUIRE(n.dispatch_event(upd, "a1", "c1"));
  n.advance(2s);
  BOOST_TEST(!proj.get(projection_keys::slot("c1", "st1", start)));
  BOOST_REQUIRE(proj.get(projection_keys::slot("c1", "st1", moved.start_time)));
  reminders = pending_reminders(n);
  BOOST_REQUIRE(reminders.size() == 2u);
  BOOST_TEST(reminders["reminder.24h"] == moved.start_time - day_ms);
  BOOST_TEST(reminders["reminder.1h"] == moved.start_time - hour_ms);
  bool told = false;
  for (const auto& m : outbox(n, "sms"))
    told = told || m.body.find("moved") != std::string::npos;
  BOOST_TEST(told);

  // The reminder goes out when due.
  n.advance(std::chrono::milliseconds(3 * day_ms + 10000));
  int reminder_msgs = 0;
  for (const auto& m : outbox(n, "sms"))
    if (m.body.find("reminder") != std::string::npos)
      ++reminder_msgs;
  BOOST_TEST(reminder_msgs == 1); // 24 h before; the 1 h one is later
}

BOOST_AUTO_TEST_CASE(cancellation_removes_slot_and_reminders) {
  deterministic_node n;
  auto a = booked_ahead(n);
  auto start = a.start_time;
  n.advance(2s);
  appointment_cancelled c{a, "customer called", "u1"};
  BOOST_REQUIRE(n.dispatch_event(c, "a1", "c1"));
  n.advance(2s);
  BOOST_TEST(!n.node().store().projections->get(
      projection_keys::slot("c1", "st1", start)));
  BOOST_TEST(pending_reminders(n).empty());
  BOOST_TEST(
      counter(n, projection_keys::branch_stats("c1", "b1") + "cancellations")
      == 1);
}

BOOST_AUTO_TEST_SUITE_END()
