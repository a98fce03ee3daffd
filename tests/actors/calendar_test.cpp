// The staff calendar's typed commands (messages/calendar_commands.hpp):
// sent to a calendar spawned on its own and through the router, on a
// deterministic node with a real store; and their decoding from JSON
// (actors/calendar_commands.hpp), as the gateway runs it.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <actors/aggregates.hpp>
#include <actors/calendar.hpp>
#include <actors/calendar_commands.hpp>
#include <actors/errors.hpp>
#include <actors/testing.hpp>
#include <store/event_store.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/actors/router_fixture.hpp"
#include "tests/support/times.hpp"

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

struct calendar_fixture : test::router_fixture {
  calendar_fixture() {
    create("customer", "cu1", {{"name", "Ada"}, {"phone", "+4930123"}});
    create("service", "s1",
           {{"name", "Cut"}, {"price_cents", 4500}, {"duration_minutes", 30}});
    auto hours = test::every_day(8 * 60, 18 * 60);
    create("staff", "st1", {{"name", "Bo"}, {"working_hours", hours}});
    create("staff", "st2", {{"name", "Cy"}, {"working_hours", hours}});
  }

  void create(std::string type, std::string id, boost::json::object payload) {
    auto r = route(test::named_command(std::move(type), std::move(id), "c1",
                                       "create", payload));
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : describe(r.error())));
  }

  /// Day `d` after the start at `hh`:`mm` UTC.
  timestamp_ms at(int d, int hh, int mm = 0) const {
    auto day0 = n.now() - n.now() % day_ms;
    return day0 + d * day_ms + hh * hour_ms + mm * 60000;
  }

  static appointment_ref ref(std::string id, std::string company = "c1") {
    appointment_ref r;
    r.company_id = std::move(company);
    r.appointment_id = std::move(id);
    r.metadata.user_id = "u1";
    r.metadata.source = "api";
    return r;
  }

  /// A `Command` on appointment `id` of `company`.
  template <class Command>
  static Command on(std::string id, std::string company = "c1") {
    Command cmd;
    cmd.ref = ref(std::move(id), std::move(company));
    return cmd;
  }

  static book_appointment booking(std::string id, timestamp_ms start,
                                  std::string staff = "st1") {
    auto b = on<book_appointment>(std::move(id));
    b.customer_id = "cu1";
    b.service_id = "s1";
    b.staff_id = std::move(staff);
    b.start_time = start;
    return b;
  }

  /// Sends `cmd` to `h` (the router or a calendar) and returns the answer.
  template <class Handle, class Command>
  expected<command_result, caf::error> send(const Handle& h, Command cmd) {
    return n.call<command_result>(h, command_atom::value, std::move(cmd));
  }

  /// The stored events of appointment `id` of c1.
  std::vector<envelope> stream(const std::string& id) {
    auto s
        = n.node().store().events->read_stream("c1", "appointment", id, 1, 100);
    BOOST_REQUIRE(s);
    return *s;
  }

  /// The calendar of `staff` of c1, spawned on its own with the node's
  /// dispatcher, cache and store.
  calendar_actor spawn_calendar(const std::string& staff) {
    aggregate_deps deps;
    deps.dispatcher = n.node().dispatcher();
    deps.cache = n.node().cache();
    deps.events = n.node().store().events.get();
    deps.tenants = n.node().store().tenants.get();
    deps.clock = n.node().clock();
    deps.idle_timeout = 10s;
    return n.sys().spawn(calendar, std::string{"c1"}, staff, deps);
  }
};

runtime_errc code_of(const expected<command_result, caf::error>& r) {
  BOOST_REQUIRE(!r);
  return runtime_code(r.error());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(calendar_suite, calendar_fixture)

BOOST_AUTO_TEST_CASE(a_calendar_answers_its_typed_commands_on_its_own) {
  auto cal = spawn_calendar("st1");
  auto first = send(cal, booking("a1", at(1, 10)));
  BOOST_REQUIRE_MESSAGE(first, (first ? "" : describe(first.error())));
  BOOST_TEST(first->created);
  BOOST_TEST(first->version == 1u);
  BOOST_TEST(first->state.find("\"staff_id\":\"st1\"") != std::string::npos);
  // Overlapping the first booking by 15 minutes: refused, nothing stored.
  auto clash = send(cal, booking("a2", at(1, 10, 15)));
  BOOST_TEST((code_of(clash) == runtime_errc::conflict));
  BOOST_TEST(describe(clash.error()).find("the slot is taken")
             != std::string::npos);
  BOOST_TEST(stream("a2").empty());
  // The same id again is taken, whatever the time.
  BOOST_TEST(
      (code_of(send(cal, booking("a1", at(2, 10)))) == runtime_errc::conflict));
  // Moved to 11:00: 10:00 is free again, 11:00 is not.
  auto move = on<reschedule_appointment>("a1");
  move.start_time = at(1, 11);
  auto moved = send(cal, move);
  BOOST_REQUIRE_MESSAGE(moved, (moved ? "" : describe(moved.error())));
  BOOST_TEST(moved->version == 2u);
  BOOST_REQUIRE(send(cal, booking("a3", at(1, 10))));
  BOOST_TEST(
      (code_of(send(cal, booking("a4", at(1, 11)))) == runtime_errc::conflict));
  caf::anon_send_exit(cal, caf::exit_reason::user_shutdown);
  n.run();
}

BOOST_AUTO_TEST_CASE(a_reschedule_records_the_change_and_checks_the_version) {
  BOOST_REQUIRE(route(booking("a1", at(1, 10))));
  auto move = on<reschedule_appointment>("a1");
  move.start_time = at(1, 12);
  move.ref.check_version = true;
  move.ref.expected_version = 7;
  auto stale = route(move);
  BOOST_TEST((code_of(stale) == runtime_errc::version_conflict));
  BOOST_TEST(describe(stale.error()).find("version 1") != std::string::npos);
  BOOST_TEST(stream("a1").size() == 1u);
  // The slot the stale command reserved was given back.
  BOOST_REQUIRE(route(booking("a2", at(1, 12))));
  move.ref.expected_version = 1;
  move.start_time = at(1, 14);
  move.set_notes = true;
  move.notes = "window seat";
  auto moved = route(move);
  BOOST_REQUIRE_MESSAGE(moved, (moved ? "" : describe(moved.error())));
  auto events = stream("a1");
  BOOST_REQUIRE(events.size() == 2u);
  auto upd = event_from<appointment_updated>(events[1]);
  BOOST_REQUIRE(upd);
  BOOST_TEST(was_rescheduled(*upd));
  BOOST_TEST(upd->appointment.start_time == at(1, 14));
  BOOST_TEST(upd->appointment.notes == "window seat");
  BOOST_TEST(upd->updated_by == "u1");
  // In the past, or outside the hours: refused, naming start_time.
  move.ref.check_version = false;
  move.start_time = at(0, 0) - hour_ms;
  auto past = route(move);
  BOOST_TEST((code_of(past) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(past.error()).find("start_time") != std::string::npos);
  move.start_time = at(1, 20);
  BOOST_TEST((code_of(route(move)) == runtime_errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(a_cancel_frees_the_slot_once) {
  BOOST_REQUIRE(route(booking("a1", at(1, 10))));
  auto cancel = on<cancel_appointment>("a1");
  cancel.reason = "ill";
  auto done = route(cancel);
  BOOST_REQUIRE_MESSAGE(done, (done ? "" : describe(done.error())));
  BOOST_TEST(done->state.find("\"status\":\"cancelled\"") != std::string::npos);
  auto events = stream("a1");
  BOOST_REQUIRE(events.size() == 2u);
  auto ev = event_from<appointment_cancelled>(events[1]);
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->reason == "ill");
  auto again = route(cancel);
  BOOST_TEST((code_of(again) == runtime_errc::conflict));
  BOOST_TEST(describe(again.error()).find("already cancelled")
             != std::string::npos);
  BOOST_TEST(stream("a1").size() == 2u);
  BOOST_REQUIRE(route(booking("a2", at(1, 10))));
}

BOOST_AUTO_TEST_CASE(a_completion_comes_once_the_appointment_has_started) {
  BOOST_REQUIRE(route(booking("a1", at(1, 10))));
  auto done = on<complete_appointment>("a1");
  auto early = route(done);
  BOOST_TEST((code_of(early) == runtime_errc::conflict));
  BOOST_TEST(describe(early.error()).find("has not started yet")
             != std::string::npos);
  BOOST_TEST(stream("a1").size() == 1u);
  // 10:05 on the day: it has started, and it took place.
  n.advance(std::chrono::milliseconds{at(1, 10, 5) - n.now()});
  auto completed = route(done);
  BOOST_REQUIRE_MESSAGE(completed,
                        (completed ? "" : describe(completed.error())));
  BOOST_TEST(completed->version == 2u);
  BOOST_TEST(completed->state.find("\"status\":\"completed\"")
             != std::string::npos);
  auto events = stream("a1");
  BOOST_REQUIRE(events.size() == 2u);
  BOOST_TEST(events[1].type == "appointment.completed");
  auto ev = event_from<appointment_completed>(events[1]);
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->completed_by == "u1");
  BOOST_TEST((ev->appointment.status == appointment_status::completed));
  // Once only; and the rest of its slot is no longer held.
  auto again = route(done);
  BOOST_TEST((code_of(again) == runtime_errc::conflict));
  BOOST_TEST(describe(again.error()).find("is completed, not scheduled")
             != std::string::npos);
  BOOST_TEST(stream("a1").size() == 2u);
  BOOST_REQUIRE(route(booking("a2", at(1, 10, 15))));
  // A cancelled appointment never took place.
  auto cancel = on<cancel_appointment>("a2");
  BOOST_REQUIRE(route(cancel));
  done.ref = ref("a2");
  n.advance(std::chrono::milliseconds{at(1, 10, 20) - n.now()});
  BOOST_TEST((code_of(route(done)) == runtime_errc::conflict));
  // Another company's appointment is unknown.
  done.ref = ref("a1", "c2");
  BOOST_TEST((code_of(route(done)) == runtime_errc::not_found));
}

BOOST_AUTO_TEST_CASE(a_reassignment_moves_the_slot_between_calendars) {
  BOOST_REQUIRE(route(booking("a1", at(1, 10))));
  BOOST_REQUIRE(route(booking("b1", at(1, 11), "st2")));
  auto re = on<reassign_appointment>("a1");
  re.staff_id = "st2";
  // st2 is busy at 11:00; at 10:00 (the time kept) it is free.
  re.set_start_time = true;
  re.start_time = at(1, 11);
  BOOST_TEST((code_of(route(re)) == runtime_errc::conflict));
  re.set_start_time = false;
  auto moved = route(re);
  BOOST_REQUIRE_MESSAGE(moved, (moved ? "" : describe(moved.error())));
  BOOST_TEST(moved->state.find("\"staff_id\":\"st2\"") != std::string::npos);
  // st1's calendar forgot it, st2's has it.
  BOOST_REQUIRE(route(booking("a2", at(1, 10))));
  BOOST_TEST((code_of(route(booking("b2", at(1, 10), "st2")))
              == runtime_errc::conflict));
  // A staff member the company does not have is refused before any
  // calendar is spawned.
  re.staff_id = "nobody";
  auto unknown = route(re);
  BOOST_TEST((code_of(unknown) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(unknown.error()).find("staff_id") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(calcom_commands_are_calcoms_only) {
  BOOST_REQUIRE(route(booking("a1", at(1, 10))));
  auto link = on<link_calcom_booking>("a1");
  link.calcom_uid = "uid-1";
  auto refused = route(link);
  BOOST_TEST((code_of(refused) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(refused.error()).find("command") != std::string::npos);
  BOOST_TEST(stream("a1").size() == 1u);
  // From Cal.com, under the event id its delivery names.
  link.ref.metadata.source = "calcom";
  link.ref.event_id = "ev-link-1";
  BOOST_REQUIRE(route(link));
  auto events = stream("a1");
  BOOST_REQUIRE(events.size() == 2u);
  BOOST_TEST(events[1].id == "ev-link-1");
  auto linked = event_from<appointment_updated>(events[1]);
  BOOST_REQUIRE(linked);
  BOOST_TEST(linked->appointment.calcom_uid == "uid-1");
  // A no-show frees the slot; undoing it while the slot is taken again
  // conflicts.
  auto no_show = on<set_appointment_no_show>("a1");
  no_show.ref.metadata.source = "calcom";
  no_show.no_show = true;
  BOOST_REQUIRE(route(no_show));
  BOOST_REQUIRE(route(booking("a2", at(1, 10))));
  no_show.no_show = false;
  BOOST_TEST((code_of(route(no_show)) == runtime_errc::conflict));
  BOOST_TEST(stream("a1").size() == 3u);
}

BOOST_AUTO_TEST_CASE(the_router_keeps_companies_and_json_out) {
  BOOST_REQUIRE(route(booking("a1", at(1, 10))));
  // Another company: its staff member does not exist, nor the appointment.
  auto theirs = booking("x1", at(1, 12));
  theirs.ref.company_id = "c2";
  auto refused = route(theirs);
  BOOST_TEST((code_of(refused) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(refused.error()).find("staff_id") != std::string::npos);
  auto cancel = on<cancel_appointment>("a1", "c2");
  BOOST_TEST((code_of(route(cancel)) == runtime_errc::not_found));
  BOOST_TEST(stream("a1").size() == 1u);
  // A booking without an id gets one; other commands need it.
  auto fresh = route(booking("", at(1, 12)));
  BOOST_REQUIRE_MESSAGE(fresh, (fresh ? "" : describe(fresh.error())));
  BOOST_TEST(!fresh->aggregate_id.empty());
  BOOST_TEST(stream(fresh->aggregate_id).size() == 1u);
  cancel.ref = ref("");
  BOOST_TEST((code_of(route(cancel)) == runtime_errc::invalid_argument));
  // Appointment commands as a name and a JSON payload are refused.
  aggregate_command untyped;
  untyped.aggregate_type = "appointment";
  untyped.aggregate_id = "a9";
  untyped.company_id = "c1";
  untyped.name = "book";
  untyped.payload = R"({"customer_id":"cu1","service_id":"s1",)"
                    R"("staff_id":"st1","start_time":"2031-01-01T10:00:00Z"})";
  auto old
      = n.call<command_result>(n.node().router(), command_atom::value, untyped);
  BOOST_TEST((code_of(old) == runtime_errc::invalid_argument));
  BOOST_TEST(describe(old.error()).find("aggregate_type") != std::string::npos);
  BOOST_TEST(stream("a9").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(calendar_decode_suite)

BOOST_AUTO_TEST_CASE(a_booking_decodes_its_fields_and_names_each_problem) {
  appointment_ref r;
  r.company_id = "c1";
  r.metadata.source = "api";
  boost::json::object body{{"customer_id", "cu1"},
                           {"service_id", "s1"},
                           {"staff_id", "st1"},
                           {"start_time", "2031-01-01T10:00:00+01:00"},
                           {"branch_id", ""},
                           {"notes", "first visit"},
                           {"calcom_uid", "not taken from the API"}};
  auto ok = decode_command<book_appointment>(body, r);
  BOOST_REQUIRE(ok);
  BOOST_TEST(ok->staff_id == "st1");
  BOOST_TEST(ok->start_time == 1925024400000);
  BOOST_TEST(ok->set_branch);
  BOOST_TEST(ok->branch_id.empty());
  BOOST_TEST(ok->notes == "first visit");
  BOOST_TEST(ok->source == "api");
  BOOST_TEST(ok->calcom_uid.empty());
  BOOST_TEST((ok->ref == r));
  // A bad staff member is named alone: it says which calendar decides.
  auto no_staff = decode_command<book_appointment>(
      boost::json::object{{"customer_id", 7}}, r);
  BOOST_REQUIRE(!no_staff);
  BOOST_TEST(describe(no_staff.error()) == "staff_id: is required");
  auto bad = decode_command<book_appointment>(
      boost::json::object{
          {"customer_id", 7}, {"staff_id", "st1"}, {"start_time", "tomorrow"}},
      r);
  BOOST_REQUIRE(!bad);
  BOOST_TEST((runtime_code(bad.error()) == runtime_errc::invalid_argument));
  auto msg = describe(bad.error());
  BOOST_TEST(msg.find("customer_id: must be a string") != std::string::npos);
  BOOST_TEST(msg.find("service_id: is required") != std::string::npos);
  BOOST_TEST(msg.find("start_time: must be an RFC 3339 timestamp")
             != std::string::npos);
  // Cal.com's bookings carry its uid (here the same booking, no branch).
  r.metadata.source = "calcom";
  body.erase("branch_id");
  body["calcom_uid"] = "uid-1";
  auto from_calcom = decode_command<book_appointment>(body, r);
  BOOST_REQUIRE(from_calcom);
  BOOST_TEST(from_calcom->calcom_uid == "uid-1");
  BOOST_TEST(!from_calcom->set_branch);
}

BOOST_AUTO_TEST_CASE(moves_cancels_and_calcom_updates_decode) {
  appointment_ref r;
  r.company_id = "c1";
  r.appointment_id = "a1";
  auto re = decode_command<reschedule_appointment>(
      boost::json::object{{"notes", "x"}}, r);
  BOOST_REQUIRE(!re);
  BOOST_TEST(describe(re.error()) == "start_time: is required");
  re = decode_command<reschedule_appointment>(
      boost::json::object{{"start_time", "2031-01-01T10:00:00Z"}}, r);
  BOOST_REQUIRE(re);
  BOOST_TEST(!re->set_notes);
  auto too_long = decode_command<reschedule_appointment>(
      boost::json::object{{"start_time", "2031-01-01T10:00:00Z"},
                          {"notes", std::string(2001, 'n')}},
      r);
  BOOST_REQUIRE(!too_long);
  BOOST_TEST(describe(too_long.error())
             == "notes: must have at most 2000 bytes");
  auto ra = decode_command<reassign_appointment>(
      boost::json::object{{"staff_id", "s t"}, {"start_time", "soon"}}, r);
  BOOST_REQUIRE(!ra);
  BOOST_TEST(describe(ra.error()).rfind("staff_id: ", 0) == 0);
  BOOST_TEST(describe(ra.error()).find("start_time") == std::string::npos);
  ra = decode_command<reassign_appointment>(
      boost::json::object{{"staff_id", "st2"}}, r);
  BOOST_REQUIRE(ra);
  BOOST_TEST(!ra->set_start_time);
  auto cancel = decode_command<cancel_appointment>(boost::json::object{}, r);
  BOOST_REQUIRE(cancel);
  BOOST_TEST(cancel->reason.empty());
  BOOST_TEST(!decode_command<cancel_appointment>(
      boost::json::object{{"reason", 3}}, r));
  BOOST_TEST(decode_command<complete_appointment>(boost::json::object{}, r)
                 .has_value());
  auto not_object
      = decode_command<complete_appointment>(boost::json::array{}, r);
  BOOST_REQUIRE(!not_object);
  BOOST_TEST(describe(not_object.error()) == "body: must be a JSON object");
  BOOST_TEST(!decode_command<link_calcom_booking>(boost::json::object{}, r));
  auto ns = decode_command<set_appointment_no_show>(
      boost::json::object{{"no_show", "yes"}}, r);
  BOOST_REQUIRE(!ns);
  BOOST_TEST(describe(ns.error()) == "no_show: must be true or false");
  BOOST_TEST(!decode_command<book_appointment>(boost::json::array{}, r));
}

BOOST_AUTO_TEST_SUITE_END()
