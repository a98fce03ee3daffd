// The call workflow (the seed's state machine) behind the router, on the
// deterministic node: transitions, refusals, booking and follow-ups.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/testing.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/actors/router_fixture.hpp"
#include "tests/support/times.hpp"

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

struct call_fixture : test::router_fixture {
  expected<command_result, caf::error> command(std::string type, std::string id,
                                               std::string name,
                                               boost::json::object payload,
                                               std::string company = "c1") {
    return route(test::named_command(std::move(type), std::move(id),
                                     std::move(company), std::move(name),
                                     payload));
  }

  void seed() {
    BOOST_REQUIRE(command(
        "service", "s1", "create",
        {{"name", "Cut"}, {"price_cents", 4500}, {"duration_minutes", 30}}));
    BOOST_REQUIRE(command("staff", "st1", "create", {{"name", "Bo"}}));
  }

  std::string at(int d, int hh) {
    auto day0 = n.now() - n.now() % day_ms;
    return format_rfc3339(day0 + d * day_ms + hh * 3600000);
  }

  /// Runs a call up to "ended".
  void to_ended(const std::string& id, const std::string& from = "+4930111") {
    BOOST_REQUIRE(command("call", id, "start", {{"from_number", from}}));
    BOOST_REQUIRE(command("call", id, "connect", {}));
    BOOST_REQUIRE(command("call", id, "end", {{"duration_s", 42}}));
  }

  boost::json::object analysis(const std::string& start) {
    boost::json::object a{{"sentiment", "positive"}, {"summary", "wants cut"}};
    if (!start.empty())
      a["appointment_request"] = boost::json::object{{"service_id", "s1"},
                                                     {"staff_id", "st1"},
                                                     {"preferred_start", start},
                                                     {"customer_name", "Ada"}};
    return a;
  }

  std::vector<std::string> types(const std::string& type,
                                 const std::string& id) {
    std::vector<std::string> out;
    auto s = n.node().store().events->read_stream("c1", type, id, 1, 100);
    if (s)
      for (auto& e : *s)
        out.push_back(e.type);
    return out;
  }

  std::string state_of(const command_result& r) {
    return std::string{
        boost::json::parse(r.state).as_object().at("state").as_string()};
  }

  std::size_t jobs_of(const std::string& listener) {
    std::size_t n_jobs = 0;
    auto all = n.node().store().jobs->list_pending("notifications", 0, 1000);
    if (all)
      for (auto& j : *all)
        n_jobs += j.listener == listener ? 1 : 0;
    return n_jobs;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(call_workflow_suite, call_fixture)

BOOST_AUTO_TEST_CASE(every_allowed_transition_and_refusals) {
  auto r = command("call", "k1", "start",
                   {{"from_number", "+4930111"}, {"to_number", "+4930999"}});
  BOOST_REQUIRE(r);
  BOOST_TEST(state_of(*r) == "started");
  // Not yet connected: ending or analysing is refused, naming the state.
  auto bad = command("call", "k1", "end", {});
  BOOST_REQUIRE(!bad);
  BOOST_TEST((runtime_code(bad.error()) == runtime_errc::conflict));
  BOOST_TEST(describe(bad.error()) == "call k1 is in state started");
  r = command("call", "k1", "connect", {});
  BOOST_REQUIRE(r);
  BOOST_TEST(state_of(*r) == "in_progress");
  bad = command("call", "k1", "start", {{"from_number", "+4930111"}});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(describe(bad.error()) == "call k1 is in state in_progress");
  r = command("call", "k1", "end", {{"duration_s", 30}, {"transcript", "hi"}});
  BOOST_REQUIRE(r);
  BOOST_TEST(state_of(*r) == "ended");
  bad = command("call", "k1", "connect", {});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(describe(bad.error()) == "call k1 is in state ended");
  // Unknown calls, unknown commands, bad fields.
  auto missing = command("call", "nope", "connect", {});
  BOOST_REQUIRE(!missing);
  BOOST_TEST((runtime_code(missing.error()) == runtime_errc::not_found));
  auto invalid = command("call", "k1", "analyze", {{"analysis", 3}});
  BOOST_REQUIRE(!invalid);
  BOOST_TEST((runtime_code(invalid.error()) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(invalid.error()).find("analysis") != std::string::npos);
  // Information only: no booking intent.
  r = command("call", "k1", "analyze", {{"analysis", analysis("")}});
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
  BOOST_TEST(state_of(*r) == "information_only");
  auto seen = types("call", "k1");
  std::vector<std::string> want{"call.started",   "call.connected",
                                "call.ended",     "call.analyzed",
                                "call.completed", "call.information_only"};
  BOOST_TEST(seen == want, boost::test_tools::per_element());
  bad = command("call", "k1", "analyze", {{"analysis", analysis("")}});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(describe(bad.error()) == "call k1 is in state information_only");
  // The caller was created with source phone.
  auto cust
      = find_customer_by_phone(*n.node().store().events, "c1", "+49 30 111");
  BOOST_REQUIRE(cust);
  BOOST_TEST(*cust == phone_customer_id("c1", "+4930111"));
  auto ct = types("customer", *cust);
  BOOST_REQUIRE(ct.size() == 1u);
  auto ev = n.node().store().events->read_stream("c1", "customer", *cust, 1, 1);
  BOOST_TEST((*ev)[0].data.find("\"source\":\"phone\"") != std::string::npos);
  // Another company does not see the call.
  auto other = n.call<std::string>(n.node().router(), get_atom::value,
                                   std::string{"call"}, std::string{"c2"},
                                   std::string{"k1"});
  BOOST_TEST(!other);
}

BOOST_AUTO_TEST_CASE(known_caller_is_found_by_phone) {
  seed();
  BOOST_REQUIRE(command(
      "customer", "cu1", "create",
      {{"name", "Ada"}, {"phone", "+49 30 222"}, {"prefers_sms", true}}));
  to_ended("k2", "+4930222");
  auto r
      = command("call", "k2", "analyze", {{"analysis", analysis(at(1, 10))}});
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
  BOOST_TEST(state_of(*r) == "appointment_created");
  auto st = boost::json::parse(r->state).as_object();
  BOOST_TEST(st.at("customer_id").as_string() == "cu1");
  auto appt_id = call_appointment_id("c1", "k2");
  BOOST_TEST(st.at("appointment_id").as_string() == appt_id);
  BOOST_TEST(types("appointment", appt_id)
             == std::vector<std::string>{"appointment.created"});
  auto a = n.node().store().events->read_stream("c1", "appointment", appt_id, 1,
                                                1);
  BOOST_TEST((*a)[0].data.find("\"source\":\"phone\"") != std::string::npos);
  BOOST_TEST((*a)[0].metadata.correlation_id == "k2");
  // No second customer.
  BOOST_TEST(types("customer", phone_customer_id("c1", "+4930222")).empty());
  // The notification jobs follow after SendAppointmentNotification's delay.
  n.advance(6s);
  n.advance(1s);
  auto box = n.node().store().outbox->list(0, 100, "sms");
  BOOST_REQUIRE(box);
  BOOST_TEST(box->size() == 1u);
  // After a restart of the actor the call still reads as booked.
  n.advance(11s);
  auto g = n.call<std::string>(n.node().router(), get_atom::value,
                               std::string{"call"}, std::string{"c1"},
                               std::string{"k2"});
  BOOST_REQUIRE(g);
  BOOST_TEST(g->find("appointment_created") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(taken_slot_fails_and_schedules_a_follow_up) {
  seed();
  BOOST_REQUIRE(command("customer", "cu1", "create", {{"name", "Eve"}}));
  book_appointment b;
  b.ref.company_id = "c1";
  b.ref.appointment_id = "a0";
  b.customer_id = "cu1";
  b.service_id = "s1";
  b.staff_id = "st1";
  b.start_time = *parse_rfc3339(at(1, 10));
  BOOST_REQUIRE(
      n.call<command_result>(n.node().router(), command_atom::value, b));
  to_ended("k3", "+4930333");
  auto r
      = command("call", "k3", "analyze", {{"analysis", analysis(at(1, 10))}});
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
  BOOST_TEST(state_of(*r) == "follow_up_scheduled");
  auto seen = types("call", "k3");
  BOOST_REQUIRE(seen.size() == 8u);
  BOOST_TEST(seen[5] == "appointment.requested");
  BOOST_TEST(seen[6] == "appointment.failed");
  BOOST_TEST(seen[7] == "follow_up.scheduled");
  auto st = boost::json::parse(r->state).as_object();
  BOOST_TEST(st.at("failure_reason").as_string() == "no_availability");
  // The follow-up offers the free times nearest to the one asked for
  // (the staff member has no hours set: any half hour of the day).
  auto stream = n.node().store().events->read_stream("c1", "call", "k3", 8, 1);
  BOOST_REQUIRE(stream);
  BOOST_REQUIRE(stream->size() == 1u);
  auto fu = event_from<follow_up_scheduled>(stream->front());
  BOOST_REQUIRE(fu);
  std::vector<std::string> offered;
  for (auto t : fu->alternative_slots)
    offered.push_back(format_rfc3339(t));
  BOOST_TEST(offered.size() == 3u);
  auto half = [&](int hh, int mm) {
    auto day0 = n.now() - n.now() % day_ms;
    return format_rfc3339(day0 + day_ms + hh * 3600000 + mm * 60000);
  };
  BOOST_TEST((
      offered == std::vector<std::string>{half(9, 0), half(9, 30), half(10, 30)}
      || offered
             == std::vector<std::string>{half(9, 30), half(10, 30),
                                         half(11, 0)}));
  // The follow-up listener queues an SMS due an hour later.
  n.advance(1s);
  BOOST_TEST(jobs_of("notify.sms") == 1u);
  auto box = n.node().store().outbox->list(0, 100, "sms");
  BOOST_REQUIRE(box);
  BOOST_TEST(box->empty());
  n.advance(59min);
  n.advance(1min);
  n.advance(1s);
  box = n.node().store().outbox->list(0, 100, "sms");
  BOOST_REQUIRE(box);
  BOOST_REQUIRE(box->size() == 1u);
  BOOST_TEST((*box)[0].recipient == "+4930333");
  BOOST_TEST((*box)[0].body.find("could not book") != std::string::npos);
  BOOST_TEST((*box)[0].body.find("Free times: " + offered.front())
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(redelivered_commands_change_nothing) {
  BOOST_REQUIRE(command("call", "k4", "start",
                        {{"from_number", "+4930444"}, {"event_id", "e-1"}}));
  auto again = command("call", "k4", "start",
                       {{"from_number", "+4930444"}, {"event_id", "e-1"}});
  BOOST_REQUIRE(again);
  BOOST_TEST(again->sequences.empty());
  BOOST_TEST(types("call", "k4").size() == 1u);
  BOOST_TEST(derived_id("x") == derived_id("x"));
  BOOST_TEST(is_uuid(derived_id("x")));
  BOOST_TEST(derived_id("x") != derived_id("y"));
  // Stored ids are derived again after an upgrade: the value never moves
  // (SHA-256 of the key, version 8, RFC variant).
  BOOST_TEST(derived_id("x") == "2d711642-b726-8044-8162-7ca9fbac32f5");
}

BOOST_AUTO_TEST_SUITE_END()
