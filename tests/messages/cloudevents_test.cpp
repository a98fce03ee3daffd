#include <messages/cloudevents.hpp>

#include <messages/json.hpp>

#include "samples.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>
#include <utility>
#include <vector>

using namespace switchboard;
using namespace switchboard::test;
namespace json = boost::json;

namespace {

envelope sample_envelope() {
  event_metadata meta{"u-1",   "203.0.113.9", "Mozilla/5.0",
                      "phone", "corr-1",      "cause-1"};
  auto env = make_envelope(
      appointment_created{sample_appointment(), "phone", {{"call_id", "c9"}}},
      "appt-1", 4, "c-42", t_0930 + 250, meta);
  env.sequence = 5'000'000'000ull; // Beyond 32 bits on purpose.
  return env;
}

/// Decodes `v` expecting an error.
decode_error failure(const json::value& v) {
  auto result = from_cloudevent(v);
  if (result)
    return decode_error{"<decoded>", "none", ""};
  return result.error();
}

} // namespace

BOOST_AUTO_TEST_SUITE(cloudevents)

BOOST_AUTO_TEST_CASE(attributes_and_extensions) {
  const auto env = sample_envelope();
  const auto ce = to_cloudevent(env);
  const auto& obj = ce.as_object();
  BOOST_TEST(obj.at("specversion").as_string() == "1.0");
  BOOST_TEST(obj.at("id").as_string() == env.id);
  BOOST_TEST(obj.at("source").as_string() == "/switchboard/appointment/appt-1");
  BOOST_TEST(obj.at("type").as_string() == "appointment.created");
  BOOST_TEST(obj.at("subject").as_string() == "appt-1");
  BOOST_TEST(obj.at("time").as_string() == "2024-05-01T09:30:00.250Z");
  BOOST_TEST(obj.at("datacontenttype").as_string() == "application/json");
  BOOST_TEST(obj.at("data").is_object());
  BOOST_TEST(obj.at("data").at("source").as_string() == "phone");
  BOOST_TEST(obj.at("aggregatetype").as_string() == "appointment");
  BOOST_TEST(obj.at("aggregateid").as_string() == "appt-1");
  BOOST_TEST(obj.at("version").as_string() == "4");
  BOOST_TEST(obj.at("sequence").as_string() == "5000000000");
  BOOST_TEST(obj.at("companyid").as_string() == "c-42");
  BOOST_TEST(obj.at("userid").as_string() == "u-1");
  BOOST_TEST(obj.at("ipaddress").as_string() == "203.0.113.9");
  BOOST_TEST(obj.at("useragent").as_string() == "Mozilla/5.0");
  BOOST_TEST(obj.at("eventsource").as_string() == "phone");
  BOOST_TEST(obj.at("correlationid").as_string() == "corr-1");
  BOOST_TEST(obj.at("causationid").as_string() == "cause-1");
  // CloudEvents attribute names: lower-case letters and digits only.
  for (const auto& kv : obj)
    for (char c : kv.key())
      BOOST_TEST_CONTEXT(kv.key()) {
        BOOST_TEST(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')));
      }
  // Empty metadata and an unset sequence are left out.
  envelope bare = env;
  bare.metadata = {};
  bare.sequence = 0;
  const auto bare_ce = to_cloudevent(bare, "urn:test");
  BOOST_TEST(!bare_ce.as_object().contains("userid"));
  BOOST_TEST(!bare_ce.as_object().contains("sequence"));
  BOOST_TEST(bare_ce.at("source").as_string() == "urn:test/appointment/appt-1");
}

BOOST_AUTO_TEST_CASE(every_event_roundtrips) {
  for_each_event_type([](auto tag) {
    using E = typename decltype(tag)::type;
    auto env = make_envelope(make_sample<E>(), "agg-1", 7, "c-1", t_0930,
                             make_sample<event_metadata>());
    env.sequence = 99;
    BOOST_TEST_CONTEXT(env.type) {
      auto text = serialize_json(to_cloudevent(env));
      auto parsed = parse_json(text);
      BOOST_REQUIRE(parsed);
      auto back = from_cloudevent(*parsed);
      BOOST_REQUIRE_MESSAGE(back, why(back));
      BOOST_TEST((*back == env));
      BOOST_TEST((*event_from<E>(*back) == make_sample<E>()));
    }
  });
  // An envelope without metadata or data.
  envelope bare = sample_envelope();
  bare.metadata = {};
  bare.data.clear();
  bare.company_id.clear();
  auto back = from_cloudevent(to_cloudevent(bare));
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == bare));
}

BOOST_AUTO_TEST_CASE(batches) {
  std::vector<envelope> envs{sample_envelope(), sample_envelope()};
  envs[1].id = "second";
  auto batch = to_cloudevents_batch(envs);
  BOOST_TEST(batch.as_array().size() == 2u);
  auto back = from_cloudevents_batch(batch);
  BOOST_REQUIRE(back);
  BOOST_TEST((*back == envs));
  batch.as_array()[1].as_object()["specversion"] = "0.3";
  auto bad = from_cloudevents_batch(batch);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().field == "[1].specversion");
  BOOST_TEST(!from_cloudevents_batch(json::object{}));
}

BOOST_AUTO_TEST_CASE(foreign_events_without_extensions) {
  auto parsed = parse_json(R"({
    "specversion": "1.0", "id": "ext-1", "source": "https://cal.example",
    "type": "appointment.cancelled", "subject": "appt-1",
    "time": "2024-05-01T11:30:00+02:00",
    "datacontenttype": "application/json; charset=utf-8",
    "data": {"appointment": {}, "reason": "sick"}})");
  BOOST_REQUIRE(parsed);
  auto env = from_cloudevent(*parsed);
  BOOST_REQUIRE_MESSAGE(env, why(env));
  BOOST_TEST(env->aggregate_id == "appt-1");
  BOOST_TEST(env->aggregate_type == "appointment"); // From the registry.
  BOOST_TEST(env->occurred_at == t_0930);
  BOOST_TEST(env->version == 0u);
  BOOST_TEST(env->data == R"({"appointment":{},"reason":"sick"})");
  // Decoding the envelope does not judge the payload; validate() does.
  BOOST_TEST(validate(*env).error().field == "data.appointment.id");
}

BOOST_AUTO_TEST_CASE(decoding_names_the_attribute) {
  // Each attribute, in turn, set to its value or erased where it has none.
  using edits = std::vector<std::pair<const char*, std::optional<json::value>>>;
  const std::optional<json::value> erased;
  struct bad_case {
    const char* name;
    edits edit;
    const char* field;
    const char* problem;
  };
  const bad_case cases[] = {
      {"wrong specversion",
       {{"specversion", "0.3"}},
       "specversion",
       "unknown_value"},
      {"specversion not a string",
       {{"specversion", 1.0}},
       "specversion",
       "wrong_type"},
      {"missing specversion",
       {{"specversion", erased}},
       "specversion",
       "missing"},
      {"missing id", {{"id", erased}}, "id", "missing"},
      {"empty id", {{"id", ""}}, "id", "missing"},
      {"missing source", {{"source", erased}}, "source", "missing"},
      {"missing type", {{"type", erased}}, "type", "missing"},
      {"missing time", {{"time", erased}}, "time", "missing"},
      {"bad time", {{"time", "2024-13-45T10:00:00Z"}}, "time", "bad_timestamp"},
      {"no aggregate id",
       {{"subject", erased}, {"aggregateid", erased}},
       "subject",
       "missing"},
      {"bad version", {{"version", "v3"}}, "version", "wrong_type"},
      {"negative sequence", {{"sequence", -4}}, "sequence", "wrong_type"},
      {"extension wrong type", {{"userid", 7}}, "userid", "wrong_type"},
      {"binary data",
       {{"data", erased}, {"data_base64", "AAAA"}},
       "data_base64",
       "invalid"},
      {"xml content",
       {{"datacontenttype", "application/xml"}},
       "datacontenttype",
       "unknown_value"},
      {"unregistered type without aggregatetype",
       {{"type", "com.example.thing"}, {"aggregatetype", erased}},
       "aggregatetype",
       "missing"},
  };
  const auto good = to_cloudevent(sample_envelope());
  BOOST_REQUIRE(from_cloudevent(good));
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      auto v = good;
      auto& obj = v.as_object();
      for (const auto& [key, value] : c.edit)
        if (value)
          obj[key] = *value;
        else
          obj.erase(key);
      auto err = failure(v);
      BOOST_TEST(err.field == c.field);
      BOOST_TEST(err.problem == c.problem);
      BOOST_TEST(!err.message.empty());
    }
  }
  BOOST_TEST(failure(json::array{}).problem == "wrong_type");
}

BOOST_AUTO_TEST_SUITE_END()
