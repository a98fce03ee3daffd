#include <boost/test/unit_test.hpp>

#include <actors/listener_registry.hpp>
#include <actors/listeners.hpp>

using namespace switchboard;
namespace ln = listener_names;

BOOST_AUTO_TEST_SUITE(registry_suite)

BOOST_AUTO_TEST_CASE(seed_listeners_are_registered) {
  listener_registry reg;
  register_seed_listeners(reg);
  BOOST_TEST(reg.is_listening<appointment_created>(ln::send_notification));
  BOOST_TEST(reg.is_listening<appointment_created>(ln::update_analytics));
  BOOST_TEST(reg.is_listening<appointment_created>(ln::external_sync));
  BOOST_TEST(reg.is_listening<appointment_created>(ln::audit_logger));
  BOOST_TEST(reg.is_listening<appointment_created>(ln::cache_invalidator));
  BOOST_TEST(reg.is_listening<customer_updated>(ln::external_sync));
  BOOST_TEST(reg.is_listening<call_completed>(ln::update_analytics));
  BOOST_TEST(!reg.is_listening<customer_updated>(ln::send_notification));
  BOOST_TEST(!reg.is_listening<call_started>(ln::audit_logger));
  // The subscriber listens to the three appointment events.
  BOOST_TEST(reg.is_listening<appointment_created>(ln::appointment_subscriber));
  BOOST_TEST(reg.is_listening<appointment_updated>(ln::appointment_subscriber));
  BOOST_TEST(
      reg.is_listening<appointment_cancelled>(ln::appointment_subscriber));
  BOOST_TEST(!reg.is_listening<customer_created>(ln::appointment_subscriber));
}

BOOST_AUTO_TEST_CASE(seed_policies_match_the_seed) {
  listener_registry reg;
  register_seed_listeners(reg);
  const auto* notify = reg.find_queued(ln::send_notification);
  BOOST_REQUIRE(notify);
  BOOST_TEST(notify->queue == "notifications");
  BOOST_TEST(notify->delay_s == 5u);
  const auto* sync = reg.find_queued(ln::external_sync);
  BOOST_REQUIRE(sync);
  BOOST_TEST(sync->retry.tries == 5u);
  BOOST_TEST(sync->retry.backoff_s
                 == (std::vector<std::uint32_t>{10, 30, 60, 120, 300}),
             boost::test_tools::per_element());
  BOOST_TEST(reg.find_queued(ln::update_analytics)->queue == "analytics");
  auto sync_order = reg.sync_for("appointment.created");
  BOOST_REQUIRE(sync_order.size() == 2u);
  BOOST_TEST(sync_order[0].name == ln::audit_logger);
  BOOST_TEST(sync_order[1].name == ln::cache_invalidator);
}

BOOST_AUTO_TEST_CASE(unknown_event_types_are_refused) {
  listener_registry reg;
  BOOST_TEST(!reg.listen_sync("appointment.teleported", {"x", 0, {}}));
  BOOST_TEST(!reg.listen_queued("nope", {}));
  subscriber_spec sub;
  sub.name = "s";
  sub.event_types = {"appointment.created", "nope"};
  BOOST_TEST(!reg.subscribe(sub));
  BOOST_TEST(!reg.is_listening("appointment.created", "s"));
  // Specs the job queue would refuse are refused at registration.
  queued_listener_spec long_name;
  long_name.name = std::string(300, 'x');
  BOOST_TEST(!reg.listen_queued("customer.created", long_name));
  queued_listener_spec many;
  many.name = "many";
  many.retry.backoff_s.assign(65, 1);
  BOOST_TEST(!reg.listen_queued("customer.created", many));
}

BOOST_AUTO_TEST_CASE(sync_listeners_run_in_order) {
  listener_registry reg;
  reg.listen_sync("customer.created", {"late", 50, {}});
  reg.listen_sync("customer.created", {"early", 5, {}});
  reg.listen_sync("customer.created", {"middle", 20, {}});
  auto list = reg.sync_for("customer.created");
  BOOST_REQUIRE(list.size() == 3u);
  BOOST_TEST(list[0].name == "early");
  BOOST_TEST(list[1].name == "middle");
  BOOST_TEST(list[2].name == "late");
}

BOOST_AUTO_TEST_SUITE_END()
