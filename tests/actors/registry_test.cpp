#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <ostream>
#include <stdexcept>
#include <string_view>

#include <actors/listener_registry.hpp>
#include <actors/listeners.hpp>
#include <actors/testing.hpp>

#include "helpers.hpp"

using namespace switchboard;

namespace switchboard {

/// Prints refusal codes in failed checks.
std::ostream& boost_test_print_type(std::ostream& os, registration_errc c) {
  return os << to_string(c);
}

} // namespace switchboard
namespace ln = listener_names;

/// Checks that each of `listeners` listens to `E` (or, with `listening`
/// false, that none does).
template <class E>
void check_listeners(const listener_registry& reg,
                     std::initializer_list<std::string_view> listeners,
                     bool listening = true) {
  for (auto name : listeners)
    BOOST_TEST(reg.is_listening<E>(name) == listening,
               event_traits<E>::wire_name << " / " << name);
}

BOOST_AUTO_TEST_SUITE(registry_suite)

BOOST_AUTO_TEST_CASE(seed_listeners_are_registered) {
  listener_registry reg;
  BOOST_REQUIRE(register_seed_listeners(reg));
  check_listeners<appointment_created>(
      reg, {ln::send_notification, ln::update_analytics, ln::external_sync,
            ln::audit_logger, ln::cache_invalidator});
  check_listeners<customer_updated>(reg, {ln::external_sync});
  check_listeners<call_completed>(reg, {ln::update_analytics});
  check_listeners<appointment_completed>(
      reg, {ln::update_analytics, ln::send_thank_you_note, ln::audit_logger});
  // The cache invalidator hears every type that flushes a tag.
  check_listeners<appointment_completed>(reg, {ln::cache_invalidator});
  check_listeners<service_updated>(reg, {ln::cache_invalidator});
  check_listeners<call_completed>(reg, {ln::cache_invalidator}, false);
  check_listeners<customer_updated>(reg, {ln::send_notification}, false);
  check_listeners<call_started>(reg, {ln::audit_logger}, false);
  // The subscriber listens to the three appointment events.
  check_listeners<appointment_created>(reg, {ln::appointment_subscriber});
  check_listeners<appointment_updated>(reg, {ln::appointment_subscriber});
  check_listeners<appointment_cancelled>(reg, {ln::appointment_subscriber});
  check_listeners<customer_created>(reg, {ln::appointment_subscriber}, false);
}

BOOST_AUTO_TEST_CASE(seed_policies_match_the_seed) {
  listener_registry reg;
  BOOST_REQUIRE(register_seed_listeners(reg));
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

/// The code of a refused registration (`none` when it was taken).
registration_errc code_of(const registration_result& r) {
  return r ? registration_errc::none : r.error().code;
}

BOOST_AUTO_TEST_CASE(unknown_event_types_are_refused) {
  listener_registry reg;
  auto sync = reg.listen_sync("appointment.teleported", {"x", 0, {}});
  BOOST_REQUIRE(!sync);
  BOOST_TEST(sync.error().code == registration_errc::unknown_event_type);
  BOOST_TEST(sync.error().listener == "x");
  BOOST_TEST(sync.error().event_type == "appointment.teleported");
  BOOST_TEST(to_string(sync.error()).find("appointment.teleported")
             != std::string::npos);
  queued_listener_spec nope;
  nope.name = "typo";
  auto queued = reg.listen_queued("customer.craeted", nope);
  BOOST_REQUIRE(!queued);
  BOOST_TEST(queued.error().code == registration_errc::unknown_event_type);
  BOOST_TEST(to_string(queued.error())
             == "listener typo for customer.craeted refused "
                "(unknown_event_type): no event type is named "
                "'customer.craeted'");
  subscriber_spec sub;
  sub.name = "s";
  sub.event_types = {"appointment.created", "nope"};
  BOOST_TEST(code_of(reg.subscribe(sub))
             == registration_errc::unknown_event_type);
  // A refused subscriber registers none of its handlers.
  BOOST_TEST(!reg.is_listening("appointment.created", "s"));
  BOOST_TEST(reg.queued_listener_names().empty());
  BOOST_TEST(reg.sync_listener_names().empty());
}

BOOST_AUTO_TEST_CASE(specs_the_job_queue_would_refuse_are_refused) {
  listener_registry reg;
  queued_listener_spec long_name;
  long_name.name = std::string(300, 'x');
  BOOST_TEST(code_of(reg.listen_queued<customer_created>(long_name))
             == registration_errc::invalid_name);
  BOOST_TEST(code_of(reg.listen_sync<customer_created>({"", 0, {}}))
             == registration_errc::invalid_name);
  queued_listener_spec many;
  many.name = "many";
  many.retry.backoff_s.assign(65, 1);
  BOOST_TEST(code_of(reg.listen_queued<customer_created>(many))
             == registration_errc::invalid_policy);
  queued_listener_spec no_queue;
  no_queue.name = "no_queue";
  no_queue.queue.clear();
  BOOST_TEST(code_of(reg.listen_queued<customer_created>(no_queue))
             == registration_errc::unknown_queue);
  BOOST_TEST(reg.queued_listener_names().empty());
}

BOOST_AUTO_TEST_CASE(duplicate_listener_names_are_refused) {
  listener_registry reg;
  BOOST_REQUIRE(reg.listen_sync<customer_created>({"audit2", 1, {}}));
  auto twice = reg.listen_sync<customer_created>({"audit2", 5, {}});
  BOOST_REQUIRE(!twice);
  BOOST_TEST(twice.error().code == registration_errc::duplicate_listener);
  BOOST_TEST(twice.error().listener == "audit2");
  BOOST_TEST(reg.sync_for("customer.created").size() == 1u);
  queued_listener_spec spec;
  spec.name = "mailer";
  spec.queue = "notifications";
  BOOST_REQUIRE(reg.listen_queued<customer_created>(spec));
  BOOST_TEST(code_of(reg.listen_queued<customer_created>(spec))
             == registration_errc::duplicate_listener);
  // The same listener on a second event type is fine on its own queue...
  BOOST_TEST(code_of(reg.listen_queued<customer_updated>(spec))
             == registration_errc::none);
  // ...and refused on another one: its jobs would go where no actor runs.
  spec.queue = "default";
  auto moved = reg.listen_queued<staff_updated>(spec);
  BOOST_REQUIRE(!moved);
  BOOST_TEST(moved.error().code == registration_errc::duplicate_listener);
  BOOST_TEST(moved.error().reason.find("notifications") != std::string::npos);
  BOOST_TEST(!reg.is_listening<staff_updated>("mailer"));
  // The seed cannot be registered twice either.
  BOOST_REQUIRE(register_seed_listeners(reg));
  BOOST_TEST(code_of(register_seed_listeners(reg))
             == registration_errc::duplicate_listener);
}

BOOST_AUTO_TEST_CASE(typed_registrations_use_the_wire_names) {
  listener_registry reg;
  BOOST_REQUIRE((reg.listen_sync_each<customer_created, customer_updated>(
      {"both", 1, {}})));
  BOOST_TEST(reg.is_listening("customer.created", "both"));
  BOOST_TEST(reg.is_listening("customer.updated", "both"));
  subscriber_spec sub;
  sub.name = "sub";
  BOOST_REQUIRE((reg.subscribe<appointment_created, appointment_cancelled>(
      std::move(sub))));
  BOOST_TEST(reg.is_listening<appointment_created>("sub"));
  BOOST_TEST(reg.is_listening<appointment_cancelled>("sub"));
  BOOST_TEST(!reg.is_listening<appointment_updated>("sub"));
  BOOST_TEST(reg.find_queued("sub@appointment.cancelled") != nullptr);
}

/// The message of the node's refusal to start with `configure`, or "" when
/// it started.
std::string
start_refusal(std::function<registration_result(listener_registry&)> configure,
              std::vector<std::pair<listener_binding, std::string>> extra
              = {}) {
  try {
    testing::deterministic_node n{[&](node_options& o) {
      o.configure = configure;
      o.extra_listeners = extra;
    }};
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

/// A listener actor serving `name` that takes every job.
listener_binding accepting(std::string name) {
  return test::scripted_listener(
      std::move(name), std::make_shared<test::script_log>(),
      [] {
        return timestamp_ms{0};
      },
      test::always_succeed);
}

BOOST_AUTO_TEST_CASE(the_node_refuses_to_start_on_a_refused_registration) {
  auto typo = start_refusal([](listener_registry& reg) {
    queued_listener_spec spec;
    spec.name = "crm_push";
    return reg.listen_queued("customer.craeted", spec);
  });
  BOOST_TEST(typo.find("listener crm_push for customer.craeted refused "
                       "(unknown_event_type)")
             != std::string::npos);
  // A second listener under a seed listener's name.
  auto dup = start_refusal([](listener_registry& reg) {
    queued_listener_spec spec;
    spec.name = listener_names::send_notification;
    spec.queue = "notifications";
    return reg.listen_queued<appointment_created>(spec);
  });
  BOOST_TEST(dup.find("(duplicate_listener)") != std::string::npos);
  BOOST_TEST(dup.find(listener_names::send_notification) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_node_refuses_listeners_no_actor_serves) {
  queued_listener_spec spec;
  spec.name = "crm_push";
  spec.queue = "crm";
  auto configure = [spec](listener_registry& reg) {
    return reg.listen_queued<customer_created>(spec);
  };
  // No actor for crm_push: its jobs would wait forever.
  auto unserved = start_refusal(configure);
  BOOST_TEST(unserved.find("listener crm_push for customer.created refused "
                           "(unknown_listener)")
             != std::string::npos);
  // Its actor runs on another queue than the one its jobs go to.
  auto elsewhere
      = start_refusal(configure, {{accepting("crm_push"), "default"}});
  BOOST_TEST(elsewhere.find("(unknown_queue)") != std::string::npos);
  BOOST_TEST(elsewhere.find("'crm'") != std::string::npos);
  // A sync listener with no actor behind the name.
  auto sync = start_refusal([](listener_registry& reg) {
    return reg.listen_sync<customer_created>({"crm_hook", 30, {}});
  });
  BOOST_TEST(sync.find("listener crm_hook for customer.created refused "
                       "(unknown_listener)")
             != std::string::npos);
  // Served on its own queue, the same listener starts.
  BOOST_TEST(start_refusal(configure, {{accepting("crm_push"), "crm"}}) == "");
}

BOOST_AUTO_TEST_CASE(sync_listeners_run_in_order) {
  listener_registry reg;
  BOOST_REQUIRE(reg.listen_sync<customer_created>({"late", 50, {}}));
  BOOST_REQUIRE(reg.listen_sync<customer_created>({"early", 5, {}}));
  BOOST_REQUIRE(reg.listen_sync<customer_created>({"middle", 20, {}}));
  auto list = reg.sync_for("customer.created");
  BOOST_REQUIRE(list.size() == 3u);
  BOOST_TEST(list[0].name == "early");
  BOOST_TEST(list[1].name == "middle");
  BOOST_TEST(list[2].name == "late");
}

BOOST_AUTO_TEST_SUITE_END()
