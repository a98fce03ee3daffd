// The event fake, used as a user of the runtime would.

#include <boost/test/unit_test.hpp>

#include <caf/scoped_actor.hpp>

#include <actors/listeners.hpp>
#include <actors/testing.hpp>

#include "tests/actors/helpers.hpp"

using namespace switchboard;

BOOST_AUTO_TEST_SUITE(testkit_suite)

BOOST_AUTO_TEST_CASE(event_fake_records_without_running_listeners) {
  runtime_config cfg{1};
  caf::actor_system sys{cfg};
  testing::event_fake fake{sys};
  auto a = test::sample_appointment("a1", 1893456000000);
  dispatch_request req;
  req.events.push_back(
      make_envelope(appointment_created{a, "api", {{"user_id", "1"}}}, "a1", 0,
                    "c1", 1893456000000, {}));
  caf::scoped_actor self{sys};
  self->request(fake.handle(), std::chrono::seconds(5), dispatch_atom::value,
                req)
      .receive(
          [](const dispatch_result& r) {
            BOOST_TEST(r.sequences.size() == 1u);
          },
          [](caf::error& e) {
            BOOST_FAIL(describe(e));
          });
  // The seed's test: assertDispatched with a predicate, and assertListening.
  BOOST_TEST(fake.assert_dispatched<appointment_created>(
      [](const appointment_created& e) {
        return e.appointment.id == "a1";
      }));
  BOOST_TEST(!fake.assert_dispatched<appointment_created>(
      [](const appointment_created& e) {
        return e.appointment.id == "a2";
      }));
  BOOST_TEST(fake.assert_dispatched_times<appointment_created>(1));
  BOOST_TEST(!fake.assert_dispatched_times<appointment_created>(2));
  BOOST_TEST(fake.assert_not_dispatched<appointment_cancelled>());
  BOOST_TEST(!fake.assert_not_dispatched<appointment_created>());
  BOOST_TEST(fake.assert_listening<appointment_created>(
      listener_names::send_notification));
  BOOST_TEST(!fake.assert_listening<customer_created>(
      listener_names::send_notification));
  auto events = fake.dispatched_of<appointment_created>();
  BOOST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0].source == "api");
  BOOST_TEST(events[0].metadata.count("user_id") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
