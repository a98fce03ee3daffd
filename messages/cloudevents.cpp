#include <messages/cloudevents.hpp>

#include <messages/json.hpp>
#include <messages/registry.hpp>
#include <messages/time.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <exception>
#include <optional>
#include <string>

namespace switchboard {

namespace {

namespace json = boost::json;

json::string_view to_sv(std::string_view x) {
  return {x.data(), x.size()};
}

std::string to_std(json::string_view x) {
  return {x.data(), x.size()};
}

/// Extension names of the string fields of an envelope's metadata.
struct string_extension {
  const char* name;
  std::string event_metadata::*member;
};

constexpr string_extension metadata_extensions[] = {
    {"userid", &event_metadata::user_id},
    {"ipaddress", &event_metadata::ip_address},
    {"useragent", &event_metadata::user_agent},
    {"eventsource", &event_metadata::source},
    {"correlationid", &event_metadata::correlation_id},
    {"causationid", &event_metadata::causation_id},
};

decode_error error_at(std::string field, const char* problem,
                      std::string what) {
  auto message = field + ": " + what;
  return decode_error{std::move(field), problem, std::move(message)};
}

/// Reads CloudEvents attributes, recording the first error.
class attributes {
public:
  explicit attributes(const json::object& obj) : obj_(obj) {}

  /// Reads a string attribute; `required` ones must be present and
  /// non-empty.
  std::string string(const char* name, bool required) {
    auto* v = find(name, required);
    if (v == nullptr)
      return {};
    if (!v->is_string()) {
      fail(name, "wrong_type", "expected a string");
      return {};
    }
    auto result = to_std(v->get_string());
    if (required && result.empty())
      fail(name, "missing", "must not be empty");
    return result;
  }

  /// Reads an unsigned integer written as a decimal string or a number.
  std::uint64_t number(const char* name) {
    auto* v = find(name, false);
    if (v == nullptr)
      return 0;
    if (v->is_uint64())
      return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0)
      return static_cast<std::uint64_t>(v->get_int64());
    if (v->is_string()) {
      const auto& str = v->get_string();
      std::uint64_t result = 0;
      auto [end, ec]
          = std::from_chars(str.data(), str.data() + str.size(), result);
      if (ec == std::errc{} && end == str.data() + str.size() && !str.empty())
        return result;
    }
    fail(name, "wrong_type", "expected a non-negative integer");
    return 0;
  }

  const json::value* find(const char* name, bool required) {
    if (err_)
      return nullptr;
    auto* v = obj_.if_contains(name);
    if (v == nullptr || v->is_null()) {
      if (required)
        fail(name, "missing", "required attribute");
      return nullptr;
    }
    return v;
  }

  void fail(const char* name, const char* problem, const char* what) {
    if (!err_)
      err_ = error_at(name, problem, what);
  }

  void fail(decode_error err) {
    if (!err_)
      err_ = std::move(err);
  }

  bool failed() const noexcept {
    return err_.has_value();
  }

  decode_error& error() {
    return *err_;
  }

private:
  const json::object& obj_;
  std::optional<decode_error> err_;
};

bool is_json_content_type(std::string_view type) {
  // "application/json", optionally with parameters, or any "+json" type.
  auto semi = type.find(';');
  auto media = type.substr(0, semi);
  while (!media.empty() && media.back() == ' ')
    media.remove_suffix(1);
  return media == "application/json" || media == "text/json"
         || (media.size() > 5 && media.substr(media.size() - 5) == "+json");
}

} // namespace

json::value to_cloudevent(const envelope& env, std::string_view source_prefix) {
  json::object obj;
  obj.reserve(20);
  obj["specversion"] = "1.0";
  obj["id"] = to_sv(env.id);
  std::string source{source_prefix};
  source += '/';
  source += env.aggregate_type;
  source += '/';
  source += env.aggregate_id;
  obj["source"] = to_sv(source);
  obj["type"] = to_sv(env.type);
  obj["subject"] = to_sv(env.aggregate_id);
  obj["time"] = to_sv(format_rfc3339(env.occurred_at));
  obj["datacontenttype"] = "application/json";
  obj["aggregatetype"] = to_sv(env.aggregate_type);
  obj["aggregateid"] = to_sv(env.aggregate_id);
  obj["version"] = to_sv(std::to_string(env.version));
  if (!env.company_id.empty())
    obj["companyid"] = to_sv(env.company_id);
  if (env.sequence != 0)
    obj["sequence"] = to_sv(std::to_string(env.sequence));
  for (const auto& ext : metadata_extensions)
    if (const auto& value = env.metadata.*ext.member; !value.empty())
      obj[ext.name] = to_sv(value);
  if (auto data = parse_json(env.data))
    obj["data"] = std::move(*data);
  else if (!env.data.empty())
    obj["data"] = to_sv(env.data); // Not JSON (never for our events).
  return obj;
}

expected<envelope, decode_error> from_cloudevent(const json::value& json) {
  try {
    if (!json.is_object())
      return make_unexpected(
          decode_error{"", "wrong_type", "a CloudEvent must be a JSON object"});
    const auto& obj = json.get_object();
    attributes in{obj};
    envelope env;
    auto spec = in.string("specversion", true);
    if (!in.failed() && spec != "1.0")
      in.fail(error_at("specversion", "unknown_value",
                       "unsupported specversion \"" + spec + "\" (need 1.0)"));
    env.id = in.string("id", true);
    in.string("source", true);
    env.type = in.string("type", true);
    auto time = in.string("time", true);
    if (!in.failed()) {
      if (auto t = parse_rfc3339(time))
        env.occurred_at = *t;
      else
        in.fail(error_at("time", "bad_timestamp", t.error()));
    }
    auto content_type = in.string("datacontenttype", false);
    if (!in.failed() && !content_type.empty()
        && !is_json_content_type(content_type))
      in.fail(error_at("datacontenttype", "unknown_value",
                       "unsupported content type \"" + content_type
                           + "\" (need application/json)"));
    if (!in.failed() && obj.contains("data_base64"))
      in.fail("data_base64", "invalid", "binary data is not supported");
    if (auto* data = in.find("data", false))
      env.data = json::serialize(*data);
    auto subject = in.string("subject", false);
    env.aggregate_id = in.string("aggregateid", false);
    if (env.aggregate_id.empty())
      env.aggregate_id = subject;
    if (!in.failed() && env.aggregate_id.empty())
      in.fail("subject", "missing",
              "need a subject or an aggregateid extension");
    env.aggregate_type = in.string("aggregatetype", false);
    if (!in.failed() && env.aggregate_type.empty()) {
      if (auto* info = find_event_type(env.type))
        env.aggregate_type = std::string{info->aggregate_type};
      else
        in.fail("aggregatetype", "missing",
                "need an aggregatetype extension for an unregistered type");
    }
    env.version = in.number("version");
    env.sequence = in.number("sequence");
    env.company_id = in.string("companyid", false);
    for (const auto& ext : metadata_extensions)
      env.metadata.*ext.member = in.string(ext.name, false);
    if (in.failed())
      return make_unexpected(std::move(in.error()));
    return env;
  } catch (const std::exception& e) {
    return make_unexpected(decode_error{"", "invalid", e.what()});
  }
}

json::value to_cloudevents_batch(const std::vector<envelope>& envs,
                                 std::string_view source_prefix) {
  json::array arr;
  arr.reserve(envs.size());
  for (const auto& env : envs)
    arr.push_back(to_cloudevent(env, source_prefix));
  return arr;
}

expected<std::vector<envelope>, decode_error>
from_cloudevents_batch(const json::value& json) {
  if (!json.is_array())
    return make_unexpected(
        decode_error{"", "wrong_type", "a CloudEvents batch must be an array"});
  std::vector<envelope> result;
  const auto& arr = json.get_array();
  result.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    auto env = from_cloudevent(arr[i]);
    if (!env) {
      auto err = env.error();
      auto prefix = '[' + std::to_string(i) + ']';
      err.field = err.field.empty() ? prefix : prefix + '.' + err.field;
      err.message = prefix + ' ' + err.message;
      return make_unexpected(std::move(err));
    }
    result.push_back(std::move(*env));
  }
  return result;
}

} // namespace switchboard
