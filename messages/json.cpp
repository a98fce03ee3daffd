#include <messages/json.hpp>

#include <messages/time.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace switchboard {

namespace {

namespace json = boost::json;

using namespace field_options;

// -- type classification ------------------------------------------------------

template <class T>
struct is_vector : std::false_type {};

template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
struct is_string_map : std::false_type {};

template <class T>
struct is_string_map<std::map<std::string, T>> : std::true_type {};

template <class T, class = void>
struct has_empty : std::false_type {};

template <class T>
struct has_empty<T, std::void_t<decltype(std::declval<const T&>().empty())>>
    : std::true_type {};

json::string_view to_sv(const std::string& x) {
  return {x.data(), x.size()};
}

/// Where a value being decoded sits ("appointment.start_time",
/// "slots[2]"), kept as links up to the document and spelled out only for
/// an error: a decode that succeeds builds no path.
struct path_ref {
  static constexpr std::size_t no_index = ~std::size_t{0};

  const path_ref* parent = nullptr; ///< None: the document itself.
  std::string_view name;            ///< A member's name.
  std::size_t index = no_index;     ///< An element's index.

  path_ref member(std::string_view n) const {
    return {this, n, no_index};
  }

  path_ref element(std::size_t i) const {
    return {this, {}, i};
  }

  std::string str() const {
    if (parent == nullptr)
      return {};
    auto out = parent->str();
    if (index != no_index) {
      out += '[';
      out += std::to_string(index);
      out += ']';
    } else {
      if (!out.empty())
        out += '.';
      out += name;
    }
    return out;
  }
};

// -- encoding -----------------------------------------------------------------

/// The value a `json_text_ref` embeds: its text parsed, null when empty;
/// text that is not JSON (it should always be) stays a string.
json::value embedded(const std::string& text) {
  if (text.empty())
    return nullptr;
  boost::system::error_code ec;
  auto parsed = json::parse(to_sv(text), ec);
  return ec ? json::value(to_sv(text)) : std::move(parsed);
}

template <class T>
json::value encode(const T& x);

/// Builds a JSON object from a field list (messages/fields.hpp).
class writer {
public:
  template <class T>
  void operator()(const char* name, const T& x, presence p = req) {
    if constexpr (has_empty<T>::value)
      if (p == omit && x.empty())
        return;
    obj_[name] = encode(x);
  }

  void operator()(const char* name, time_ref t, presence p = req) {
    if (t.value == 0 && p != req) {
      if (p == opt)
        obj_[name] = nullptr;
      return;
    }
    obj_[name] = to_sv(format_rfc3339(t.value));
  }

  void operator()(const char* name, time_list_ref t, presence = req) {
    json::array arr;
    arr.reserve(t.values.size());
    for (auto x : t.values)
      arr.emplace_back(to_sv(format_rfc3339(x)));
    obj_[name] = std::move(arr);
  }

  void operator()(const char* name, json_text_ref t, presence = req) {
    obj_[name] = embedded(t.text);
  }

  void check(bool, const char*, const char*) {
    // Invariants are checked when decoding only.
  }

  template <class... Rs>
  void list(const char*, field_desc<Rs>... ds) {
    ((*this)(ds.name, ds.ref, ds.p), ...);
  }

  json::object& object() {
    return obj_;
  }

private:
  json::object obj_;
};

template <class T>
json::value encode(const T& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    return to_sv(x);
  } else if constexpr (std::is_same_v<T, bool>) {
    return json::value(x);
  } else if constexpr (std::is_enum_v<T>) {
    return to_sv(to_string(x));
  } else if constexpr (std::is_integral_v<T>) {
    return json::value(x);
  } else if constexpr (is_vector<T>::value) {
    json::array arr;
    arr.reserve(x.size());
    for (const auto& item : x)
      arr.push_back(encode(item));
    return arr;
  } else if constexpr (is_string_map<T>::value) {
    json::object obj;
    obj.reserve(x.size());
    for (const auto& [key, item] : x)
      obj[to_sv(key)] = encode(item);
    return obj;
  } else {
    writer w;
    // The writer only reads; `fields` takes a mutable reference so that one
    // list serves both directions.
    fields(w, const_cast<T&>(x));
    return std::move(w.object());
  }
}

// -- encoding as text ---------------------------------------------------------
//
// The same JSON as `encode` then `json::serialize`, byte for byte (the
// json_codecs tests compare the two for every type), written straight into
// one string: no object is built, and no key is looked up.

/// Appends `s` as a JSON string, escaped as Boost.JSON's serializer does:
/// '"', '\\' and the control characters; everything else as it is.
void append_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0; // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
    case '"':
      out += '"';
      break;
    case '\\':
      out += '\\';
      break;
    case '\b':
      out += 'b';
      break;
    case '\t':
      out += 't';
      break;
    case '\n':
      out += 'n';
      break;
    case '\f':
      out += 'f';
      break;
    case '\r':
      out += 'r';
      break;
    default:
      out += "u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

template <class T>
void append_text(std::string& out, const T& x);

/// Writes a JSON object from a field list, in the list's order.
class text_writer {
public:
  explicit text_writer(std::string& out) : out_(out) {}

  template <class T>
  void operator()(const char* name, const T& x, presence p = req) {
    if constexpr (has_empty<T>::value)
      if (p == omit && x.empty())
        return;
    key(name);
    append_text(out_, x);
  }

  void operator()(const char* name, time_ref t, presence p = req) {
    if (t.value == 0 && p != req) {
      if (p == opt) {
        key(name);
        out_ += "null";
      }
      return;
    }
    key(name);
    append_string(out_, format_rfc3339(t.value));
  }

  void operator()(const char* name, time_list_ref t, presence = req) {
    key(name);
    out_ += '[';
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      if (i > 0)
        out_ += ',';
      append_string(out_, format_rfc3339(t.values[i]));
    }
    out_ += ']';
  }

  void operator()(const char* name, json_text_ref t, presence = req) {
    key(name);
    out_ += json::serialize(embedded(t.text));
  }

  void check(bool, const char*, const char*) {
    // Invariants are checked when decoding only.
  }

  template <class... Rs>
  void list(const char*, field_desc<Rs>... ds) {
    out_ += '{';
    ((*this)(ds.name, ds.ref, ds.p), ...);
    out_ += '}';
  }

private:
  /// A field list's names are identifiers, with nothing to escape (the
  /// json_codecs tests compare every type's text with the serializer's).
  void key(const char* name) {
    if (!first_)
      out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += name;
    out_ += "\":";
  }

  std::string& out_;
  bool first_ = true;
};

template <class T>
void append_text(std::string& out, const T& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    append_string(out, x);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    append_string(out, to_string(x));
  } else if constexpr (std::is_integral_v<T>) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
    out.append(buf, end);
  } else if constexpr (is_vector<T>::value) {
    out += '[';
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (i > 0)
        out += ',';
      append_text(out, x[i]);
    }
    out += ']';
  } else if constexpr (is_string_map<T>::value) {
    out += '{';
    bool first = true;
    for (const auto& [key, item] : x) {
      if (!first)
        out += ',';
      first = false;
      append_string(out, key);
      out += ':';
      append_text(out, item);
    }
    out += '}';
  } else {
    text_writer w{out};
    // As in `encode`: the list only reads here.
    fields(w, const_cast<T&>(x));
  }
}

// -- decoding -----------------------------------------------------------------

using status = std::optional<decode_error>;

decode_error error_at(const std::string& field, const char* problem,
                      std::string what) {
  std::string message = field.empty() ? std::string{"document"} : field;
  message += ": ";
  message += what;
  return decode_error{field, problem, std::move(message)};
}

decode_error wrong_type(const std::string& field, const char* expected,
                        const json::value& got) {
  std::string what = "expected ";
  what += expected;
  what += ", got ";
  what += json::to_string(got.kind());
  return error_at(field, "wrong_type", std::move(what));
}

decode_error error_at(const path_ref& path, const char* problem,
                      std::string what) {
  return error_at(path.str(), problem, std::move(what));
}

decode_error wrong_type(const path_ref& path, const char* expected,
                        const json::value& got) {
  return wrong_type(path.str(), expected, got);
}

template <class E>
std::string expected_names() {
  std::string result;
  for (auto name : enum_names(E{})) {
    if (!result.empty())
      result += ", ";
    result += name;
  }
  return result;
}

status decode_time(const json::value& v, const path_ref& path,
                   timestamp_ms& out) {
  if (!v.is_string())
    return wrong_type(path, "an RFC 3339 timestamp string", v);
  const auto& str = v.get_string();
  auto parsed = parse_rfc3339({str.data(), str.size()});
  if (!parsed)
    return error_at(path, "bad_timestamp", parsed.error());
  out = *parsed;
  return std::nullopt;
}

template <class T>
status decode(const json::value& v, const path_ref& path, T& x);

/// Reads the fields of a field list (messages/fields.hpp) from a JSON
/// object, stopping at the first error; then the struct's `checks`.
class reader {
public:
  reader(const json::object& obj, const path_ref& path)
      : obj_(obj), path_(path) {}

  template <class T>
  void operator()(const char* name, T& x, presence p = req) {
    if (auto* v = find(name, p))
      err_ = decode(*v, path_.member(name), x);
  }

  void operator()(const char* name, time_ref t, presence p = req) {
    if (auto* v = find(name, p))
      err_ = decode_time(*v, path_.member(name), t.value);
  }

  void operator()(const char* name, time_list_ref t, presence p = req) {
    auto* v = find(name, p);
    if (!v)
      return;
    auto path = path_.member(name);
    if (!v->is_array()) {
      err_ = wrong_type(path, "an array", *v);
      return;
    }
    const auto& arr = v->get_array();
    t.values.resize(arr.size());
    for (std::size_t i = 0; i < arr.size() && !err_; ++i)
      err_ = decode_time(arr[i], path.element(i), t.values[i]);
  }

  void operator()(const char* name, json_text_ref t, presence p = req) {
    if (auto* v = find(name, p))
      t.text = json::serialize(*v);
  }

  void check(bool ok, const char* name, const char* what) {
    if (!err_ && !ok)
      err_ = error_at(path_.member(name), "invalid", what);
  }

  template <class... Rs>
  void list(const char*, field_desc<Rs>... ds) {
    ((*this)(ds.name, ds.ref, ds.p), ...);
  }

  status result() && {
    return std::move(err_);
  }

private:
  /// Returns the value to decode, or nullptr when there is none (absent
  /// optional field, or an error, which is then recorded).
  const json::value* find(const char* name, presence p) {
    if (err_)
      return nullptr;
    auto* v = obj_.if_contains(name);
    if (v == nullptr) {
      if (p == req)
        err_ = error_at(path_.member(name), "missing", "required field");
      return nullptr;
    }
    if (v->is_null() && p != req)
      return nullptr;
    return v;
  }

  const json::object& obj_;
  const path_ref& path_;
  status err_;
};

template <class T>
status decode_int(const json::value& v, const path_ref& path, T& x) {
  using limits = std::numeric_limits<T>;
  if (v.is_int64()) {
    const auto i = v.get_int64();
    if constexpr (std::is_signed_v<T>) {
      if (i >= limits::min() && i <= limits::max()) {
        x = static_cast<T>(i);
        return std::nullopt;
      }
    } else {
      if (i >= 0 && static_cast<std::uint64_t>(i) <= limits::max()) {
        x = static_cast<T>(i);
        return std::nullopt;
      }
    }
    return error_at(path, "invalid", "integer out of range");
  }
  if (v.is_uint64()) {
    const auto u = v.get_uint64();
    if (u <= static_cast<std::uint64_t>(limits::max())) {
      x = static_cast<T>(u);
      return std::nullopt;
    }
    return error_at(path, "invalid", "integer out of range");
  }
  return wrong_type(path, "an integer", v);
}

template <class T>
status decode(const json::value& v, const path_ref& path, T& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string())
      return wrong_type(path, "a string", v);
    const auto& str = v.get_string();
    x.assign(str.data(), str.size());
    return std::nullopt;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool())
      return wrong_type(path, "a boolean", v);
    x = v.get_bool();
    return std::nullopt;
  } else if constexpr (std::is_enum_v<T>) {
    if (!v.is_string())
      return wrong_type(path, "a string", v);
    const auto& str = v.get_string();
    if (parse_enum(std::string_view{str.data(), str.size()}, x))
      return std::nullopt;
    return error_at(path, "unknown_value",
                    "unknown value \"" + std::string{str.data(), str.size()}
                        + "\" (expected one of: " + expected_names<T>() + ")");
  } else if constexpr (std::is_integral_v<T>) {
    return decode_int(v, path, x);
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array())
      return wrong_type(path, "an array", v);
    const auto& arr = v.get_array();
    x.clear();
    x.resize(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i)
      if (auto err = decode(arr[i], path.element(i), x[i]))
        return err;
    return std::nullopt;
  } else if constexpr (is_string_map<T>::value) {
    if (!v.is_object())
      return wrong_type(path, "an object", v);
    x.clear();
    for (const auto& kv : v.get_object()) {
      std::string key{kv.key().data(), kv.key().size()};
      auto& item = x[key];
      if (auto err = decode(kv.value(), path.member(key), item))
        return err;
    }
    return std::nullopt;
  } else {
    if (!v.is_object())
      return wrong_type(path, "an object", v);
    reader r{v.get_object(), path};
    fields(r, x);
    checks(r, x);
    return std::move(r).result();
  }
}

/// Parses `text` into values whose memory comes from `sp`.
expected<json::value, decode_error> parse_in(std::string_view text,
                                             json::storage_ptr sp) {
  try {
    boost::system::error_code ec;
    auto result
        = json::parse(json::string_view{text.data(), text.size()}, ec, sp);
    if (ec)
      return make_unexpected(
          decode_error{"", "malformed", "malformed JSON: " + ec.message()});
    return result;
  } catch (const std::exception& e) {
    return make_unexpected(decode_error{"", "malformed", e.what()});
  }
}

} // namespace

// -- public API ---------------------------------------------------------------

expected<json::value, decode_error> parse_json(std::string_view text) {
  return parse_in(text, {});
}

void append_member(std::string& object, std::string_view key,
                   std::string_view value) {
  if (object.empty() || object.back() != '}')
    object = "{}"; // not an object: the member alone
  object.pop_back();
  if (object.size() > 1)
    object += ',';
  append_string(object, key);
  object += ':';
  object += value;
  object += '}';
}

void append_string_member(std::string& object, std::string_view key,
                          std::string_view value) {
  std::string text;
  text.reserve(value.size() + 2);
  append_string(text, value);
  append_member(object, key, text);
}

std::string serialize_json(const json::value& v) {
  return json::serialize(v);
}

template <class T>
expected<T, decode_error> from_json(const json::value& v) {
  try {
    T result{};
    if (auto err = decode(v, path_ref{}, result))
      return make_unexpected(std::move(*err));
    return result;
  } catch (const std::exception& e) {
    return make_unexpected(decode_error{"", "invalid", e.what()});
  }
}

template <class T>
expected<T, decode_error> from_json_text(std::string_view text) {
  // The document is read and dropped here: its nodes are carved out of a
  // buffer on the stack (blocks after it when it is too small), released
  // all at once, instead of an allocation and a free for each.
  unsigned char buf[4096];
  json::monotonic_resource mr{buf, sizeof buf};
  auto v = parse_in(text, json::storage_ptr{&mr});
  if (!v)
    return make_unexpected(std::move(v.error()));
  return from_json<T>(*v);
}

#define SWITCHBOARD_DEFINE_CODEC(type)                                         \
  json::value to_json(const type& x) {                                         \
    return encode(x);                                                          \
  }                                                                            \
  std::string to_json_text(const type& x) {                                    \
    std::string out;                                                           \
    out.reserve(256);                                                          \
    append_text(out, x);                                                       \
    return out;                                                                \
  }                                                                            \
  template expected<type, decode_error> from_json<type>(const json::value&);   \
  template expected<type, decode_error> from_json_text<type>(std::string_view);
#define SWITCHBOARD_DEFINE_EVENT_CODEC(type, ...) SWITCHBOARD_DEFINE_CODEC(type)
SWITCHBOARD_EVENT_TYPES(SWITCHBOARD_DEFINE_EVENT_CODEC)
SWITCHBOARD_VALUE_TYPES(SWITCHBOARD_DEFINE_CODEC)
#undef SWITCHBOARD_DEFINE_EVENT_CODEC
#undef SWITCHBOARD_DEFINE_CODEC

namespace detail {

expected<void, decode_error> check_type(const envelope& env,
                                        std::string_view wire_name) {
  if (env.type != wire_name) {
    std::string what = "expected event type ";
    what += wire_name;
    what += ", got \"" + env.type + '"';
    return make_unexpected(error_at("type", "invalid", std::move(what)));
  }
  return {};
}

decode_error in_payload(decode_error err) {
  err.field = err.field.empty() ? "data" : "data." + err.field;
  err.message = "data: " + err.message;
  return err;
}

} // namespace detail

expected<void, decode_error> validate(const envelope& env) {
  if (env.id.empty())
    return make_unexpected(error_at("id", "missing", "required field"));
  if (env.aggregate_id.empty())
    return make_unexpected(
        error_at("aggregate_id", "missing", "required field"));
  const auto* info = find_event_type(env.type);
  if (info == nullptr)
    return make_unexpected(error_at("type", "unknown_value",
                                    "unknown event type \"" + env.type + '"'));
  if (env.aggregate_type != info->aggregate_type)
    return make_unexpected(
        error_at("aggregate_type", "invalid",
                 "expected \"" + std::string{info->aggregate_type} + "\" for "
                     + env.type + ", got \"" + env.aggregate_type + '"'));
  auto checked = info->validate(env.data);
  if (!checked)
    return make_unexpected(detail::in_payload(checked.error()));
  return {};
}

} // namespace switchboard
