#include <messages/json.hpp>

#include "samples.hpp"

#include <boost/core/demangle.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <optional>
#include <string>
#include <typeinfo>

using namespace switchboard;
using namespace switchboard::test;
namespace json = boost::json;

namespace {

/// Fails the test if any leaf of `v` is a default value ("", 0, false, null,
/// an empty array or object): the sample was meant to set every field.
void check_no_defaults(const json::value& v, const std::string& path) {
  switch (v.kind()) {
  case json::kind::null:
    BOOST_ERROR(path << " is null");
    break;
  case json::kind::bool_:
    BOOST_CHECK_MESSAGE(v.get_bool(), path << " is false");
    break;
  case json::kind::int64:
    BOOST_CHECK_MESSAGE(v.get_int64() != 0, path << " is 0");
    break;
  case json::kind::uint64:
    BOOST_CHECK_MESSAGE(v.get_uint64() != 0, path << " is 0");
    break;
  case json::kind::double_:
    break;
  case json::kind::string:
    BOOST_CHECK_MESSAGE(!v.get_string().empty(), path << " is empty");
    break;
  case json::kind::array:
    BOOST_CHECK_MESSAGE(!v.get_array().empty(), path << " is empty");
    for (std::size_t i = 0; i < v.get_array().size(); ++i)
      check_no_defaults(v.get_array()[i], path + "[" + std::to_string(i) + "]");
    break;
  case json::kind::object:
    BOOST_CHECK_MESSAGE(!v.get_object().empty(), path << " is empty");
    for (const auto& kv : v.get_object())
      check_no_defaults(kv.value(), path + "." + std::string{kv.key()});
    break;
  }
}

/// Encodes, prints, parses and decodes `x`, and checks it comes back equal.
template <class T>
void check_json_roundtrip(const T& x, const std::string& name) {
  const auto text = to_json_text(x);
  // The text is written directly; it must be what the JSON value prints.
  BOOST_CHECK_EQUAL(text, serialize_json(to_json(x)));
  auto parsed = parse_json(text);
  BOOST_REQUIRE_MESSAGE(parsed, name << ": " << why(parsed));
  auto back = from_json<T>(*parsed);
  BOOST_REQUIRE_MESSAGE(back, name << ": " << why(back) << " in " << text);
  BOOST_CHECK_MESSAGE(*back == x, name << " changed: " << text << " became "
                                       << to_json_text(*back));
  BOOST_CHECK_MESSAGE(to_json(*back) == *parsed, name << " JSON changed");
}

/// Decodes `v` as `T`, expecting an error.
template <class T>
decode_error decode_failure(const json::value& v) {
  auto result = from_json<T>(v);
  if (result)
    return decode_error{"<decoded>", "none", json::serialize(v)};
  return result.error();
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_codecs)

BOOST_AUTO_TEST_CASE(every_event_type_roundtrips) {
  for_each_event_type([](auto tag) {
    using E = typename decltype(tag)::type;
    const std::string name{event_traits<E>::wire_name};
    const auto sample = make_sample<E>();
    check_no_defaults(to_json(sample), name);
    check_json_roundtrip(sample, name);
  });
}

BOOST_AUTO_TEST_CASE(every_value_type_roundtrips) {
  for_each_value_type([](auto tag) {
    using T = typename decltype(tag)::type;
    const auto sample = make_sample<T>();
    const std::string name = boost::core::demangle(typeid(T).name());
    check_no_defaults(to_json(sample), name);
    check_json_roundtrip(sample, name);
  });
}

BOOST_AUTO_TEST_CASE(realistic_events_roundtrip) {
  appointment_updated updated{
      sample_appointment(),
      {{"start_time", {"2024-05-01T08:30:00Z", "2024-05-01T09:30:00Z"}}},
      "u-1"};
  check_json_roundtrip(updated, "appointment_updated");
  check_json_roundtrip(staff_updated{sample_staff(), {}}, "staff_updated");
  // Optional parts left empty: no sentiment, no request, call not ended.
  call open_call = sample_call();
  open_call.ended_at = 0;
  check_json_roundtrip(call_completed{open_call, {}}, "call_completed");
}

BOOST_AUTO_TEST_CASE(text_is_what_the_value_prints) {
  // Every byte in a string, a key and a name: quotes, backslashes and
  // control characters are escaped as the serializer escapes them, the
  // rest (DEL, UTF-8, stray high bytes) passes as it is.
  std::string every;
  for (int c = 0; c < 256; ++c)
    every += static_cast<char>(c);
  customer c = sample_customer();
  c.name = every;
  BOOST_CHECK_EQUAL(to_json_text(c), serialize_json(to_json(c)));
  appointment_created created{
      sample_appointment(), every, {{every, every}, {"", ""}}};
  BOOST_CHECK_EQUAL(to_json_text(created), serialize_json(to_json(created)));
  // What is valid UTF-8 also comes back as it was.
  c.name = "\"quoted\" \\ back\nslash\t\x01\x1f\x7f \u00e9\u2603";
  check_json_roundtrip(c, "customer with escapes");
  // An envelope's data: JSON text is embedded as a value, other text as
  // a string, none as null.
  for (std::string data : {std::string{"{ \"a\" : [1, 2.5, null] }"},
                           std::string{"not json"}, std::string{}}) {
    envelope env;
    env.id = "e1";
    env.type = "appointment.created";
    env.data = data;
    BOOST_CHECK_EQUAL(to_json_text(env), serialize_json(to_json(env)));
  }
  // Optional times: null when 0, left out when omitted and 0.
  call open_call = sample_call();
  open_call.ended_at = 0;
  BOOST_CHECK_EQUAL(to_json_text(open_call),
                    serialize_json(to_json(open_call)));
}

BOOST_AUTO_TEST_CASE(members_are_added_to_an_objects_text) {
  std::string empty = "{}";
  append_member(empty, "version", "3");
  BOOST_TEST(empty == R"({"version":3})");
  auto text = to_json_text(sample_customer());
  append_string_member(text, "time_zone", "Europe/\"Berlin\"");
  append_member(text, "n", "[1]");
  auto v = parse_json(text);
  BOOST_REQUIRE(v);
  BOOST_TEST(v->at("time_zone").as_string() == "Europe/\"Berlin\"");
  BOOST_TEST(v->at("n").at(0).as_int64() == 1);
  BOOST_TEST(v->at("id").as_string() == sample_customer().id);
  // Text that is not an object becomes one with the member alone.
  std::string none;
  append_string_member(none, "k", "v");
  BOOST_TEST(none == R"({"k":"v"})");
}

BOOST_AUTO_TEST_CASE(json_shape) {
  appointment_created e{sample_appointment(), "phone", {{"call_id", "x"}}};
  auto json = to_json(e);
  const auto& appt = json.at("appointment");
  BOOST_TEST(appt.at("start_time").as_string() == "2024-05-01T09:30:00Z");
  BOOST_TEST(appt.at("end_time").as_string() == "2024-05-01T10:15:00Z");
  BOOST_TEST(appt.at("status").as_string() == "scheduled");
  BOOST_TEST(appt.at("price_cents").as_int64() == 4500);
  BOOST_TEST(json.at("source").as_string() == "phone");
  BOOST_TEST(json.at("metadata").at("call_id").as_string() == "x");
  // Absent sentiment and request are left out; an open call's end is null.
  call open_call = sample_call();
  open_call.ended_at = 0;
  auto completed = to_json(call_completed{open_call, {}});
  BOOST_TEST(!completed.at("analysis").as_object().contains("sentiment"));
  BOOST_TEST(
      !completed.at("analysis").as_object().contains("appointment_request"));
  BOOST_TEST(completed.at("call").at("ended_at").is_null());
  auto w = to_json(sample_staff()).at("working_hours").at(2);
  BOOST_TEST(w.at("day").as_string() == "tuesday");
  BOOST_TEST(w.at("start_minute").as_int64() == 780);
  auto upd = to_json(appointment_updated{
      sample_appointment(), {{"staff_id", {"st-a", "st-b"}}}, ""});
  BOOST_TEST(upd.at("changes").at("staff_id").at("old").as_string() == "st-a");
  BOOST_TEST(upd.at("changes").at("staff_id").at("new").as_string() == "st-b");
}

BOOST_AUTO_TEST_CASE(optional_fields_default) {
  auto parsed = parse_json(R"({"customer": {"id": "c1", "company_id": "k"},
                               "source": "web", "unknown_key": 1})");
  BOOST_REQUIRE(parsed);
  auto e = from_json<customer_created>(*parsed);
  BOOST_REQUIRE_MESSAGE(e, why(e));
  BOOST_TEST(e->customer.id == "c1");
  BOOST_TEST(e->customer.email == "");
  BOOST_TEST(!e->customer.prefers_sms);
  BOOST_TEST((e->source == customer_source::web));
  // A request given as {} or null is "no request" (the seed's empty()).
  auto completed
      = edited(call_completed{sample_call(), {}}, [](json::object& o) {
          o["analysis"].as_object()["appointment_request"] = json::object{};
        });
  auto c = from_json<call_completed>(completed);
  BOOST_REQUIRE(c);
  BOOST_TEST(!has_appointment_request(*c));
}

BOOST_AUTO_TEST_CASE(parse_json_rejects_malformed_text) {
  for (const char* text : {"", "{", R"({"a":})", "[1,2", "nul", "{} x"}) {
    auto result = parse_json(text);
    BOOST_TEST_CONTEXT("input: " << text) {
      BOOST_REQUIRE(!result);
      BOOST_TEST(result.error().field == "");
      BOOST_TEST(result.error().problem == "malformed");
    }
  }
}

BOOST_AUTO_TEST_CASE(decoders_name_the_bad_field) {
  struct bad_case {
    const char* name;
    std::function<decode_error()> decode;
    const char* field;
    const char* problem;
  };
  const auto created = appointment_created{sample_appointment(), "api", {}};
  const auto cust = customer_created{sample_customer(), customer_source::web};
  const auto staff_upd = staff_updated{sample_staff(), {}};
  const std::optional<json::value> erased;
  // Decodes `x`'s JSON as a `T` with the member at `pointer` set to `to`,
  // or erased where `to` is empty.
  auto with
      = [](auto x, std::string_view pointer,
           std::optional<json::value> to) -> std::function<decode_error()> {
    using T = decltype(x);
    return [v = changed(to_json(x), pointer, to)] {
      return decode_failure<T>(v);
    };
  };
  const bad_case cases[] = {
      {"missing event field", with(cust, "/customer", erased), "customer",
       "missing"},
      {"unknown customer source", with(cust, "/source", "fax"), "source",
       "unknown_value"},
      {"wrong type in nested entity", with(cust, "/customer/id", 7),
       "customer.id", "wrong_type"},
      {"bool as string", with(cust, "/customer/prefers_sms", "yes"),
       "customer.prefers_sms", "wrong_type"},
      {"bad timestamp",
       with(created, "/appointment/start_time", "2024-13-45T10:00:00Z"),
       "appointment.start_time", "bad_timestamp"},
      {"timestamp as number", with(created, "/appointment/end_time", 17),
       "appointment.end_time", "wrong_type"},
      {"missing nested field", with(created, "/appointment/staff_id", erased),
       "appointment.staff_id", "missing"},
      {"required null", with(created, "/appointment", json::value{nullptr}),
       "appointment", "wrong_type"},
      {"end before start",
       with(created, "/appointment/end_time", "2024-05-01T09:00:00Z"),
       "appointment.end_time", "invalid"},
      {"unknown status", with(created, "/appointment/status", "maybe"),
       "appointment.status", "unknown_value"},
      {"metadata value not a string",
       with(created, "/metadata", json::object{{"n", 1}}), "metadata.n",
       "wrong_type"},
      {"working hours out of range",
       with(staff_upd, "/staff/working_hours/0/end_minute", 2000),
       "staff.working_hours[0].end_minute", "invalid"},
      {"unknown weekday",
       with(staff_upd, "/staff/working_hours/1/day", "funday"),
       "staff.working_hours[1].day", "unknown_value"},
      {"change value wrong type",
       with(appointment_updated{sample_appointment(),
                                {{"notes", {"a", "b"}}},
                                ""},
            "/changes/notes/old", 1),
       "changes.notes.old", "wrong_type"},
      {"bad preferred start",
       with(
           appointment_requested{
               "call-9", "c-42", "", {"svc", "", "", 1, "", ""}, t_0930},
           "/request/preferred_start", "tomorrow"),
       "request.preferred_start", "bad_timestamp"},
      {"bad slot in list",
       with(follow_up_scheduled{"call-9", "c-42", "", t_0930, "", {1, 2}},
            "/alternative_slots/1", "2024-02-30T10:00:00Z"),
       "alternative_slots[1]", "bad_timestamp"},
      {"unknown channel",
       with(make_sample<notification_sent>(), "/channel", "fax"), "channel",
       "unknown_value"},
      {"integer out of range",
       with(make_sample<call_ended>(), "/duration_s", 1LL << 40), "duration_s",
       "invalid"},
      {"negative unsigned", with(make_sample<envelope>(), "/version", -1),
       "version", "invalid"},
      {"missing envelope time",
       with(make_sample<envelope>(), "/occurred_at", erased), "occurred_at",
       "missing"},
      {"document not an object",
       [] {
         return decode_failure<customer_created>(json::array{1, 2});
       },
       "", "wrong_type"},
      {"service price as string",
       with(make_sample<service>(), "/price_cents", "12"), "price_cents",
       "wrong_type"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      auto err = c.decode();
      BOOST_TEST(err.field == c.field);
      BOOST_TEST(err.problem == c.problem);
      BOOST_TEST(!err.message.empty());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
