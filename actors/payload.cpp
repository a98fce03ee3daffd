#include "actors/payload.hpp"

#include <boost/json/parse.hpp>

#include <actors/errors.hpp>
#include <messages/time.hpp>

namespace switchboard {

payload_reader::payload_reader(const std::string& json) {
  boost::json::error_code ec;
  doc_ = boost::json::parse(json.empty() ? std::string{"{}"} : json, ec);
  parsed_ = !ec && doc_.is_object();
  if (!parsed_)
    problems_["body"] = "must be a JSON object";
}

const boost::json::value* payload_reader::raw(const char* name) const {
  if (!parsed_)
    return nullptr;
  auto* v = doc_.as_object().if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}

bool payload_reader::has(const char* name) const {
  return raw(name) != nullptr;
}

std::optional<std::string> payload_reader::str(const char* name,
                                               bool required) {
  auto* v = raw(name);
  if (v == nullptr) {
    if (required)
      problems_[name] = "is required";
    return std::nullopt;
  }
  if (!v->is_string()) {
    problems_[name] = "must be a string";
    return std::nullopt;
  }
  return std::string{v->get_string()};
}

std::optional<bool> payload_reader::boolean(const char* name, bool required) {
  auto* v = raw(name);
  if (v == nullptr) {
    if (required)
      problems_[name] = "is required";
    return std::nullopt;
  }
  if (!v->is_bool()) {
    problems_[name] = "must be true or false";
    return std::nullopt;
  }
  return v->get_bool();
}

std::optional<std::int64_t> payload_reader::integer(const char* name,
                                                    bool required,
                                                    std::int64_t min,
                                                    std::int64_t max) {
  auto* v = raw(name);
  if (v == nullptr) {
    if (required)
      problems_[name] = "is required";
    return std::nullopt;
  }
  std::int64_t n = 0;
  if (v->is_int64())
    n = v->get_int64();
  else if (v->is_uint64() && v->get_uint64() <= INT64_MAX)
    n = static_cast<std::int64_t>(v->get_uint64());
  else {
    problems_[name] = "must be an integer";
    return std::nullopt;
  }
  if (n < min || n > max) {
    problems_[name] = "must be between " + std::to_string(min) + " and "
                      + std::to_string(max);
    return std::nullopt;
  }
  return n;
}

std::optional<timestamp_ms> payload_reader::time(const char* name,
                                                 bool required) {
  auto s = str(name, required);
  if (!s)
    return std::nullopt;
  auto t = parse_rfc3339(*s);
  if (!t) {
    problems_[name] = "must be an RFC 3339 timestamp (" + t.error() + ")";
    return std::nullopt;
  }
  return *t;
}

std::optional<std::vector<std::string>>
payload_reader::strings(const char* name) {
  auto* v = raw(name);
  if (v == nullptr)
    return std::nullopt;
  if (!v->is_array()) {
    problems_[name] = "must be an array of strings";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) {
      problems_[name] = "must be an array of strings";
      return std::nullopt;
    }
    out.emplace_back(e.get_string());
  }
  return out;
}

void payload_reader::problem(const std::string& field,
                             const std::string& what) {
  problems_.emplace(field, what);
}

caf::error payload_reader::error() const {
  if (valid())
    return {};
  std::string msg;
  for (const auto& [field, what] : problems_) {
    if (!msg.empty())
      msg += "; ";
    msg += field + ": " + what;
  }
  return make_runtime_error(runtime_errc::invalid_argument, msg);
}

} // namespace switchboard
