#include "store/processed.hpp"
#include "store/processed_detail.hpp"

#include <cstring>
#include <new>
#include <string>

namespace switchboard::store {

using namespace processed_detail;

namespace {

result<bool> lookup(MDB_txn* txn, MDB_dbi dbi, std::string_view listener,
                    std::string_view event_id) {
  auto k = make_key(listener, event_id);
  if (!k)
    return make_unexpected(k.error());
  auto key = k->val();
  MDB_val val;
  auto rc = mdb_get(txn, dbi, &key, &val);
  if (rc == 0)
    return true;
  if (rc == MDB_NOTFOUND)
    return false;
  return fail_mdb(rc, "mdb_get(processed)");
}

} // namespace

result<processed_set> processed_set::open(environment& env) {
  try {
    auto dbi = env.open_db(processed_db);
    if (!dbi)
      return make_unexpected(dbi.error());
    return processed_set{env, *dbi};
  } catch (const std::bad_alloc&) {
    return fail(errc::out_of_memory, "processed_set::open");
  }
}

result<bool> processed_set::contains(const read_txn& txn,
                                     std::string_view listener,
                                     std::string_view event_id) const {
  return lookup(txn.handle(), dbi_, listener, event_id);
}

result<bool> processed_set::contains(std::string_view listener,
                                     std::string_view event_id) const {
  auto txn = env_->begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  return lookup(txn->handle(), dbi_, listener, event_id);
}

result<bool> processed_set::contains_in(write_txn& txn,
                                        std::string_view listener,
                                        std::string_view event_id) const {
  return lookup(txn.handle(), dbi_, listener, event_id);
}

result<bool> processed_set::mark_in(write_txn& txn, std::string_view listener,
                                    std::string_view event_id) {
  auto k = make_key(listener, event_id);
  if (!k)
    return make_unexpected(k.error());
  auto key = k->val();
  MDB_val val{0, nullptr};
  auto rc = mdb_put(txn.handle(), dbi_, &key, &val, MDB_NOOVERWRITE);
  if (rc == 0)
    return true;
  if (rc == MDB_KEYEXIST)
    return false;
  return fail_mdb(rc, "mdb_put(processed)");
}

} // namespace switchboard::store
