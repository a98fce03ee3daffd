#include <boost/test/unit_test.hpp>

#include <boost/json/serialize.hpp>

#include <actors/aggregate_state.hpp>
#include <actors/calendar.hpp>
#include <actors/deciders.hpp>
#include <actors/errors.hpp>
#include <messages/json.hpp>
#include <messages/registry.hpp>

// The deciders and the state folding are plain functions: these tests run
// them without an actor system or a store.

using namespace switchboard;

namespace {

constexpr timestamp_ms now = 1893456000000; // 2030-01-01T00:00:00Z

aggregate_command command(std::string type, std::string name,
                          std::string payload) {
  aggregate_command cmd;
  cmd.aggregate_type = std::move(type);
  cmd.aggregate_id = "x1";
  cmd.company_id = "c1";
  cmd.name = std::move(name);
  cmd.payload = std::move(payload);
  cmd.metadata.user_id = "u1";
  return cmd;
}

aggregate_state empty_state(std::string type) {
  aggregate_state st;
  st.type = std::move(type);
  st.id = "x1";
  st.company_id = "c1";
  return st;
}

/// The state after folding the events of `d` into `st`, as the store
/// would number them.
aggregate_state fold(aggregate_state st, const decision& d) {
  for (auto ev : d.events) {
    ev.version = st.version + 1;
    apply_event(st, ev);
  }
  return st;
}

} // namespace

BOOST_AUTO_TEST_SUITE(deciders_suite)

BOOST_AUTO_TEST_CASE(a_customer_is_created_updated_and_folded_back) {
  decide_context ctx{now, nullptr};
  auto st = empty_state("customer");
  auto created = decide_customer(
      st, command("customer", "create", R"({"name":"Ann","phone":"+1 555"})"),
      ctx);
  BOOST_REQUIRE(created);
  BOOST_REQUIRE(created->events.size() == 1u);
  const auto& ev = created->events.front();
  BOOST_TEST(ev.type == event_traits<customer_created>::wire_name);
  BOOST_TEST(ev.aggregate_id == "x1");
  BOOST_TEST(ev.company_id == "c1");
  BOOST_TEST(ev.occurred_at == now);
  BOOST_TEST(created->after.cust.name == "Ann");
  auto stored = fold(st, *created);
  BOOST_TEST(stored.exists);
  BOOST_TEST(stored.version == 1u);
  BOOST_TEST(stored.cust.phone == "+1 555");
  // The same create again: the id is taken.
  auto again = decide_customer(
      stored, command("customer", "create", R"({"name":"Ann"})"), ctx);
  BOOST_REQUIRE(!again);
  BOOST_TEST((runtime_code(again.error()) == runtime_errc::conflict));
  // An update that changes nothing decides no event; one that does
  // records the change.
  auto same = decide_customer(
      stored, command("customer", "update", R"({"name":"Ann"})"), ctx);
  BOOST_REQUIRE(same);
  BOOST_TEST(same->events.empty());
  auto renamed = decide_customer(
      stored, command("customer", "update", R"({"name":"Bea"})"), ctx);
  BOOST_REQUIRE(renamed);
  BOOST_REQUIRE(renamed->events.size() == 1u);
  auto e = event_from<customer_updated>(renamed->events.front());
  BOOST_REQUIRE(e);
  BOOST_TEST(e->changes.at("name").old_value == "\"Ann\"");
  BOOST_TEST(e->changes.at("name").new_value == "\"Bea\"");
  BOOST_TEST(fold(stored, *renamed).cust.name == "Bea");
}

BOOST_AUTO_TEST_CASE(bad_commands_name_the_field) {
  decide_context ctx{now, nullptr};
  auto email = decide_customer(
      empty_state("customer"),
      command("customer", "create", R"({"name":"Ann","email":"nope"})"), ctx);
  BOOST_REQUIRE(!email);
  BOOST_TEST((runtime_code(email.error()) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(email.error()).find("email") != std::string::npos);
  auto missing = decide_customer(empty_state("customer"),
                                 command("customer", "update", "{}"), ctx);
  BOOST_REQUIRE(!missing);
  BOOST_TEST((runtime_code(missing.error()) == runtime_errc::not_found));
  auto duration = decide_service(
      empty_state("service"),
      command("service", "create",
              R"({"name":"Cut","price_cents":100,"duration_minutes":3})"),
      ctx);
  BOOST_REQUIRE(!duration);
  BOOST_TEST(describe(duration.error()).find("duration_minutes")
             != std::string::npos);
  auto staff_created
      = decide_staff(empty_state("staff"),
                     command("staff", "create", R"({"name":"Sam"})"), ctx);
  BOOST_REQUIRE(staff_created);
  auto staff = fold(empty_state("staff"), *staff_created);
  auto hours
      = decide_staff(staff, command("staff", "set_working_hours", "{}"), ctx);
  BOOST_REQUIRE(!hours);
  BOOST_TEST(describe(hours.error()).find("working_hours: is required")
             != std::string::npos);
  auto unknown = decide_staff(staff, command("staff", "promote", "{}"), ctx);
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(describe(unknown.error()).find("promote") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_entity_type_has_its_decider) {
  BOOST_TEST(decider_for("customer") == &decide_customer);
  BOOST_TEST(decider_for("staff") == &decide_staff);
  BOOST_TEST(decider_for("service") == &decide_service);
  // Appointments are decided by their staff member's calendar, calls by
  // the call workflow.
  BOOST_TEST(decider_for("appointment") == nullptr);
  BOOST_TEST(decider_for("call") == nullptr);
}

BOOST_AUTO_TEST_CASE(a_calendar_interval_book_finds_overlaps) {
  interval_book book;
  constexpr timestamp_ms hour = 3600000;
  book.set("a", {now + 9 * hour, now + 10 * hour});
  // A booking across midnight is found from the next day too.
  book.set("b", {now + 23 * hour, now + 25 * hour});
  BOOST_TEST(book.overlaps(now + 9 * hour + 1, now + 9 * hour + 2, ""));
  BOOST_TEST(!book.overlaps(now + 10 * hour, now + 11 * hour, ""));
  BOOST_TEST(!book.overlaps(now + 9 * hour, now + 10 * hour, "a"));
  BOOST_TEST(book.overlaps(now + 24 * hour, now + 24 * hour + 1, ""));
  book.set("a", {now + 11 * hour, now + 12 * hour}); // moved
  BOOST_TEST(!book.overlaps(now + 9 * hour, now + 10 * hour, ""));
  BOOST_REQUIRE(book.find("a"));
  BOOST_TEST(book.find("a")->first == now + 11 * hour);
  book.erase("b");
  BOOST_TEST(!book.find("b"));
  BOOST_TEST(!book.overlaps(now + 24 * hour, now + 24 * hour + 1, ""));
}

// One reading of customer events serves every fold of customers (the
// aggregate's state, a listener's lookup, the call and webhook matches).
BOOST_AUTO_TEST_CASE(customer_events_say_what_the_customer_is_now) {
  customer ada;
  ada.id = "cu1";
  ada.company_id = "c1";
  ada.name = "Ada";
  auto created = customer_change_of(make_envelope(
      customer_created{ada, customer_source::phone}, "cu1", 1, "c1", now, {}));
  BOOST_REQUIRE(created.has_value());
  BOOST_TEST(created->now.name == "Ada");
  BOOST_TEST(created->merged_away.empty());
  ada.name = "Ada L.";
  auto updated = customer_change_of(
      make_envelope(customer_updated{ada, {}}, "cu1", 2, "c1", now, {}));
  BOOST_REQUIRE(updated.has_value());
  BOOST_TEST(updated->now.name == "Ada L.");
  customer dup = ada;
  dup.id = "cu2";
  auto merged = customer_change_of(
      make_envelope(customer_merged{ada, dup, {}}, "cu1", 3, "c1", now, {}));
  BOOST_REQUIRE(merged.has_value());
  BOOST_TEST(merged->now.id == "cu1");
  BOOST_TEST(merged->merged_away == "cu2");
  // The merged-away customer's own stream keeps a tombstone.
  auto st = empty_state("customer");
  st.id = "cu2";
  apply_event(st, make_envelope(customer_merged{ada, dup, {}}, "cu2", 2, "c1",
                                now, {}));
  BOOST_TEST(st.merged_into == "cu1");
  staff bo;
  bo.id = "st1";
  BOOST_TEST(!customer_change_of(
                  make_envelope(staff_updated{bo, {}}, "st1", 1, "c1", now, {}))
                  .has_value());
}

BOOST_AUTO_TEST_CASE(a_states_text_is_its_json) {
  // render_state writes the text itself; it must be state_json's.
  for (std::string type :
       {"customer", "staff", "service", "appointment", "branch"}) {
    auto st = empty_state(type);
    st.version = 7;
    BOOST_TEST(render_state(st) == boost::json::serialize(state_json(st)));
    st.cust.name = "Ada \"the\" \\ Lovelace\n";
    st.stf.name = st.cust.name;
    st.svc.name = st.cust.name;
    st.appt.notes = st.cust.name;
    st.merged_into = "cu\"2";
    BOOST_TEST(render_state(st) == boost::json::serialize(state_json(st)));
  }
}

BOOST_AUTO_TEST_SUITE_END()
