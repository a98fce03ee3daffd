#include "app/import_formats.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>

#include <boost/json.hpp>

#include <app/cli_common.hpp>
#include <messages/cloudevents.hpp>
#include <messages/json.hpp>
#include <messages/php_class.hpp>
#include <messages/registry.hpp>
#include <messages/time.hpp>

namespace switchboard::app {

namespace json = boost::json;

namespace {

/// A Laravel row: column name to its text (or JSON value).
using row = std::map<std::string, json::value>;

std::string text_of(const json::value& v) {
  if (v.is_string())
    return std::string{v.get_string()};
  if (v.is_null())
    return {};
  return json::serialize(v);
}

/// Splits CSV text (RFC 4180: quoted fields may hold commas, doubled
/// quotes and line breaks) into records, each with the line it starts on.
expected<std::vector<std::pair<std::size_t, std::vector<std::string>>>,
         bad_record>
parse_csv(const std::string& text) {
  std::vector<std::pair<std::size_t, std::vector<std::string>>> out;
  std::vector<std::string> fields;
  std::string field;
  std::size_t line = 1;
  std::size_t start = 1;
  bool quoted = false;
  bool was_quoted = false;
  bool any = false;
  auto end_field = [&] {
    fields.push_back(std::move(field));
    field.clear();
    was_quoted = false;
  };
  auto end_record = [&] {
    if (any) {
      end_field();
      out.emplace_back(start, std::move(fields));
    }
    fields.clear();
    field.clear();
    any = false;
    was_quoted = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n')
          ++line;
        field += c;
      }
      continue;
    }
    if (!any)
      start = line;
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
      continue;
    if (c == '\n') {
      end_record();
      ++line;
      continue;
    }
    any = true;
    if (c == ',') {
      end_field();
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = true;
      was_quoted = true;
    } else if (c == '"' || was_quoted) {
      return make_unexpected(
          bad_record{line, "",
                     "invalid CSV: a quote inside an unquoted field, or text "
                     "after a closing quote"});
    } else {
      field += c;
    }
  }
  if (quoted)
    return make_unexpected(
        bad_record{start, "", "invalid CSV: a quoted field is not closed"});
  end_record();
  return out;
}

/// A Laravel column holding JSON: an object, or its JSON text (how MySQL
/// exports a json column). Null, "", "NULL" and "\N" are no value.
expected<std::optional<json::object>, std::string>
json_column(const row& r, const std::string& name) {
  auto i = r.find(name);
  if (i == r.end() || i->second.is_null())
    return std::optional<json::object>{};
  if (const auto* o = i->second.if_object())
    return std::optional<json::object>{*o};
  if (!i->second.is_string())
    return make_unexpected(std::string{"wrong_type: expects a JSON object"});
  std::string_view s = i->second.get_string();
  if (s.empty() || s == "NULL" || s == "\\N")
    return std::optional<json::object>{};
  json::error_code ec;
  auto v = json::parse(s, ec);
  if (ec)
    return make_unexpected("invalid: not JSON (" + ec.message() + ")");
  if (!v.is_object())
    return make_unexpected(std::string{"wrong_type: expects a JSON object"});
  return std::optional<json::object>{std::move(v.get_object())};
}

/// Decodes one Laravel row into a record (its company still unknown when
/// the row does not name one).
expected<record, bad_record> from_laravel(const row& r, std::size_t line) {
  record rec;
  rec.line = line;
  auto fail = [&](std::string field, std::string problem) {
    return make_unexpected(
        bad_record{line, std::move(field), std::move(problem)});
  };
  for (const char* col : {"aggregate_type", "aggregate_id", "event_type",
                          "version", "occurred_at"})
    if (r.count(col) == 0 || text_of(r.at(col)).empty())
      return fail(col, "missing");
  auto type_text = text_of(r.at("event_type"));
  const auto* info = type_text.find('.') != std::string::npos
                         ? find_event_type(type_text)
                         : find_event_type_by_class(type_text);
  if (info == nullptr)
    return fail("event_type", "unknown_value: no event type for " + type_text);
  rec.env.type = std::string{info->wire_name};
  auto agg = php_class_snake_name(text_of(r.at("aggregate_type")));
  if (agg != info->aggregate_type)
    return fail("aggregate_type", "invalid: " + rec.env.type + " belongs to "
                                      + std::string{info->aggregate_type}
                                      + ", not " + agg);
  rec.env.aggregate_type = std::move(agg);
  rec.env.aggregate_id = text_of(r.at("aggregate_id"));
  const auto& v = r.at("version");
  std::optional<std::uint64_t> version;
  if (v.is_uint64() || (v.is_int64() && v.get_int64() > 0))
    version = v.to_number<std::uint64_t>();
  else if (v.is_string())
    if (auto n = cli::to_uint("version", std::string{v.get_string()}); n)
      version = *n;
  if (!version || *version == 0)
    return fail("version", "invalid: expects an integer >= 1");
  rec.version = *version;
  auto when = text_of(r.at("occurred_at"));
  auto t = parse_rfc3339(when);
  if (!t) // MySQL's "2024-01-15 10:30:00": UTC.
    t = parse_rfc3339(when + "Z");
  if (!t)
    return fail("occurred_at", "bad_timestamp: expects a time such as "
                               "2024-01-15 10:30:00 or RFC 3339");
  rec.env.occurred_at = *t;
  auto data = json_column(r, "event_data");
  if (!data)
    return fail("event_data", data.error());
  if (!*data)
    return fail("event_data", "missing");
  rec.env.data = serialize_json(json::value(std::move(**data)));
  auto md = json_column(r, "metadata");
  if (!md)
    return fail("metadata", md.error());
  if (*md) {
    auto m = from_json<event_metadata>(json::value(std::move(**md)));
    if (!m)
      return fail("metadata." + m.error().field, m.error().problem);
    rec.env.metadata = std::move(*m);
  }
  if (auto i = r.find("company_id"); i != r.end())
    rec.env.company_id = text_of(i->second);
  return rec;
}

} // namespace

expected<std::vector<record>, bad_record> read_records(const std::string& text,
                                                       file_format fmt) {
  std::vector<record> out;
  if (fmt == file_format::laravel_csv) {
    auto rows = parse_csv(text);
    if (!rows)
      return make_unexpected(rows.error());
    if (rows->empty())
      return out;
    const auto& header = rows->front().second;
    for (const char* col : {"aggregate_type", "aggregate_id", "event_type",
                            "event_data", "metadata", "version", "occurred_at"})
      if (std::find(header.begin(), header.end(), col) == header.end())
        return make_unexpected(bad_record{
            1, col,
            "missing: the header row has no column " + std::string{col}});
    for (std::size_t i = 1; i < rows->size(); ++i) {
      const auto& [line, fields] = (*rows)[i];
      if (fields.size() != header.size())
        return make_unexpected(bad_record{
            line, "",
            "invalid CSV: " + std::to_string(fields.size())
                + " fields, the header has " + std::to_string(header.size())});
      row r;
      for (std::size_t k = 0; k < header.size(); ++k)
        r[header[k]] = json::string(fields[k]);
      auto rec = from_laravel(r, line);
      if (!rec)
        return make_unexpected(rec.error());
      out.push_back(std::move(*rec));
    }
    return out;
  }
  std::istringstream in{text};
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    json::error_code ec;
    auto v = json::parse(line, ec);
    if (ec)
      return make_unexpected(
          bad_record{n, "", "invalid JSON: " + ec.message()});
    if (!v.is_object())
      return make_unexpected(
          bad_record{n, "", "wrong_type: a line must be a JSON object"});
    if (fmt == file_format::cloudevents) {
      auto env = from_cloudevent(v);
      if (!env)
        return make_unexpected(
            bad_record{n, env.error().field,
                       env.error().problem + ": " + env.error().message});
      record rec;
      rec.line = n;
      rec.has_event_id = true;
      rec.version = env->version;
      rec.env = std::move(*env);
      rec.env.version = 0;
      rec.env.sequence = 0;
      out.push_back(std::move(rec));
    } else {
      row r;
      for (const auto& kv : v.get_object())
        r[std::string{kv.key()}] = kv.value();
      auto rec = from_laravel(r, n);
      if (!rec)
        return make_unexpected(rec.error());
      out.push_back(std::move(*rec));
    }
  }
  return out;
}

std::string file_field(std::string field, file_format fmt) {
  if (fmt == file_format::cloudevents)
    return field;
  if (field == "data" || field.rfind("data.", 0) == 0)
    return "event_data" + field.substr(4);
  if (field == "type")
    return "event_type";
  return field;
}

} // namespace switchboard::app
