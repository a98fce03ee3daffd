#include <messages/type_ids.hpp>

#include <messages/json.hpp>

#include "samples.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>
#include <caf/scoped_actor.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace switchboard;
using namespace switchboard::test;

namespace {

struct caf_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    cfg.add_message_types<caf::id_block::switchboard>();
    cfg.set("scheduler.max-threads", 1);
    return cfg;
  }

  caf_fixture() : sys(init(cfg)) {}

  /// Serializes `x` with CAF's binary serializer and reads it back.
  template <class T>
  T roundtrip(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto err = sink(x);
    BOOST_REQUIRE_MESSAGE(!err, sys.render(err));
    BOOST_REQUIRE(!buf.empty());
    T y{};
    caf::binary_deserializer source{sys, buf};
    err = source(y);
    BOOST_REQUIRE_MESSAGE(!err, sys.render(err));
    BOOST_TEST(source.remaining() == 0u);
    return y;
  }

  /// Sends `x` through a serialized caf::message, which needs the type to
  /// be registered (the receiver looks it up by name); returns what came
  /// out.
  template <class T>
  T message_roundtrip(const T& x) {
    caf::message back = roundtrip(caf::make_message(x));
    BOOST_REQUIRE(back.match_elements<T>());
    return back.get_as<T>(0);
  }

  /// Checks that `x` comes through a caf::message unchanged.
  template <class T>
  void check_message_roundtrip(const T& x) {
    BOOST_TEST((message_roundtrip(x) == x));
  }

  template <class T>
  void check(const T& sample, const std::string& name) {
    BOOST_TEST_CONTEXT(name) {
      auto back = roundtrip(sample);
      BOOST_CHECK_MESSAGE(back == sample,
                          name << " changed: " << caf::deep_to_string(back));
      BOOST_TEST((to_json(back) == to_json(sample)));
      check_message_roundtrip(sample);
      BOOST_TEST(!caf::deep_to_string(sample).empty());
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(caf_serialization, caf_fixture)

BOOST_AUTO_TEST_CASE(every_event_type_roundtrips) {
  for_each_event_type([this](auto tag) {
    using E = typename decltype(tag)::type;
    static_assert(caf::type_id<E>::value >= caf::first_custom_type_id);
    check(make_sample<E>(), std::string{event_traits<E>::wire_name});
  });
}

BOOST_AUTO_TEST_CASE(every_command_type_roundtrips){
#define SWITCHBOARD_CHECK_COMMAND(type)                                        \
  {                                                                            \
    auto sample = make_sample<type>();                                         \
    BOOST_TEST_CONTEXT(#type) {                                                \
      BOOST_TEST((roundtrip(sample) == sample));                               \
      check_message_roundtrip(sample);                                         \
    }                                                                          \
  }
    SWITCHBOARD_COMMAND_TYPES(SWITCHBOARD_CHECK_COMMAND)
        SWITCHBOARD_CALENDAR_COMMAND_TYPES(SWITCHBOARD_CHECK_COMMAND)
#undef SWITCHBOARD_CHECK_COMMAND
}

BOOST_AUTO_TEST_CASE(every_value_type_roundtrips) {
  for_each_value_type([this](auto tag) {
    using T = typename decltype(tag)::type;
    check(make_sample<T>(), caf::type_name<T>::value);
  });
}

BOOST_AUTO_TEST_CASE(envelope_batches_and_names) {
  std::vector<envelope> batch{make_sample<envelope>(1),
                              make_sample<envelope>(2)};
  BOOST_TEST((roundtrip(batch) == batch));
  check_message_roundtrip(batch);
  BOOST_TEST(std::string{caf::type_name<appointment_created>::value}
             == "switchboard::appointment_created");
  // Enums print by name.
  auto text = caf::deep_to_string(sample_appointment());
  BOOST_TEST(text.find("scheduled") != std::string::npos);
  // The block holds every event and value type plus the batch, the eight
  // messages between the nodes of a cluster, and the calendar's commands.
  BOOST_TEST(caf::id_block::switchboard::end - caf::id_block::switchboard::begin
             == event_type_count + 14u + command_type_count + 1u + 8u
                    + calendar_command_type_count);
}

BOOST_AUTO_TEST_CASE(a_placement_table_and_a_company_part_roundtrip) {
  cluster_placement p{7, {"n1", "n2"}, {"acme", "n3"}};
  auto back = roundtrip(p);
  BOOST_TEST(back.epoch == 7u);
  BOOST_TEST(back.basis == p.basis);
  BOOST_TEST(back.moved == p.moved);
  company_transfer t;
  t.company = "acme";
  t.events = {make_sample<envelope>(1)};
  t.settings = {"calcom", R"({"secret":"x"})"};
  t.jobs = {std::string("\0\1job", 5)};
  t.last = true;
  // Through a caf::message, as it crosses the middleman.
  const auto u = message_roundtrip(t);
  BOOST_TEST(u.company == "acme");
  BOOST_REQUIRE(u.events.size() == 1u);
  BOOST_TEST((u.events.front() == t.events.front()));
  BOOST_TEST(u.settings == t.settings);
  BOOST_TEST(u.jobs == t.jobs);
  BOOST_TEST(u.last);
}

BOOST_AUTO_TEST_CASE(presence_and_channel_frames_roundtrip) {
  presence_digest d{{"presence-company.acme", "u1", R"({"name":"A"})"}};
  BOOST_TEST(roundtrip(d).members == d.members);
  channel_message m{"private-company.acme", R"({"event":"client-x"})", "1.2"};
  auto back = roundtrip(m);
  BOOST_TEST(back.channel == m.channel);
  BOOST_TEST(back.payload == m.payload);
  BOOST_TEST(back.except_socket == m.except_socket);
}

BOOST_AUTO_TEST_CASE(local_actor_delivery) {
  caf::scoped_actor self{sys};
  auto e = make_sample<call_completed>();
  self->send(self, e);
  bool received = false;
  self->receive([&](const call_completed& got) {
    received = true;
    BOOST_TEST((got == e));
  });
  BOOST_TEST(received);
}

BOOST_AUTO_TEST_SUITE_END()
