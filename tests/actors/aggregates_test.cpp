// Aggregates behind the router: customers, staff, services and the staff
// calendar that makes double booking impossible.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <actors/branches.hpp>
#include <actors/calendar_commands.hpp>
#include <actors/errors.hpp>
#include <actors/testing.hpp>
#include <store/event_store.hpp>
#include <store/tenants.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/actors/router_fixture.hpp"
#include "tests/support/times.hpp"

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

struct company_fixture : test::router_fixture {
  using router_fixture::router_fixture;

  /// Sends what `decode` made of a payload, or answers its problem.
  template <class Command>
  expected<command_result, caf::error>
  send_decoded(expected<Command, caf::error> cmd) {
    if (!cmd)
      return make_unexpected(cmd.error());
    return route(std::move(*cmd));
  }

  /// Command `name` with `payload`: an appointment's decoded as the
  /// gateway decodes it (actors/calendar_commands.hpp), the others as an
  /// aggregate_command.
  expected<command_result, caf::error> command(std::string type, std::string id,
                                               std::string name,
                                               boost::json::object payload,
                                               std::string company = "c1") {
    if (type == "appointment") {
      appointment_ref ref;
      ref.company_id = std::move(company);
      ref.appointment_id = std::move(id);
      ref.metadata.user_id = "u1";
      boost::json::value body = std::move(payload);
      if (name == "book")
        return send_decoded(
            decode_command<book_appointment>(body, std::move(ref)));
      if (name == "reschedule")
        return send_decoded(
            decode_command<reschedule_appointment>(body, std::move(ref)));
      if (name == "reassign")
        return send_decoded(
            decode_command<reassign_appointment>(body, std::move(ref)));
      BOOST_REQUIRE(name == "cancel");
      return send_decoded(
          decode_command<cancel_appointment>(body, std::move(ref)));
    }
    auto cmd
        = test::named_command(std::move(type), std::move(id),
                              std::move(company), std::move(name), payload);
    cmd.metadata.user_id = "u1";
    return route(std::move(cmd));
  }

  /// A customer, a 30-minute service and a staff member working 08:00 to
  /// 18:00 every day.
  void seed() {
    BOOST_REQUIRE(command("customer", "cu1", "create",
                          {{"name", "Ada"},
                           {"phone", "+4930123"},
                           {"prefers_sms", true},
                           {"source", "phone"}}));
    BOOST_REQUIRE(command(
        "service", "s1", "create",
        {{"name", "Cut"}, {"price_cents", 4500}, {"duration_minutes", 30}}));
    auto hours = test::every_day(8 * 60, 18 * 60);
    auto r = command(
        "staff", "st1", "create",
        {{"name", "Bo"}, {"branch_id", "b1"}, {"working_hours", hours}});
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    BOOST_REQUIRE(command(
        "staff", "st2", "create",
        {{"name", "Cy"}, {"branch_id", "b1"}, {"working_hours", hours}}));
  }

  /// Day `d` after the start at `hh`:00 UTC, RFC 3339.
  std::string at(int d, int hh) {
    auto day0 = n.now() - n.now() % day_ms;
    return format_rfc3339(day0 + d * day_ms + hh * 3600000);
  }

  expected<command_result, caf::error> book(std::string id, std::string start,
                                            std::string staff = "st1",
                                            std::string service = "s1",
                                            std::string customer = "cu1") {
    return command("appointment", std::move(id), "book",
                   {{"customer_id", customer},
                    {"service_id", service},
                    {"staff_id", staff},
                    {"start_time", start}});
  }
};

/// The clock at 2026-10-01, before 2026's autumn transitions: company c1
/// in Europe/Berlin with branch "ny" in America/New_York; st1 and st2 (at
/// branch b1, which is not one: the company's zone) and st3 (at ny) work
/// 08:00 to 18:00 every day.
struct branch_zone_fixture : company_fixture {
  branch_zone_fixture() : company_fixture(1790812800000) {
    auto& tenants = *n.node().store().tenants;
    BOOST_REQUIRE(tenants.add_company({"c1", "C1", n.now(), "Europe/Berlin"}));
    branch_record ny;
    ny.b.name = "New York";
    ny.time_zone = "America/New_York";
    BOOST_REQUIRE(
        tenants.set_setting("c1", branch_setting("ny"), to_branch_json(ny)));
    seed();
    auto hours = test::every_day(8 * 60, 18 * 60);
    BOOST_REQUIRE(command(
        "staff", "st3", "create",
        {{"name", "Ny"}, {"branch_id", "ny"}, {"working_hours", hours}}));
  }

  /// Checks that `staff` has 20 free slots on `date`, from 08:00 to 17:30
  /// at UTC offset `offset` (a 30-minute service in hours of 08:00 to
  /// 18:00).
  void check_day(const std::string& staff, const std::string& date,
                 const std::string& offset) {
    auto s = slots(staff, date);
    BOOST_REQUIRE(s.size() == 20u);
    BOOST_TEST(s.front() == date + "T08:00:00" + offset);
    BOOST_TEST(s.back() == date + "T17:30:00" + offset);
  }

  /// The free slots of `staff` on `date`.
  std::vector<std::string> slots(const std::string& staff,
                                 const std::string& date) {
    auto r = n.call<std::string>(n.node().router(), availability_atom::value,
                                 std::string{"c1"}, staff, std::string{"s1"},
                                 date);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    std::vector<std::string> out;
    auto body = boost::json::parse(*r);
    for (const auto& s : body.at("slots").as_array())
      out.emplace_back(s.as_string());
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(branch_zones_suite)

// Both autumn transitions of 2026: the European one (2026-10-25) moves the
// company's staff, the American one (2026-11-01) the branch's.
BOOST_FIXTURE_TEST_CASE(branch_zones_across_the_2026_transitions,
                        branch_zone_fixture) {
  struct day {
    const char* date;
    const char* new_york;
    const char* berlin;
  };
  for (auto d : {day{"2026-10-24", "-04:00", "+02:00"},
                 day{"2026-10-25", "-04:00", "+01:00"},
                 day{"2026-10-31", "-04:00", "+01:00"},
                 day{"2026-11-01", "-05:00", "+01:00"},
                 day{"2026-11-02", "-05:00", "+01:00"}}) {
    BOOST_TEST_CONTEXT(d.date) {
      check_day("st3", d.date, d.new_york);
      check_day("st1", d.date, d.berlin);
    }
  }
  // Bookings are checked in the branch's zone: 07:30 is before its hours
  // on either side of the change, 08:00 is within them.
  int n_booked = 0;
  for (auto [early, start] :
       {std::pair{"2026-10-26T11:30:00Z", "2026-10-26T12:00:00Z"},
        std::pair{"2026-11-02T12:30:00Z", "2026-11-02T13:00:00Z"}}) {
    auto id = std::to_string(++n_booked);
    auto refused = book("early" + id, early, "st3");
    BOOST_REQUIRE(!refused);
    BOOST_TEST(describe(refused.error()).find("start_time")
               != std::string::npos);
    auto booked = book("a" + id, start, "st3");
    BOOST_TEST_INFO(start);
    BOOST_REQUIRE_MESSAGE(booked, (booked ? "" : describe(booked.error())));
    BOOST_TEST(booked->state.find(R"("branch_id":"ny")") != std::string::npos);
  }
  // The same instants are within the hours of the company's staff.
  BOOST_CHECK(book("be", "2026-10-26T11:30:00Z", "st1"));
}

// A catch-up reader's batch reads each zone once: within a memo scope a
// change is not seen, once the scope ends it is.
BOOST_FIXTURE_TEST_CASE(a_zone_memo_answers_until_its_scope_ends,
                        branch_zone_fixture) {
  auto* tenants = n.node().store().tenants.get();
  auto zone = [&](const char* branch) {
    return zone_at(tenants, "c1", branch).name();
  };
  BOOST_TEST(zone("b1") == "Europe/Berlin");
  {
    zone_memo_scope memo;
    BOOST_TEST(zone("b1") == "Europe/Berlin");
    BOOST_TEST(zone("ny") == "America/New_York");
    BOOST_REQUIRE(tenants->set_time_zone("c1", "Asia/Tokyo"));
    BOOST_TEST(zone("b1") == "Europe/Berlin");
    {
      zone_memo_scope inner; // nested: the outer memory still answers
      BOOST_TEST(zone("b1") == "Europe/Berlin");
    }
    BOOST_TEST(zone("b1") == "Europe/Berlin");
    // A branch not asked for yet is read now.
    BOOST_TEST(zone("elsewhere") == "Asia/Tokyo");
  }
  BOOST_TEST(zone("b1") == "Asia/Tokyo");
  BOOST_TEST(zone("ny") == "America/New_York");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(aggregates_suite, company_fixture)

BOOST_AUTO_TEST_CASE(customer_lifecycle) {
  auto created = command(
      "customer", "", "create",
      {{"name", "Ada"}, {"email", "ada@example.com"}, {"source", "web"}});
  BOOST_REQUIRE(created);
  BOOST_TEST(created->created);
  BOOST_TEST(created->version == 1u);
  BOOST_TEST(!created->aggregate_id.empty());
  auto id = created->aggregate_id;
  auto updated = command("customer", id, "update", {{"phone", "+4930999"}});
  BOOST_REQUIRE(updated);
  BOOST_TEST(updated->version == 2u);
  BOOST_TEST(updated->state.find("+4930999") != std::string::npos);
  // No change, no event.
  auto same = command("customer", id, "update", {{"phone", "+4930999"}});
  BOOST_REQUIRE(same);
  BOOST_TEST(same->version == 2u);
  BOOST_TEST(same->sequences.empty());
  auto stream
      = n.node().store().events->read_stream("c1", "customer", id, 1, 10);
  BOOST_REQUIRE(stream);
  BOOST_TEST(stream->size() == 2u);
  BOOST_TEST((*stream)[1].type == "customer.updated");
  BOOST_TEST((*stream)[1].data.find("\"phone\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_fields_are_named) {
  auto r = command(
      "customer", "cu9", "create",
      {{"email", "not-an-email"}, {"source", "fax"}, {"prefers_sms", "yes"}});
  BOOST_REQUIRE(!r);
  BOOST_TEST((runtime_code(r.error()) == runtime_errc::invalid_argument));
  auto text = describe(r.error());
  for (const char* field : {"name", "email", "source", "prefers_sms"})
    BOOST_TEST(text.find(field) != std::string::npos, field);
  BOOST_TEST(*n.node().store().events->last_sequence() == 0u);
}

BOOST_AUTO_TEST_CASE(merge_takes_missing_fields) {
  BOOST_REQUIRE(command("customer", "p", "create", {{"name", "Ada"}}));
  BOOST_REQUIRE(command("customer", "m", "create",
                        {{"name", "Ada L."}, {"email", "ada@x.org"}}));
  auto r = command("customer", "p", "merge", {{"merged_id", "m"}});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->state.find("ada@x.org") != std::string::npos);
  auto self_merge = command("customer", "p", "merge", {{"merged_id", "p"}});
  BOOST_REQUIRE(!self_merge);
  BOOST_TEST(describe(self_merge.error()).find("merged_id")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stale_versions_conflict) {
  BOOST_REQUIRE(command("customer", "cu1", "create", {{"name", "Ada"}}));
  aggregate_command cmd;
  cmd.aggregate_type = "customer";
  cmd.aggregate_id = "cu1";
  cmd.company_id = "c1";
  cmd.name = "update";
  cmd.payload = R"({"name":"Eve"})";
  cmd.check_version = true;
  cmd.expected_version = 7;
  auto r = n.call<command_result>(n.node().router(), command_atom::value, cmd);
  BOOST_REQUIRE(!r);
  BOOST_TEST((runtime_code(r.error()) == runtime_errc::version_conflict));
  BOOST_TEST(describe(r.error()).find("version 1") != std::string::npos);
  cmd.expected_version = 1;
  BOOST_REQUIRE(
      n.call<command_result>(n.node().router(), command_atom::value, cmd));
}

BOOST_AUTO_TEST_CASE(other_companies_see_nothing) {
  BOOST_REQUIRE(command("customer", "cu1", "create", {{"name", "Ada"}}));
  auto r = command("customer", "cu1", "update", {{"name", "Eve"}}, "c2");
  BOOST_REQUIRE(!r);
  BOOST_TEST((runtime_code(r.error()) == runtime_errc::not_found));
  auto get = n.call<std::string>(n.node().router(), get_atom::value,
                                 std::string{"customer"}, std::string{"c2"},
                                 std::string{"cu1"});
  BOOST_REQUIRE(!get);
  BOOST_TEST((runtime_code(get.error()) == runtime_errc::not_found));
}

BOOST_AUTO_TEST_CASE(booking_takes_the_slot_once) {
  seed();
  auto first = book("a1", at(1, 10));
  BOOST_REQUIRE_MESSAGE(first, (first ? "" : describe(first.error())));
  BOOST_TEST(first->created);
  BOOST_TEST(first->state.find("4500") != std::string::npos);
  auto overlap = book("a2", at(1, 10));
  BOOST_REQUIRE(!overlap);
  BOOST_TEST((runtime_code(overlap.error()) == runtime_errc::conflict));
  // Another staff member is free then.
  BOOST_REQUIRE(book("a3", at(1, 10), "st2"));
  // Back to back is fine; a start inside a booking is not.
  auto day0 = n.now() - n.now() % day_ms;
  BOOST_REQUIRE(
      book("a8", format_rfc3339(day0 + day_ms + 10 * 3600000 + 30 * 60000)));
  BOOST_REQUIRE(
      book("a9", format_rfc3339(day0 + day_ms + 9 * 3600000 + 30 * 60000)));
  BOOST_REQUIRE(
      !book("a10", format_rfc3339(day0 + day_ms + 10 * 3600000 + 15 * 60000)));
  // Outside working hours and in the past are refused, naming the field.
  auto late = book("a4", at(1, 20));
  BOOST_REQUIRE(!late);
  BOOST_TEST(describe(late.error()).find("start_time") != std::string::npos);
  auto unknown = book("a5", at(1, 12), "st1", "s1", "nobody");
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(describe(unknown.error()).find("customer_id")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_booking_across_midnight_holds_its_slot_on_both_days) {
  seed();
  // No working hours: any time. A 24-hour service from noon to noon.
  BOOST_REQUIRE(command("staff", "st3", "create", {{"name", "Di"}}));
  BOOST_REQUIRE(command("service", "day", "create",
                        {{"name", "Retreat"},
                         {"price_cents", 90000},
                         {"duration_minutes", 24 * 60}}));
  auto long_one = book("l1", at(1, 12), "st3", "day");
  BOOST_REQUIRE_MESSAGE(long_one, (long_one ? "" : describe(long_one.error())));
  auto day0 = n.now() - n.now() % day_ms;
  auto at_minute = [&](int d, int minutes) {
    return format_rfc3339(day0 + d * day_ms + minutes * 60000);
  };
  // Inside it on the next day, across its start, and across its end.
  for (auto start :
       {at(2, 3), at_minute(1, 11 * 60 + 45), at_minute(2, 11 * 60 + 45)}) {
    auto r = book("x" + start, start, "st3");
    BOOST_REQUIRE_MESSAGE(!r, start);
    BOOST_TEST((runtime_code(r.error()) == runtime_errc::conflict), start);
  }
  // Back to back on either side is free.
  BOOST_REQUIRE(book("b1", at_minute(1, 11 * 60 + 30), "st3"));
  BOOST_REQUIRE(book("b2", at(2, 12), "st3"));
  // Cancelled, the day is free again.
  BOOST_REQUIRE(command("appointment", "l1", "cancel", {}));
  BOOST_REQUIRE(book("b3", at(2, 3), "st3"));
}

BOOST_AUTO_TEST_CASE(the_calendar_sees_later_changes_to_what_it_read) {
  // The calendar reuses the staff, service and customer it has read while
  // their streams stay at that version: every change must reach it.
  seed();
  auto first = book("a1", at(1, 10));
  BOOST_REQUIRE(first);
  BOOST_TEST(first->state.find("4500") != std::string::npos);
  BOOST_REQUIRE(command("service", "s1", "update",
                        {{"price_cents", 6000}, {"duration_minutes", 60}}));
  auto second = book("a2", at(1, 12));
  BOOST_REQUIRE_MESSAGE(second, (second ? "" : describe(second.error())));
  BOOST_TEST(second->state.find("6000") != std::string::npos);
  auto day0 = n.now() - n.now() % day_ms;
  BOOST_TEST(second->state.find(format_rfc3339(day0 + day_ms + 13 * 3600000))
             != std::string::npos);
  // Shorter hours: 12:00 is now outside them.
  BOOST_REQUIRE(command("staff", "st1", "set_working_hours",
                        {{"working_hours", test::every_day(8 * 60, 11 * 60)}}));
  auto outside = book("a3", at(2, 12));
  BOOST_REQUIRE(!outside);
  BOOST_TEST(describe(outside.error()).find("start_time") != std::string::npos);
  // A customer the calendar found missing, created afterwards.
  auto unknown = book("a4", at(2, 9), "st1", "s1", "cu2");
  BOOST_REQUIRE(!unknown);
  BOOST_REQUIRE(command("customer", "cu2", "create",
                        {{"name", "Eve"}, {"phone", "+4930999"}}));
  auto known = book("a4", at(2, 9), "st1", "s1", "cu2");
  BOOST_REQUIRE_MESSAGE(known, (known ? "" : describe(known.error())));
  // A deactivated staff member takes no bookings.
  BOOST_REQUIRE(command("staff", "st1", "update", {{"active", false}}));
  auto inactive = book("a5", at(3, 9));
  BOOST_REQUIRE(!inactive);
  BOOST_TEST(describe(inactive.error()).find("not active")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fifty_concurrent_bookings_of_one_slot_give_one) {
  seed();
  auto results = std::make_shared<std::vector<caf::error>>();
  auto wins = std::make_shared<int>(0);
  auto slot = at(2, 9);
  for (int i = 0; i < 50; ++i) {
    book_appointment cmd;
    cmd.ref.appointment_id = "race" + std::to_string(i);
    cmd.ref.company_id = "c1";
    cmd.customer_id = "cu1";
    cmd.service_id = "s1";
    cmd.staff_id = "st1";
    cmd.start_time = *parse_rfc3339(slot);
    auto router = n.node().router();
    n.sys().spawn([=](caf::event_based_actor* self) {
      self->request(router, caf::infinite, command_atom::value, cmd)
          .then(
              [wins](const command_result&) {
                ++*wins;
              },
              [results](caf::error& e) {
                results->push_back(e);
              });
    });
  }
  n.run();
  BOOST_TEST(*wins == 1);
  BOOST_REQUIRE(results->size() == 49u);
  for (const auto& e : *results)
    BOOST_TEST((runtime_code(e) == runtime_errc::conflict));
}

BOOST_AUTO_TEST_CASE(reschedule_reassign_and_cancel_move_the_slot) {
  seed();
  BOOST_REQUIRE(book("a1", at(1, 10)));
  auto moved
      = command("appointment", "a1", "reschedule", {{"start_time", at(1, 11)}});
  BOOST_REQUIRE_MESSAGE(moved, (moved ? "" : describe(moved.error())));
  BOOST_TEST(moved->version == 2u);
  // The old slot is free, the new one taken.
  BOOST_REQUIRE(book("a2", at(1, 10)));
  BOOST_REQUIRE(!book("a3", at(1, 11)));
  auto stream
      = n.node().store().events->read_stream("c1", "appointment", "a1", 1, 10);
  BOOST_REQUIRE(stream && stream->size() == 2u);
  auto upd = event_from<appointment_updated>((*stream)[1]);
  BOOST_REQUIRE(upd);
  BOOST_TEST(was_rescheduled(*upd));
  BOOST_TEST(!was_reassigned(*upd));
  // Reassign a1 to st2: st1's 11:00 frees up.
  auto re = command("appointment", "a1", "reassign", {{"staff_id", "st2"}});
  BOOST_REQUIRE_MESSAGE(re, (re ? "" : describe(re.error())));
  BOOST_REQUIRE(book("a4", at(1, 11)));
  BOOST_REQUIRE(!book("a5", at(1, 11), "st2"));
  // Cancel a2: st1's 10:00 frees up; a second cancel conflicts.
  BOOST_REQUIRE(command("appointment", "a2", "cancel", {{"reason", "ill"}}));
  BOOST_REQUIRE(!command("appointment", "a2", "cancel", {}));
  BOOST_REQUIRE(book("a6", at(1, 10)));
}

BOOST_AUTO_TEST_CASE(a_restarted_calendar_remembers_its_bookings) {
  seed();
  BOOST_REQUIRE(book("a1", at(1, 10)));
  n.advance(30s); // every aggregate actor stops when idle
  auto again = book("a2", at(1, 10));
  BOOST_REQUIRE(!again);
  BOOST_TEST((runtime_code(again.error()) == runtime_errc::conflict));
}

BOOST_AUTO_TEST_CASE(availability_is_cached_and_invalidated) {
  seed();
  auto date = at(1, 0).substr(0, 10);
  auto ask = [&] {
    auto r = n.call<std::string>(n.node().router(), availability_atom::value,
                                 std::string{"c1"}, std::string{"st1"},
                                 std::string{"s1"}, date);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
    return boost::json::parse(*r).at("slots").as_array().size();
  };
  auto before = ask();
  BOOST_TEST(before == 20u); // 08:00-18:00 in 30-minute steps
  BOOST_TEST(ask() == before);
  auto stats = n.call<cache_stats>(n.node().cache(), stats_atom::value);
  BOOST_REQUIRE(stats);
  BOOST_TEST(stats->hits >= 1u);
  BOOST_REQUIRE(book("a1", at(1, 10)));
  BOOST_TEST(ask() == before - 1); // the booking flushed the cached answer
  auto bad = n.call<std::string>(n.node().router(), availability_atom::value,
                                 std::string{"c1"}, std::string{"st1"},
                                 std::string{"s1"}, std::string{"tomorrow"});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(describe(bad.error()).find("date") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
