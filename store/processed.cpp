#include "store/processed.hpp"
#include "store/cursor_detail.hpp"
#include "store/event_store_detail.hpp"
#include "store/processed_detail.hpp"

#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace switchboard::store {

using namespace processed_detail;

namespace {

result<bool> lookup(MDB_txn* txn, MDB_dbi dbi, std::string_view company,
                    std::string_view listener, std::string_view event_id) {
  auto k = make_key(company, listener, event_id);
  if (!k)
    return make_unexpected(k.error());
  auto key = k->val();
  MDB_val val;
  auto rc = mdb_get(txn, dbi, &key, &val);
  if (rc == 0)
    return true;
  if (rc == MDB_NOTFOUND)
    return false;
  return fail_mdb(rc, "mdb_get(processed_marks)");
}

/// The companies that have an event `id` (event_ids keys: the id's part,
/// the company, the company's length).
result<std::vector<std::string>> companies_of(MDB_txn* t, MDB_dbi ids,
                                              std::string_view id) {
  std::vector<std::string> out;
  if (id.empty() || id.size() > processed_detail::max_name_size)
    return out;
  event_detail::id_key k;
  event_detail::make_id_key(std::string_view{"", 0}, id, k);
  auto part = std::string_view{k.buf, static_cast<std::size_t>(k.size - 1)};
  auto walked = cursor_detail::each_with_prefix(
      t, ids, part, "mdb_cursor_open", "mdb_cursor_get(event_ids)",
      [&](std::string_view stored, const MDB_val&) {
        auto n = static_cast<unsigned char>(stored.back());
        if (stored.size() == part.size() + n + 1)
          out.emplace_back(stored.substr(part.size(), n));
      });
  if (!walked)
    return make_unexpected(walked.error());
  return out;
}

/// Moves the marks of the first layout (listener, event id) into
/// `marks`, one for each company with an event of that id, and drops
/// their database; nothing when there is none.
result<void> move_first_layout(environment& env, MDB_dbi marks) {
  auto txn = env.begin_write();
  if (!txn)
    return make_unexpected(txn.error());
  auto* t = txn->handle();
  MDB_dbi old;
  auto rc = mdb_dbi_open(t, first_layout_db, 0, &old);
  if (rc == MDB_NOTFOUND)
    return {}; // aborted by the destructor
  if (rc != 0)
    return fail_mdb(rc, "mdb_dbi_open(processed)");
  MDB_dbi ids;
  rc = mdb_dbi_open(t, event_detail::event_ids_db, 0, &ids);
  bool have_ids = rc == 0;
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_dbi_open(event_ids)");
  if (have_ids) {
    auto moved = cursor_detail::each_entry(
        t, old, "mdb_cursor_open", "mdb_cursor_get(processed)",
        [&](std::string_view stored, const MDB_val&) -> result<void> {
          auto n = stored.empty() ? 0u : static_cast<unsigned char>(stored[0]);
          if (n == 0 || stored.size() <= 1 + n)
            return fail(errc::corrupt, "processed: bad key");
          auto listener = stored.substr(1, n);
          auto id = stored.substr(1 + n);
          auto companies = companies_of(t, ids, id);
          if (!companies)
            return make_unexpected(companies.error());
          for (const auto& company : *companies) {
            auto k = make_key(company, listener, id);
            if (!k)
              continue; // not a mark the new layout can hold: none was read
            auto nk = k->val();
            MDB_val empty{0, nullptr};
            if (auto r = mdb_put(t, marks, &nk, &empty, 0); r != 0)
              return fail_mdb(r, "mdb_put(processed_marks)");
          }
          return {};
        });
    if (!moved)
      return moved;
  }
  if (rc = mdb_drop(t, old, 1); rc != 0)
    return fail_mdb(rc, "mdb_drop(processed)");
  return txn->commit();
}

} // namespace

result<processed_set> processed_set::open(environment& env) {
  try {
    auto dbi = env.open_db(marks_db);
    if (!dbi)
      return make_unexpected(dbi.error());
    for (;;) {
      auto moved = move_first_layout(env, *dbi);
      if (moved)
        break;
      if (moved.error().code != errc::map_full)
        return make_unexpected(moved.error());
      if (auto grown = env.grow(); !grown)
        return make_unexpected(grown.error());
    }
    return processed_set{env, *dbi};
  } catch (const std::bad_alloc&) {
    return fail(errc::out_of_memory, "processed_set::open");
  }
}

result<bool> processed_set::contains(const read_txn& txn,
                                     std::string_view company,
                                     std::string_view listener,
                                     std::string_view event_id) const {
  return lookup(txn.handle(), dbi_, company, listener, event_id);
}

result<bool> processed_set::contains(std::string_view company,
                                     std::string_view listener,
                                     std::string_view event_id) const {
  auto txn = env_->begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  return lookup(txn->handle(), dbi_, company, listener, event_id);
}

result<bool> processed_set::contains_in(write_txn& txn,
                                        std::string_view company,
                                        std::string_view listener,
                                        std::string_view event_id) const {
  return lookup(txn.handle(), dbi_, company, listener, event_id);
}

result<bool> processed_set::mark_in(write_txn& txn, std::string_view company,
                                    std::string_view listener,
                                    std::string_view event_id) {
  auto k = make_key(company, listener, event_id);
  if (!k)
    return make_unexpected(k.error());
  auto key = k->val();
  MDB_val val{0, nullptr};
  auto rc = mdb_put(txn.handle(), dbi_, &key, &val, MDB_NOOVERWRITE);
  if (rc == 0)
    return true;
  if (rc == MDB_KEYEXIST)
    return false;
  return fail_mdb(rc, "mdb_put(processed_marks)");
}

} // namespace switchboard::store
