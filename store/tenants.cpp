#include "store/tenants.hpp"
#include "store/cursor_detail.hpp"
#include "store/hex.hpp"
#include "store/hmac.hpp"
#include "store/lmdb_util.hpp"

#include "store/record.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace switchboard::store {

namespace {

constexpr std::uint8_t company_format_v1 = 1;
/// v1 and the time zone.
constexpr std::uint8_t company_format_v2 = 2;
constexpr std::uint8_t token_format_v1 = 1;
/// v1 and the user and expiry.
constexpr std::uint8_t token_format_v2 = 2;
constexpr std::size_t max_company_id = 128;

bool valid_user_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id)
    if (static_cast<unsigned char>(c) <= 0x20
        || static_cast<unsigned char>(c) >= 0x7f)
      return false;
  return true;
}

bool valid_company_id(std::string_view id) {
  if (id.empty() || id.size() > max_company_id)
    return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

result<company_record> decode_company(const MDB_val& k, const MDB_val& v) {
  return record_reader::decode<company_record>(
      v.mv_data, v.mv_size, company_format_v1, company_format_v2,
      "tenants record", [&](record_reader& r, company_record& c) {
        c.id.assign(static_cast<const char*>(k.mv_data), k.mv_size);
        c.name = r.str();
        c.created_at = r.i64();
        if (r.format_read() == company_format_v2)
          c.time_zone = r.str();
      });
}

result<token_record> decode_token(const MDB_val& k, const MDB_val& v) {
  return record_reader::decode<token_record>(
      v.mv_data, v.mv_size, token_format_v1, token_format_v2, "token record",
      [&](record_reader& r, token_record& t) {
        t.hash_prefix
            = to_hex(static_cast<const unsigned char*>(k.mv_data), k.mv_size)
                  .substr(0, 12);
        t.company_id = r.str();
        t.admin = r.u64() != 0;
        t.created_at = r.i64();
        if (r.format_read() == token_format_v2) {
          t.user_id = r.str();
          t.expires_at = r.i64();
        }
      });
}

/// The stored record of company `id` in `companies`. Errors:
/// `errc::not_found` ("no company <id>", then `hint`), LMDB errors.
result<MDB_val> stored_company(MDB_txn* txn, MDB_dbi companies,
                               std::string_view id,
                               std::string_view hint = {}) {
  auto key = as_val(id);
  MDB_val val;
  auto rc = mdb_get(txn, companies, &key, &val);
  if (rc == MDB_NOTFOUND)
    return fail(errc::not_found,
                "no company " + std::string{id} + std::string{hint});
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(tenants)");
  return val;
}

/// Calls `fn(key, val)` for every entry of `dbi`, in key order; an error
/// it returns ends the walk. `name` names the database in an error.
template <class F>
result<void> each_row(MDB_txn* txn, MDB_dbi dbi, std::string_view name, F fn) {
  auto what = [name](const char* step) {
    return std::string{step} + "(" + std::string{name} + ")";
  };
  return cursor_detail::each_entry(
      txn, dbi, what("mdb_cursor_open").c_str(), what("mdb_cursor_get").c_str(),
      [&](std::string_view k, const MDB_val& v) -> result<void> {
        return fn(as_val(k), v);
      });
}

} // namespace

result<std::unique_ptr<tenants>> tenants::open(environment& env) {
  MDB_dbi c{}, t{}, s{}, r{};
  if (auto ok = open_dbs(env, {{"tenants", 0, &c},
                               {"tenant_tokens", 0, &t},
                               {"tenant_settings", 0, &s},
                               {"tenant_revoked", 0, &r}});
      !ok)
    return make_unexpected(ok.error());
  return std::unique_ptr<tenants>{new tenants(env, c, t, s, r)};
}

std::string tenants::hash_token(std::string_view token) {
  return sha256_bytes(token);
}

result<void> tenants::add_company_in(write_txn& txn, const company_record& c) {
  if (!valid_company_id(c.id))
    return fail(errc::invalid_argument,
                "company id must be 1 to 128 characters of [A-Za-z0-9_.-]");
  if (c.name.size() > 255)
    return fail(errc::invalid_argument, "company name longer than 255 bytes");
  if (c.time_zone.size() > 64)
    return fail(errc::invalid_argument, "time zone longer than 64 bytes");
  record_writer w{company_format_v2};
  w.str(c.name).i64(c.created_at).str(c.time_zone);
  auto key = as_val(c.id);
  auto val = as_val(w.bytes());
  auto rc = mdb_put(txn.handle(), companies_, &key, &val, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST)
    return fail(errc::invalid_argument, "company " + c.id + " exists");
  if (rc != 0)
    return fail_mdb(rc, "mdb_put(tenants)");
  return {};
}

result<std::string> tenants::issue_token_in(write_txn& txn,
                                            std::string_view company_id,
                                            bool admin, timestamp_ms now) {
  token_options opts;
  opts.admin = admin;
  return issue_token_in(txn, company_id, opts, now);
}

result<std::string> tenants::issue_token_in(write_txn& txn,
                                            std::string_view company_id,
                                            const token_options& opts,
                                            timestamp_ms now) {
  if (!opts.user_id.empty() && !valid_user_id(opts.user_id))
    return fail(errc::invalid_argument,
                "user must be 1 to 128 printable ASCII characters without "
                "whitespace");
  if (auto found = stored_company(txn.handle(), companies_, company_id,
                                  " (add it with `switchboard tenant add`)");
      !found)
    return make_unexpected(found.error());
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return fail(errc::internal, "RAND_bytes failed");
  auto token = std::string{token_prefix} + to_hex(raw, sizeof raw);
  auto hash = hash_token(token);
  record_writer w{token_format_v2};
  w.str(company_id)
      .u64(opts.admin ? 1 : 0)
      .i64(now)
      .str(opts.user_id)
      .i64(opts.expires_at);
  auto tk = as_val(hash);
  auto tv = as_val(w.bytes());
  if (auto rc = mdb_put(txn.handle(), tokens_, &tk, &tv, MDB_NOOVERWRITE);
      rc != 0)
    return fail_mdb(rc, "mdb_put(tenant_tokens)");
  return token;
}

template <class F>
auto tenants::in_own_txn(F&& f) -> decltype(f(std::declval<write_txn&>())) {
  auto txn = env_.begin_write();
  if (!txn)
    return make_unexpected(txn.error());
  auto res = f(*txn);
  if (!res)
    return res;
  if (auto c = txn->commit(); !c)
    return make_unexpected(c.error());
  // The environment may skip the meta-page sync in commits (the daemon's
  // writer syncs it); sync here so that "added" means durable.
  if (auto s = env_.sync(); !s)
    return make_unexpected(s.error());
  return res;
}

result<void> tenants::add_company(const company_record& c) {
  return in_own_txn([&](write_txn& txn) {
    return add_company_in(txn, c);
  });
}

result<void> tenants::set_time_zone(std::string_view id,
                                    std::string_view zone) {
  if (zone.size() > 64)
    return fail(errc::invalid_argument, "time zone longer than 64 bytes");
  return in_own_txn([&](write_txn& txn) -> result<void> {
    auto val = stored_company(txn.handle(), companies_, id);
    if (!val)
      return make_unexpected(val.error());
    auto key = as_val(id);
    auto c = decode_company(key, *val);
    if (!c)
      return make_unexpected(c.error());
    record_writer w{company_format_v2};
    w.str(c->name).i64(c->created_at).str(std::string{zone});
    auto out = as_val(w.bytes());
    if (auto rc = mdb_put(txn.handle(), companies_, &key, &out, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(tenants)");
    return {};
  });
}

namespace {

std::string setting_key(std::string_view id, std::string_view name) {
  std::string key{id};
  key.push_back('\0');
  key.append(name);
  return key;
}

} // namespace

result<void> tenants::set_setting_in(write_txn& txn, std::string_view id,
                                     std::string_view name,
                                     std::string_view value) {
  if (name.empty() || name.size() > 64)
    return fail(errc::invalid_argument, "a setting name has 1 to 64 bytes");
  if (value.size() > 64 * 1024)
    return fail(errc::invalid_argument,
                "setting " + std::string{name} + " is over 64 KiB");
  if (auto found = stored_company(txn.handle(), companies_, id); !found)
    return make_unexpected(found.error());
  auto key_text = setting_key(id, name);
  auto key = as_val(key_text);
  auto val = as_val(value);
  if (auto rc = mdb_put(txn.handle(), settings_, &key, &val, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(tenant_settings)");
  return {};
}

result<void> tenants::set_setting(std::string_view id, std::string_view name,
                                  std::string_view value) {
  return in_own_txn([&](write_txn& txn) {
    return set_setting_in(txn, id, name, value);
  });
}

result<std::string> tenants::setting(std::string_view id,
                                     std::string_view name) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  return setting_at(rtxn->handle(), id, name);
}

result<std::vector<std::pair<std::string, std::string>>>
tenants::settings_of(std::string_view id) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  std::vector<std::pair<std::string, std::string>> out;
  auto prefix = setting_key(id, "");
  auto walked = cursor_detail::each_with_prefix(
      rtxn->handle(), settings_, prefix, "mdb_cursor_open(tenant_settings)",
      "mdb_cursor_get(tenant_settings)",
      [&](std::string_view k, const MDB_val& val) {
        out.emplace_back(std::string{k.substr(prefix.size())},
                         std::string{as_view(val)});
      });
  if (!walked)
    return make_unexpected(walked.error());
  return out;
}

result<std::string> tenants::setting_in(write_txn& txn, std::string_view id,
                                        std::string_view name) const {
  return setting_at(txn.handle(), id, name);
}

result<std::string> tenants::setting_at(MDB_txn* txn, std::string_view id,
                                        std::string_view name) const {
  auto key_text = setting_key(id, name);
  auto key = as_val(key_text);
  MDB_val val;
  auto rc = mdb_get(txn, settings_, &key, &val);
  if (rc == MDB_NOTFOUND)
    return fail(errc::not_found, "company " + std::string{id} + " has no "
                                     + std::string{name} + " settings");
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(tenant_settings)");
  return std::string{static_cast<const char*>(val.mv_data), val.mv_size};
}

result<std::string> tenants::issue_token(std::string_view company_id,
                                         bool admin, timestamp_ms now) {
  return in_own_txn([&](write_txn& txn) {
    return issue_token_in(txn, company_id, admin, now);
  });
}

result<std::string> tenants::issue_token(std::string_view company_id,
                                         const token_options& opts,
                                         timestamp_ms now) {
  return in_own_txn([&](write_txn& txn) {
    return issue_token_in(txn, company_id, opts, now);
  });
}

result<std::size_t> tenants::revoke_in(write_txn& txn,
                                       std::string_view token_or_prefix) {
  std::vector<std::string> keys;
  if (token_or_prefix.substr(0, token_prefix.size()) == token_prefix) {
    keys.push_back(hash_token(token_or_prefix));
  } else {
    std::string prefix;
    for (char c : token_or_prefix) {
      if (c == '.' || c == static_cast<char>(0xe2))
        break; // "abc…" as `tenant list` shows it
      prefix.push_back(
          static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (prefix.size() < 8
        || prefix.find_first_not_of("0123456789abcdef") != std::string::npos)
      return fail(errc::invalid_argument,
                  "expects a token or at least 8 hex digits of its hash "
                  "prefix");
    auto walked = cursor_detail::each_entry(
        txn.handle(), tokens_, "mdb_cursor_open(tenant_tokens)",
        "mdb_cursor_get(tenant_tokens)",
        [&](std::string_view k, const MDB_val&) {
          auto hex = to_hex(reinterpret_cast<const unsigned char*>(k.data()),
                            k.size());
          if (hex.compare(0, prefix.size(), prefix) == 0)
            keys.emplace_back(k);
        });
    if (!walked)
      return make_unexpected(walked.error());
    if (keys.size() > 1)
      return fail(errc::invalid_argument, "the prefix matches "
                                              + std::to_string(keys.size())
                                              + " tokens; give more digits");
  }
  std::size_t deleted = 0;
  for (const auto& key : keys) {
    auto k = as_val(key);
    auto rc = mdb_del(txn.handle(), tokens_, &k, nullptr);
    if (rc == MDB_NOTFOUND)
      continue;
    if (rc != 0)
      return fail_mdb(rc, "mdb_del(tenant_tokens)");
    MDB_val none{0, nullptr};
    if (rc = mdb_put(txn.handle(), revoked_, &k, &none, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(tenant_revoked)");
    ++deleted;
  }
  if (deleted == 0)
    return fail(errc::not_found, "no such token");
  return deleted;
}

result<std::size_t> tenants::revoke(std::string_view token_or_prefix) {
  return in_own_txn([&](write_txn& txn) {
    return revoke_in(txn, token_or_prefix);
  });
}

tenants::tenants(environment& env, MDB_dbi companies, MDB_dbi tokens,
                 MDB_dbi settings, MDB_dbi revoked)
    : env_(env), companies_(companies), tokens_(tokens), settings_(settings),
      revoked_(revoked) {
  static std::atomic<std::uint64_t> instances{0};
  instance_ = ++instances;
}

result<principal> tenants::resolve(std::string_view token) const {
  if (token.size() != token_prefix.size() + 64
      || token.substr(0, token_prefix.size()) != token_prefix)
    return fail(errc::not_found, "unknown token");
  // Each thread keeps its last answers, each with the id of the snapshot
  // it was read in: while that is still the last commit of any process,
  // the answer stands, without a hash and a lookup per request. (The
  // snapshot's id, not the last commit's id read before: LMDB publishes
  // a commit's id in the meta page before new readers see the commit.)
  struct answer {
    std::uint64_t instance;
    std::uint64_t snapshot;
    std::string token;
    principal who;
  };
  constexpr std::size_t max_answers = 16;
  thread_local std::vector<answer> answers;
  // Tokens are secrets: compared in constant time, as their hashes were.
  auto same = [&token](const std::string& t) {
    return t.size() == token.size()
           && CRYPTO_memcmp(t.data(), token.data(), t.size()) == 0;
  };
  auto last = env_.last_txn_id();
  auto live = [](const principal& who) -> result<principal> {
    if (who.expires_at != 0) {
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      if (now >= who.expires_at)
        return fail(errc::not_found, "expired token");
    }
    return who;
  };
  for (const auto& a : answers)
    if (a.instance == instance_ && a.snapshot == last && same(a.token))
      return live(a.who);
  std::uint64_t snapshot = 0;
  auto found = lookup(token, snapshot);
  if (!found)
    return found;
  auto i = std::find_if(answers.begin(), answers.end(), [&](const answer& a) {
    return a.instance == instance_ && same(a.token);
  });
  if (i != answers.end()) {
    i->snapshot = snapshot;
    i->who = *found;
  } else {
    if (answers.size() >= max_answers)
      answers.clear();
    answers.push_back({instance_, snapshot, std::string{token}, *found});
  }
  return live(*found);
}

result<principal> tenants::lookup(std::string_view token,
                                  std::uint64_t& snapshot) const {
  auto hash = hash_token(token);
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  snapshot = mdb_txn_id(rtxn->handle());
  auto key = as_val(hash);
  MDB_val val;
  auto rc = mdb_get(rtxn->handle(), tokens_, &key, &val);
  if (rc == MDB_NOTFOUND)
    return fail(errc::not_found, "unknown token");
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(tenant_tokens)");
  auto t = decode_token(key, val);
  if (!t)
    return make_unexpected(t.error());
  return principal{std::move(t->company_id), t->admin, std::move(t->user_id),
                   t->expires_at};
}

result<company_record> tenants::company(std::string_view id) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  auto val = stored_company(rtxn->handle(), companies_, id);
  if (!val)
    return make_unexpected(val.error());
  return decode_company(as_val(id), *val);
}

result<std::vector<company_record>> tenants::companies() const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  std::vector<company_record> out;
  auto read
      = each_row(rtxn->handle(), companies_, "tenants",
                 [&out](const MDB_val& k, const MDB_val& v) -> result<void> {
                   auto c = decode_company(k, v);
                   if (!c)
                     return make_unexpected(c.error());
                   out.push_back(std::move(*c));
                   return {};
                 });
  if (!read)
    return make_unexpected(read.error());
  return out;
}

result<std::vector<token_record>> tenants::tokens(std::string_view id) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  std::vector<token_record> out;
  auto read = each_row(
      rtxn->handle(), tokens_, "tenant_tokens",
      [&out, id](const MDB_val& k, const MDB_val& v) -> result<void> {
        auto t = decode_token(k, v);
        if (!t)
          return make_unexpected(t.error());
        if (id.empty() || t->company_id == id)
          out.push_back(std::move(*t));
        return {};
      });
  if (!read)
    return make_unexpected(read.error());
  return out;
}

namespace {

/// Every key and value of `dbi` in `txn`.
result<std::vector<std::pair<std::string, std::string>>> all_rows(MDB_txn* txn,
                                                                  MDB_dbi dbi) {
  std::vector<std::pair<std::string, std::string>> out;
  auto read
      = each_row(txn, dbi, "tenants rows",
                 [&out](const MDB_val& k, const MDB_val& v) -> result<void> {
                   out.emplace_back(as_view(k), as_view(v));
                   return {};
                 });
  if (!read)
    return make_unexpected(read.error());
  return out;
}

} // namespace

result<tenant_rows> tenants::rows() const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  tenant_rows out;
  auto c = all_rows(rtxn->handle(), companies_);
  if (!c)
    return make_unexpected(c.error());
  out.companies = std::move(*c);
  auto t = all_rows(rtxn->handle(), tokens_);
  if (!t)
    return make_unexpected(t.error());
  out.tokens = std::move(*t);
  auto r = all_rows(rtxn->handle(), revoked_);
  if (!r)
    return make_unexpected(r.error());
  for (auto& [k, v] : *r)
    out.revoked.push_back(std::move(k));
  return out;
}

result<std::size_t> tenants::merge_in(write_txn& txn, const tenant_rows& in) {
  std::size_t changed = 0;
  // Adds `k` → `v` to `dbi` unless `k` is there; counts what it adds.
  auto add_new = [&](MDB_dbi dbi, MDB_val k, MDB_val v,
                     const char* what) -> result<bool> {
    auto rc = mdb_put(txn.handle(), dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
      return false;
    if (rc != 0)
      return fail_mdb(rc, what);
    ++changed;
    return true;
  };
  for (const auto& hash : in.revoked) {
    if (hash.size() != 32)
      continue;
    auto k = as_val(hash);
    auto added
        = add_new(revoked_, k, MDB_val{0, nullptr}, "mdb_put(tenant_revoked)");
    if (!added)
      return make_unexpected(added.error());
    if (!*added)
      continue;
    auto rc = mdb_del(txn.handle(), tokens_, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_del(tenant_tokens)");
  }
  for (const auto& [id, value] : in.companies) {
    auto k = as_val(id);
    auto v = as_val(value);
    if (!valid_company_id(id) || !decode_company(k, v))
      continue;
    if (auto added = add_new(companies_, k, v, "mdb_put(tenants)"); !added)
      return make_unexpected(added.error());
  }
  for (const auto& [hash, value] : in.tokens) {
    auto k = as_val(hash);
    auto v = as_val(value);
    if (hash.size() != 32 || !decode_token(k, v))
      continue;
    MDB_val found;
    auto rc = mdb_get(txn.handle(), revoked_, &k, &found);
    if (rc == 0)
      continue;
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_get(tenant_revoked)");
    if (auto added = add_new(tokens_, k, v, "mdb_put(tenant_tokens)"); !added)
      return make_unexpected(added.error());
  }
  return changed;
}

} // namespace switchboard::store
