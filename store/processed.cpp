#include "store/processed.hpp"

#include <cstring>
#include <new>
#include <string>

namespace switchboard::store {

namespace {

constexpr std::size_t max_name_size = 255;

/// The key of (listener, event id).
struct processed_key {
  char buf[1 + 2 * max_name_size];
  std::size_t size = 0;

  MDB_val val() {
    return MDB_val{size, buf};
  }
};

result<processed_key> make_key(std::string_view listener,
                               std::string_view event_id) {
  if (listener.empty() || listener.size() > max_name_size)
    return fail(errc::invalid_argument,
                "processed: listener must have 1 to 255 bytes");
  if (event_id.empty() || event_id.size() > max_name_size)
    return fail(errc::invalid_argument,
                "processed: event id must have 1 to 255 bytes");
  processed_key k;
  k.buf[0] = static_cast<char>(listener.size());
  std::memcpy(k.buf + 1, listener.data(), listener.size());
  std::memcpy(k.buf + 1 + listener.size(), event_id.data(), event_id.size());
  k.size = 1 + listener.size() + event_id.size();
  return k;
}

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
    auto dbi = env.open_db("processed");
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
