#pragma once

// A company's branches (its locations), each kept as a company setting
// "branch:<id>", and the time zone that the staff and appointments at a
// branch keep: the branch's own, else the company's. Set with
// `POST /api/branches` and `PATCH /api/branches/{id}`.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <actors/settings_body.hpp>
#include <messages/entities.hpp>
#include <messages/expected.hpp>
#include <messages/time_zone.hpp>

namespace switchboard::store {
class tenants;
} // namespace switchboard::store

namespace switchboard {

/// Longest branch id: the setting name "branch:<id>" holds at most 64 bytes.
inline constexpr std::size_t max_branch_id_size = 57;

/// The tenants setting that holds branch `id`.
std::string branch_setting(std::string_view id);

/// A branch as kept: the entity and its IANA time zone.
struct branch_record {
  branch b;
  /// "Europe/Berlin"; empty: the company's zone.
  std::string time_zone;
};

/// Field → problem, as the HTTP layer reports them.
using branch_problems = field_problems;

/// Reads a branch from a request body (JSON text) over `keep`: `name`
/// (required unless `keep` has one), `address`, `phone` (strings of at
/// most 255 bytes) and `time_zone` (a zone time_zone::load knows; null or
/// "" for the company's). Other members are ignored; `keep`'s id and
/// company stay. Errors name each bad field.
expected<branch_record, branch_problems>
parse_branch_body(std::string_view text, const branch_record& keep = {});

/// The JSON text a branch is kept and shown as: id, company_id, name,
/// address, phone and time_zone (null when the company's applies).
std::string to_branch_json(const branch_record& r);

/// The branch `id` of `company_id` kept as `text` (to_branch_json's form);
/// nothing when it does not decode.
std::optional<branch_record> decode_branch(const std::string& company_id,
                                           const std::string& id,
                                           std::string_view text);

/// Branch `id` of company `company_id`: nothing when there is none (or
/// when its record does not decode, or `tenants` is null).
std::optional<branch_record> find_branch(const store::tenants* tenants,
                                         const std::string& company_id,
                                         const std::string& id);

/// The time zone of `company_id` (UTC when it has none, or no `tenants`).
time_zone company_zone(const store::tenants* tenants,
                       const std::string& company_id);

/// The zone whose wall-clock times the staff and the appointments at branch
/// `branch_id` of `company_id` keep: the branch's own when it has one, else
/// the company's (`branch_id` empty or unknown: the company's).
time_zone zone_at(const store::tenants* tenants, const std::string& company_id,
                  const std::string& branch_id);

/// While one lives on a thread, `zone_at` there reads each (company,
/// branch) once and answers from memory after: a catch-up reader's batch
/// asks for the same zone with nearly every event, and each ask read a
/// branch setting and the company record. A change of zone is seen by the
/// next batch. Scopes nest (the outermost one keeps the memory); not
/// copied or moved.
class zone_memo_scope {
public:
  zone_memo_scope();
  ~zone_memo_scope();
  zone_memo_scope(const zone_memo_scope&) = delete;
  zone_memo_scope& operator=(const zone_memo_scope&) = delete;

private:
  bool outermost_;
};

} // namespace switchboard
