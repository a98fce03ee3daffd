#pragma once

#include "messages/envelope.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::store {

/// A company (tenant): every event, job and message it owns carries its id.
struct company_record {
  std::string id; ///< 1 to 128 bytes of [A-Za-z0-9_.-].
  std::string name;
  timestamp_ms created_at = 0;
  /// IANA time zone of its working hours, availability and messages to
  /// customers ("Europe/Berlin"); empty: UTC.
  std::string time_zone;
};

/// Who a bearer token speaks for: one company, with or without admin
/// rights (admin routes: failed jobs, queues, other companies' data).
struct principal {
  std::string company_id;
  bool admin = false;
  /// The user the token was issued to ("" when none was named): the user
  /// of the audit records its requests make.
  std::string user_id;
  /// When the token stops working (0: never).
  timestamp_ms expires_at = 0;
};

/// A stored token, as listed (the token itself is never stored).
struct token_record {
  std::string hash_prefix; ///< First 12 hex digits of its SHA-256.
  std::string company_id;
  bool admin = false;
  timestamp_ms created_at = 0;
  std::string user_id;         ///< "" when none was named.
  timestamp_ms expires_at = 0; ///< 0: never.
};

/// What a new token is issued with.
struct token_options {
  bool admin = false;
  /// The user it acts for: 1 to 128 printable ASCII bytes, or "".
  std::string user_id;
  /// When it stops working (0: never).
  timestamp_ms expires_at = 0;
};

/// Every company and token of a store, and the hashes of the tokens
/// revoked, as stored (key and value bytes): what one node of a cluster
/// sends the others so that tenants added or revoked on any node are
/// honoured on all (see `merge_in`).
struct tenant_rows {
  std::vector<std::pair<std::string, std::string>> companies;
  std::vector<std::pair<std::string, std::string>> tokens;
  std::vector<std::string> revoked;
};

/// The prefix of every API token, so that leaked tokens are recognisable.
inline constexpr std::string_view token_prefix = "sb_";

/// Companies and API tokens in LMDB. Named databases:
///
/// | database      | key → value                                   |
/// |---------------|-----------------------------------------------|
/// | tenants       | company id → (name, created_at)               |
/// | tenant_tokens | SHA-256 of the token (32 bytes) → (company, admin,
/// created_at, user, expires_at) |
/// | tenant_settings | company id, NUL, setting name → text |
/// | tenant_revoked | SHA-256 of a revoked token → "" (so that a cluster
/// peer's copy of the token is not taken back) |
///
/// Tokens are `sb_` and 64 hex digits (32 random bytes from OpenSSL's
/// RAND_bytes); only their SHA-256 is stored, so a copy of the store does
/// not reveal them. A token is shown once, when issued.
///
/// Reads run in their own read transaction on the calling thread. Writes
/// come in two forms: `*_in` inside a given write transaction (the daemon's
/// writer), and the plain forms, which run a short write transaction of
/// their own on the environment and sync it. The plain forms are for the
/// CLI: LMDB lets several processes open one environment, and serialises
/// their write transactions with the lock file's writer mutex, so
/// `switchboard tenant add` works while the daemon runs (it waits at most
/// for the daemon's current commit). Do not call the plain forms in a
/// process whose store writer thread is running (it would wait on its own
/// writer mutex while the writer holds it; use the `*_in` forms there).
/// Thread-safe.
class tenants {
public:
  /// Opens (creating them if missing) the databases in `env`, which must
  /// outlive the object. Errors: those of `environment::open_db`.
  static result<std::unique_ptr<tenants>> open(environment& env);

  // -- writes ----------------------------------------------------------------

  /// Adds company `c` (created_at as given). Errors:
  /// `errc::invalid_argument` (id empty, too long, with other characters
  /// than [A-Za-z0-9_.-], or already there; name over 255 bytes), LMDB
  /// errors.
  result<void> add_company_in(write_txn& txn, const company_record& c);

  /// Issues a new token for company `company_id`; returns the token text.
  /// Errors: `errc::not_found` (no such company), `errc::internal` (no
  /// randomness), LMDB errors.
  result<std::string> issue_token_in(write_txn& txn,
                                     std::string_view company_id, bool admin,
                                     timestamp_ms now);

  /// Issues a new token with `opts` (a user, an expiry). Errors: those of
  /// `issue_token_in`, `errc::invalid_argument` (a bad user id).
  result<std::string> issue_token_in(write_txn& txn,
                                     std::string_view company_id,
                                     const token_options& opts,
                                     timestamp_ms now);

  /// Deletes the tokens matching `token_or_prefix`: a whole token, or the
  /// leading hex digits (at least 8) of a token's SHA-256 as `tokens`
  /// lists them. Returns how many were deleted. A running daemon refuses
  /// a deleted token at its next request (its answers are keyed by the
  /// last commit of any process). Errors: `errc::not_found` (none
  /// matched), `errc::invalid_argument` (a prefix shorter than 8 digits,
  /// or one matching more than one token), LMDB errors.
  result<std::size_t> revoke_in(write_txn& txn,
                                std::string_view token_or_prefix);

  /// Merges another store's rows (`rows`) into this one: companies and
  /// tokens missing here are added (a company already here keeps its own
  /// record), tokens revoked on either side are deleted and never added
  /// again. Rows that do not decode are skipped. Returns how many rows
  /// changed. Errors: LMDB errors.
  result<std::size_t> merge_in(write_txn& txn, const tenant_rows& rows);

  /// `add_company_in` in a write transaction of its own, synced.
  result<void> add_company(const company_record& c);

  /// Sets the time zone of company `id` (at most 64 bytes; the caller
  /// checks that it names a zone), in a write transaction of its own,
  /// synced. Errors: `errc::not_found`, LMDB errors.
  result<void> set_time_zone(std::string_view id, std::string_view zone);

  /// Sets company `id`'s setting `name` (such as "calcom": the text is the
  /// caller's, checked by it) inside `txn`. Errors: `errc::not_found` (no
  /// such company), `errc::invalid_argument` (a name empty or over 64
  /// bytes, a value over 64 KiB), LMDB errors.
  result<void> set_setting_in(write_txn& txn, std::string_view id,
                              std::string_view name, std::string_view value);

  /// `set_setting_in` in a write transaction of its own, synced.
  result<void> set_setting(std::string_view id, std::string_view name,
                           std::string_view value);

  /// `issue_token_in` in a write transaction of its own, synced.
  result<std::string> issue_token(std::string_view company_id, bool admin,
                                  timestamp_ms now);

  /// `issue_token_in` with options, in a write transaction of its own.
  result<std::string> issue_token(std::string_view company_id,
                                  const token_options& opts, timestamp_ms now);

  /// `revoke_in` in a write transaction of its own, synced.
  result<std::size_t> revoke(std::string_view token_or_prefix);

  // -- reads -----------------------------------------------------------------

  /// Returns whom `token` speaks for. Errors: `errc::not_found` (unknown,
  /// revoked, expired, malformed or empty token), LMDB errors.
  result<principal> resolve(std::string_view token) const;

  /// Returns the company `id`. Errors: `errc::not_found`, `errc::corrupt`,
  /// LMDB errors.
  result<company_record> company(std::string_view id) const;

  /// Returns company `id`'s setting `name`. Errors: `errc::not_found`
  /// (never set), LMDB errors.
  result<std::string> setting(std::string_view id, std::string_view name) const;

  /// `setting` as `txn` sees it (its own writes included), for a
  /// read-modify-write in one transaction. Errors: those of `setting`.
  result<std::string> setting_in(write_txn& txn, std::string_view id,
                                 std::string_view name) const;

  /// Returns every setting of company `id` (name, text), by name.
  /// Errors: LMDB errors.
  result<std::vector<std::pair<std::string, std::string>>>
  settings_of(std::string_view id) const;

  /// Returns every company, by id. Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<company_record>> companies() const;

  /// Returns the tokens of company `id` (empty: of all), by hash.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<token_record>> tokens(std::string_view id = {}) const;

  /// Returns every row of the tenants' databases (see `tenant_rows`).
  /// Errors: LMDB errors.
  result<tenant_rows> rows() const;

  /// Returns the SHA-256 of `token` (32 raw bytes).
  static std::string hash_token(std::string_view token);

private:
  tenants(environment& env, MDB_dbi companies, MDB_dbi tokens, MDB_dbi settings,
          MDB_dbi revoked);

  /// `setting` in transaction `txn`.
  result<std::string> setting_at(MDB_txn* txn, std::string_view id,
                                 std::string_view name) const;

  /// resolve() without its cache; `snapshot`: the id of the transaction
  /// it read in.
  result<principal> lookup(std::string_view token,
                           std::uint64_t& snapshot) const;

  template <class F>
  auto in_own_txn(F&& f) -> decltype(f(std::declval<write_txn&>()));

  environment& env_;
  MDB_dbi companies_;
  MDB_dbi tokens_;
  MDB_dbi settings_;
  MDB_dbi revoked_;
  /// Tells this instance's entries in the threads' caches of resolve()
  /// from those of another (unique in the process).
  std::uint64_t instance_;
};

} // namespace switchboard::store
