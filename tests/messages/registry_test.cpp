#include <messages/registry.hpp>

#include <messages/aggregate_types.hpp>
#include <messages/json.hpp>

#include "samples.hpp"

#include <boost/test/unit_test.hpp>

#include <cctype>
#include <set>
#include <string>

using namespace switchboard;
using namespace switchboard::test;

BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(runtime_table_matches_traits) {
  const auto& all = all_event_types();
  BOOST_TEST(all.size() == event_type_count);
  // DESIGN.md's 17, service.updated and appointment.completed.
  BOOST_TEST(event_type_count == 19u);
  std::set<std::string_view> names;
  std::size_t visited = 0;
  for_each_event_type([&](auto tag) {
    using E = typename decltype(tag)::type;
    using traits = event_traits<E>;
    static_assert(is_event_v<E>);
    BOOST_TEST_CONTEXT(traits::wire_name) {
      BOOST_TEST(traits::index == visited);
      const auto* info = find_event_type(traits::wire_name);
      BOOST_REQUIRE(info != nullptr);
      BOOST_TEST(info == &all[traits::index]);
      BOOST_TEST(info->cpp_name == traits::cpp_name);
      BOOST_TEST(info->aggregate_type == traits::aggregate_type);
      BOOST_TEST(info->audited == traits::audited);
      BOOST_TEST(info->broadcast_as == traits::broadcast_as);
      BOOST_TEST(info->channel_prefix == traits::channel_prefix);
      // Dotted lower-case wire names, each listed once.
      BOOST_TEST(traits::wire_name.find('.') != std::string_view::npos);
      for (char c : traits::wire_name)
        BOOST_TEST((std::islower(static_cast<unsigned char>(c)) || c == '.'
                    || c == '_'));
      BOOST_TEST(names.insert(traits::wire_name).second);
      // A channel exactly when broadcast.
      BOOST_TEST(traits::broadcast_as.empty()
                 == traits::channel_prefix.empty());
      // The registered validator accepts a good payload and refuses {}.
      BOOST_TEST(bool{info->validate(to_json_text(make_sample<E>()))});
      auto refused = info->validate("{}");
      BOOST_REQUIRE(!refused);
      BOOST_TEST(refused.error().problem == "missing");
      BOOST_TEST(info->validate("{").error().problem == "malformed");
    }
    ++visited;
  });
  BOOST_TEST(visited == event_type_count);
  static_assert(!is_event_v<appointment>);
}

BOOST_AUTO_TEST_CASE(every_row_names_a_known_aggregate_type) {
  const std::set<std::string> known{
      aggregates::appointment, aggregates::customer, aggregates::staff,
      aggregates::service,     aggregates::call,     aggregates::notification};
  std::set<std::string> used;
  for (const auto& info : all_event_types()) {
    BOOST_TEST_CONTEXT(info.wire_name) {
      BOOST_TEST(known.count(std::string{info.aggregate_type}) == 1u);
    }
    used.insert(std::string{info.aggregate_type});
  }
  // And each named type has events.
  BOOST_TEST(used == known);
}

BOOST_AUTO_TEST_CASE(seed_facts) {
  using traits = event_traits<appointment_created>;
  static_assert(traits::wire_name == "appointment.created");
  static_assert(traits::aggregate_type == "appointment");
  static_assert(traits::audited);
  BOOST_TEST(find_event_type("call.information_only")->aggregate_type
             == "call");
  BOOST_TEST(find_event_type("follow_up.scheduled") != nullptr);
  BOOST_TEST(find_event_type("notification.sent") != nullptr);
  BOOST_TEST(find_event_type("appointment.deleted") == nullptr);
  BOOST_TEST(find_event_type("") == nullptr);
  const auto& created = *find_event_type("appointment.created");
  BOOST_TEST(created.broadcast_as == "appointment.created");
  BOOST_TEST(broadcast_channel(created, "42") == "private-company.42");
  BOOST_TEST(broadcast_channel(*find_event_type("call.connected"), "42") == "");
}

// The seed's PHP event classes (Laravel's event_store.event_type) map to
// the registry's types by their short name.
BOOST_AUTO_TEST_CASE(php_classes_map_to_event_types) {
  auto wire = [](std::string_view cls) {
    const auto* info = find_event_type_by_class(cls);
    return info == nullptr ? std::string{"<none>"}
                           : std::string{info->wire_name};
  };
  BOOST_TEST(wire("App\\Events\\AppointmentCreated") == "appointment.created");
  BOOST_TEST(wire("\\App\\Events\\CustomerMerged") == "customer.merged");
  BOOST_TEST(wire("FollowUpScheduled") == "follow_up.scheduled");
  BOOST_TEST(wire("App\\Events\\CallInformationOnly")
             == "call.information_only");
  BOOST_TEST(wire("App\\Events\\AppointmentDeleted") == "<none>");
  BOOST_TEST(wire("App\\Events\\") == "<none>");
  BOOST_TEST(wire("") == "<none>");
  // Every registered type has its class.
  for (const auto& info : all_event_types()) {
    std::string cls = "App\\Events\\";
    bool upper = true;
    for (char c : info.cpp_name) {
      if (c == '_') {
        upper = true;
        continue;
      }
      cls += upper ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    }
    BOOST_TEST(wire(cls) == info.wire_name, cls);
  }
}

BOOST_AUTO_TEST_CASE(envelopes_carry_typed_events) {
  appointment_created e{sample_appointment(), "web", {{"k", "v"}}};
  event_metadata meta{"u-1", "10.0.0.1", "curl/8", "api", "corr", "cause"};
  auto env = make_envelope(e, "appt-1", 3, "c-42", t_0930, meta);
  BOOST_TEST(env.type == "appointment.created");
  BOOST_TEST(env.aggregate_type == "appointment");
  BOOST_TEST(env.aggregate_id == "appt-1");
  BOOST_TEST(env.version == 3u);
  BOOST_TEST(env.company_id == "c-42");
  BOOST_TEST(env.occurred_at == t_0930);
  BOOST_TEST(env.sequence == 0u);
  BOOST_TEST((env.metadata == meta));
  BOOST_TEST(is_uuid(env.id));
  BOOST_TEST(bool{validate(env)});
  auto back = event_from<appointment_created>(env);
  BOOST_REQUIRE_MESSAGE(back, why(back));
  BOOST_TEST((*back == e));
  // Client-supplied id.
  BOOST_TEST(make_envelope(e, "appt-1", 1, "c-42", 0, {}, "my-id").id
             == "my-id");
  // Wrong type.
  auto wrong = event_from<appointment_cancelled>(env);
  BOOST_REQUIRE(!wrong);
  BOOST_TEST(wrong.error().field == "type");
  BOOST_TEST(wrong.error().problem == "invalid");
  // Bad payloads name the field under "data".
  auto bad = env;
  bad.data = serialize_json(edited(e, [](boost::json::object& o) {
    o["appointment"].as_object()["start_time"] = "2024-13-45T10:00:00Z";
  }));
  auto bad_event = event_from<appointment_created>(bad);
  BOOST_REQUIRE(!bad_event);
  BOOST_TEST(bad_event.error().field == "data.appointment.start_time");
  BOOST_TEST(bad_event.error().problem == "bad_timestamp");
  BOOST_TEST(validate(bad).error().field == "data.appointment.start_time");
  bad.data = "{oops";
  BOOST_TEST(event_from<appointment_created>(bad).error().field == "data");
  BOOST_TEST(event_from<appointment_created>(bad).error().problem
             == "malformed");
  // validate() checks the registry.
  auto unknown = env;
  unknown.type = "appointment.exploded";
  BOOST_TEST(validate(unknown).error().field == "type");
  BOOST_TEST(validate(unknown).error().problem == "unknown_value");
  auto mismatched = env;
  mismatched.aggregate_type = "customer";
  BOOST_TEST(validate(mismatched).error().field == "aggregate_type");
}

BOOST_AUTO_TEST_CASE(every_event_survives_its_envelope) {
  for_each_event_type([](auto tag) {
    using E = typename decltype(tag)::type;
    const auto sample = make_sample<E>(3);
    auto env = make_envelope(sample, "agg", 1, "c", t_0930, {});
    BOOST_TEST_CONTEXT(env.type) {
      BOOST_TEST(env.type == event_traits<E>::wire_name);
      BOOST_TEST(bool{validate(env)});
      auto back = event_from<E>(env);
      BOOST_REQUIRE(back);
      BOOST_TEST((*back == sample));
    }
  });
}

BOOST_AUTO_TEST_CASE(predicates) {
  appointment_updated e{sample_appointment(), {}, ""};
  BOOST_TEST(!was_rescheduled(e));
  BOOST_TEST(!was_reassigned(e));
  e.changes["notes"] = {"a", "b"};
  BOOST_TEST(!was_rescheduled(e));
  e.changes["end_time"] = {"2024-05-01T10:00:00Z", "2024-05-01T10:15:00Z"};
  BOOST_TEST(was_rescheduled(e));
  BOOST_TEST(!was_reassigned(e));
  e.changes.clear();
  e.changes["start_time"] = {"x", "y"};
  BOOST_TEST(was_rescheduled(e));
  e.changes["staff_id"] = {"st-a", "st-b"};
  BOOST_TEST(was_reassigned(e));

  call_completed c{sample_call(), {}};
  BOOST_TEST(!has_appointment_request(c));
  BOOST_TEST(sentiment(c) == "neutral");
  c.analysis.sentiment = "positive";
  BOOST_TEST(sentiment(c) == "positive");
  c.analysis.appointment_request.customer_name = "Jana";
  BOOST_TEST(has_appointment_request(c));
  c.analysis.appointment_request = {};
  c.analysis.appointment_request.preferred_start = t_0930;
  BOOST_TEST(has_appointment_request(c));
  // The default survives a JSON round trip (absent sentiment).
  call_completed neutral{sample_call(), {}};
  auto back = from_json<call_completed>(to_json(neutral));
  BOOST_REQUIRE(back);
  BOOST_TEST(sentiment(*back) == "neutral");
  BOOST_TEST(!has_appointment_request(*back));
}

BOOST_AUTO_TEST_CASE(enum_names_roundtrip) {
  for (auto s : enum_names(customer_source{})) {
    customer_source x{};
    BOOST_TEST(parse_enum(s, x));
    BOOST_TEST(to_string(x) == s);
  }
  customer_source x = customer_source::web;
  BOOST_TEST(!parse_enum("fax", x));
  BOOST_TEST((x == customer_source::web));
  BOOST_TEST(to_string(call_state::information_only) == "information_only");
  BOOST_TEST(to_string(appointment_status::no_show) == "no_show");
}

BOOST_AUTO_TEST_SUITE_END()
