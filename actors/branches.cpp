#include "actors/branches.hpp"
#include "actors/settings_body.hpp"

#include <boost/json.hpp>

#include <map>
#include <tuple>

#include <messages/json_string.hpp>
#include <store/tenants.hpp>

namespace switchboard {

namespace {

namespace json = boost::json;

constexpr std::size_t max_text_size = 255;

} // namespace

std::string branch_setting(std::string_view id) {
  return "branch:" + std::string{id};
}

expected<branch_record, branch_problems>
parse_branch_body(std::string_view text, const branch_record& keep) {
  branch_problems errs;
  auto body = settings_object(
      text, {"id", "name", "address", "phone", "time_zone"}, errs);
  if (!body)
    return make_unexpected(errs);
  const auto& o = *body;
  auto out = keep;
  for (auto [key, slot] :
       {std::pair{"name", &out.b.name}, std::pair{"address", &out.b.address},
        std::pair{"phone", &out.b.phone}}) {
    const auto* f = o.if_contains(key);
    if (f == nullptr || (f->is_null() && std::string_view{key} != "name"))
      continue;
    if (!f->is_string())
      errs[key] = "wrong_type: expects a string";
    else if (f->get_string().size() > max_text_size)
      errs[key] = "invalid: longer than 255 bytes";
    else
      *slot = std::string{f->get_string()};
  }
  if (out.b.name.empty() && errs.count("name") == 0)
    errs["name"] = "missing: a branch needs a name";
  if (const auto* tz = o.if_contains("time_zone")) {
    if (tz->is_null() || (tz->is_string() && tz->get_string().empty())) {
      out.time_zone.clear();
    } else if (!tz->is_string()) {
      errs["time_zone"] = "wrong_type: expects an IANA zone name such as "
                          "Europe/Berlin";
    } else {
      std::string name{tz->get_string()};
      if (auto loaded = time_zone::load(name); !loaded)
        errs["time_zone"] = "invalid: " + loaded.error();
      else
        out.time_zone = std::move(name);
    }
  }
  if (!errs.empty())
    return make_unexpected(errs);
  return out;
}

std::string to_branch_json(const branch_record& r) {
  json::object o{{"id", r.b.id},
                 {"company_id", r.b.company_id},
                 {"name", r.b.name},
                 {"address", r.b.address},
                 {"phone", r.b.phone},
                 {"time_zone", r.time_zone.empty() ? json::value(nullptr)
                                                   : json::value(r.time_zone)}};
  return json::serialize(o);
}

std::optional<branch_record> find_branch(const store::tenants* tenants,
                                         const std::string& company_id,
                                         const std::string& id) {
  if (tenants == nullptr || id.empty() || id.size() > max_branch_id_size)
    return std::nullopt;
  auto text = tenants->setting(company_id, branch_setting(id));
  if (!text)
    return std::nullopt;
  return decode_branch(company_id, id, *text);
}

std::optional<branch_record> decode_branch(const std::string& company_id,
                                           const std::string& id,
                                           std::string_view text) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  const auto& o = v.get_object();
  branch_record r;
  r.b.id = id;
  r.b.company_id = company_id;
  r.b.name = str_of(o, "name");
  r.b.address = str_of(o, "address");
  r.b.phone = str_of(o, "phone");
  r.time_zone = str_of(o, "time_zone");
  return r;
}

time_zone company_zone(const store::tenants* tenants,
                       const std::string& company_id) {
  if (tenants == nullptr)
    return {};
  auto c = tenants->company(company_id);
  if (!c || c->time_zone.empty())
    return {};
  auto tz = time_zone::load(c->time_zone);
  return tz ? *tz : time_zone{};
}

namespace {

/// The zones read under this thread's zone_memo_scope, by tenants
/// instance, company and branch; null when no scope is open.
using zone_memo
    = std::map<std::tuple<const store::tenants*, std::string, std::string>,
               time_zone>;
thread_local zone_memo* open_memo = nullptr;

time_zone read_zone(const store::tenants* tenants,
                    const std::string& company_id,
                    const std::string& branch_id) {
  if (auto b = find_branch(tenants, company_id, branch_id);
      b && !b->time_zone.empty())
    if (auto tz = time_zone::load(b->time_zone))
      return *tz;
  return company_zone(tenants, company_id);
}

} // namespace

time_zone zone_at(const store::tenants* tenants, const std::string& company_id,
                  const std::string& branch_id) {
  if (open_memo == nullptr)
    return read_zone(tenants, company_id, branch_id);
  auto key = std::make_tuple(tenants, company_id, branch_id);
  if (auto i = open_memo->find(key); i != open_memo->end())
    return i->second;
  auto tz = read_zone(tenants, company_id, branch_id);
  open_memo->emplace(std::move(key), tz);
  return tz;
}

zone_memo_scope::zone_memo_scope() : outermost_(open_memo == nullptr) {
  if (outermost_)
    open_memo = new zone_memo;
}

zone_memo_scope::~zone_memo_scope() {
  if (outermost_) {
    delete open_memo;
    open_memo = nullptr;
  }
}

} // namespace switchboard
