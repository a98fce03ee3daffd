#include "actors/payload.hpp"

#include <boost/json/parse.hpp>

#include <actors/errors.hpp>
#include <messages/id_check.hpp>
#include <messages/time.hpp>

#include <cstring>

namespace switchboard {

namespace {

/// Fields that hold the id of an aggregate (checked by `id_problem`).
bool is_id_field(const char* name) {
  for (const char* f : {"id", "customer_id", "staff_id", "service_id",
                        "branch_id", "merged_id"})
    if (std::strcmp(name, f) == 0)
      return true;
  return false;
}

/// Longest value of a string field, in bytes.
std::size_t max_length(const char* name) {
  static const std::pair<const char*, std::size_t> limits[] = {
      {"name", 200},  {"email", 254},  {"phone", 40},
      {"source", 64}, {"notes", 2000}, {"reason", 2000},
  };
  for (const auto& [f, n] : limits)
    if (std::strcmp(name, f) == 0)
      return n;
  return 1000;
}

/// Fields whose text may span lines (line breaks and tabs allowed).
bool is_text_field(const char* name) {
  for (const char* f : {"notes", "reason", "transcript", "summary"})
    if (std::strcmp(name, f) == 0)
      return true;
  return false;
}

/// True when `text` holds a control character (C0 or DEL; line breaks
/// and tabs only where `text_field`).
bool has_control(std::string_view text, bool text_field) {
  for (unsigned char c : text) {
    if (text_field && (c == '\n' || c == '\r' || c == '\t'))
      continue;
    if (c < 0x20 || c == 0x7f)
      return true;
  }
  return false;
}

/// Most items of a list field.
constexpr std::size_t max_items = 1000;

} // namespace

payload_reader::payload_reader(const std::string& json) {
  boost::json::error_code ec;
  doc_ = boost::json::parse(json.empty() ? std::string{"{}"} : json, ec);
  parsed_ = !ec && doc_.is_object();
  if (!parsed_)
    problems_["body"] = "must be a JSON object";
}

payload_reader::payload_reader(boost::json::value doc) : doc_(std::move(doc)) {
  parsed_ = doc_.is_object();
  if (!parsed_)
    problems_["body"] = "must be a JSON object";
}

const boost::json::value* payload_reader::raw(const char* name) const {
  if (!parsed_)
    return nullptr;
  auto* v = doc_.as_object().if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}

const boost::json::value* payload_reader::field(const char* name, bool required,
                                                bool (boost::json::value::*is)()
                                                    const noexcept,
                                                const char* wrong_type) {
  auto* v = raw(name);
  if (v == nullptr) {
    if (required)
      problems_[name] = "is required";
    return nullptr;
  }
  if (is != nullptr && !(v->*is)()) {
    problems_[name] = wrong_type;
    return nullptr;
  }
  return v;
}

bool payload_reader::has(const char* name) const {
  return raw(name) != nullptr;
}

std::optional<std::string> payload_reader::str(const char* name,
                                               bool required) {
  auto* v = field(name, required, &boost::json::value::is_string,
                  "must be a string");
  if (v == nullptr)
    return std::nullopt;
  std::string_view text{v->get_string()};
  if (is_id_field(name)) {
    if (text.empty() && std::strcmp(name, "branch_id") == 0)
      return std::string{};
    if (auto bad = id_problem(text)) {
      problems_[name] = *bad;
      return std::nullopt;
    }
  } else if (auto n = max_length(name); text.size() > n) {
    problems_[name] = "must have at most " + std::to_string(n) + " bytes";
    return std::nullopt;
  } else if (has_control(text, is_text_field(name))) {
    problems_[name] = "invalid: must not contain control characters";
    return std::nullopt;
  }
  return std::string{text};
}

std::optional<bool> payload_reader::boolean(const char* name, bool required) {
  auto* v = field(name, required, &boost::json::value::is_bool,
                  "must be true or false");
  if (v == nullptr)
    return std::nullopt;
  return v->get_bool();
}

std::optional<std::int64_t> payload_reader::integer(const char* name,
                                                    bool required,
                                                    std::int64_t min,
                                                    std::int64_t max) {
  auto* v = field(name, required);
  if (v == nullptr)
    return std::nullopt;
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
  auto* v = field(name, false, &boost::json::value::is_array,
                  "must be an array of strings");
  if (v == nullptr)
    return std::nullopt;
  if (v->get_array().size() > max_items) {
    problems_[name]
        = "must have at most " + std::to_string(max_items) + " items";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) {
      problems_[name] = "must be an array of strings";
      return std::nullopt;
    }
    // Every list of strings in a payload is a list of ids.
    if (auto bad = id_problem(e.get_string())) {
      problems_[name + std::string{"["} + std::to_string(out.size()) + "]"]
          = *bad;
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
  return field_problems_error(problems_);
}

caf::error
field_problems_error(const std::map<std::string, std::string>& problems) {
  std::string msg;
  for (const auto& [field, what] : problems) {
    if (!msg.empty())
      msg += "; ";
    msg += field + ": " + what;
  }
  return make_runtime_error(runtime_errc::invalid_argument, msg);
}

} // namespace switchboard
