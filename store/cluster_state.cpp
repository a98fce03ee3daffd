#include "store/cluster_state.hpp"

#include <charconv>

#include "store/cluster_state_detail.hpp"
#include "store/codec.hpp"
#include "store/cursor_detail.hpp"
#include "store/lmdb_util.hpp"

namespace switchboard::store {

using namespace cluster_detail;

namespace {

constexpr std::string_view placement_key = "placement";

} // namespace

std::string encode_placement(const placement_record& p) {
  std::string out = "1\n" + std::to_string(p.epoch) + "\n"
                    + std::to_string(p.basis.size()) + "\n";
  for (const auto& b : p.basis)
    out += b + "\n";
  out += std::to_string(p.moved.size()) + "\n";
  for (const auto& [company, member] : p.moved)
    out += company + "\n" + member + "\n";
  return out;
}

result<placement_record> decode_placement(std::string_view text) {
  auto bad = [] {
    return fail(errc::corrupt, "cluster_meta: malformed placement table");
  };
  auto line = [&text](std::string_view& out) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos)
      return false;
    out = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    return true;
  };
  auto number = [&](std::uint64_t& n) {
    std::string_view s;
    if (!line(s) || s.empty())
      return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc{} && ptr == s.data() + s.size();
  };
  placement_record p;
  std::uint64_t format = 0;
  std::uint64_t n = 0;
  if (!number(format) || format != 1 || !number(p.epoch) || !number(n))
    return bad();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string_view s;
    if (!line(s))
      return bad();
    p.basis.emplace_back(s);
  }
  if (!number(n))
    return bad();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string_view c;
    std::string_view m;
    if (!line(c) || !line(m))
      return bad();
    p.moved.emplace_back(std::string{c}, std::string{m});
  }
  if (!text.empty())
    return bad();
  return p;
}

result<std::unique_ptr<cluster_state>> cluster_state::open(environment& env) {
  MDB_dbi meta{}, parked{};
  if (auto ok = open_dbs(env, {{meta_db, 0, &meta}, {parked_db, 0, &parked}});
      !ok)
    return make_unexpected(ok.error());
  return std::unique_ptr<cluster_state>{new cluster_state(env, meta, parked)};
}

result<placement_record> cluster_state::placement() const {
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  auto key = as_val(placement_key);
  MDB_val val;
  auto rc = mdb_get(txn->handle(), meta_, &key, &val);
  if (rc == MDB_NOTFOUND)
    return placement_record{};
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(cluster_meta)");
  return decode_placement(as_view(val));
}

result<void> cluster_state::set_placement_in(write_txn& txn,
                                             const placement_record& p) {
  auto text = encode_placement(p);
  auto key = as_val(placement_key);
  auto val = as_val(text);
  if (auto rc = mdb_put(txn.handle(), meta_, &key, &val, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(cluster_meta)");
  return {};
}

result<void> cluster_state::park_in(write_txn& txn, std::string_view company,
                                    const std::vector<std::string>& records) {
  return guarded("cluster_state::park_in", [&]() -> result<void> {
    auto prefix = parked_prefix(company);
    // The next index: one past the company's last parked record.
    std::uint64_t next = 0;
    {
      cursor_guard c;
      if (auto rc = mdb_cursor_open(txn.handle(), parked_, &c.c); rc != 0)
        return fail_mdb(rc, "mdb_cursor_open(cluster_parked)");
      std::string past = prefix;
      past.append(8, '\xff');
      MDB_val key, val;
      auto rc = cursor_detail::last_before(c.c, past, key, val);
      if (rc == 0) {
        auto k = as_view(key);
        if (k.size() == prefix.size() + 8
            && k.substr(0, prefix.size()) == prefix)
          next = get_be64(k.data() + prefix.size()) + 1;
      } else if (rc != MDB_NOTFOUND) {
        return fail_mdb(rc, "mdb_cursor_get(cluster_parked)");
      }
    }
    for (const auto& r : records) {
      std::string k = prefix;
      k.resize(prefix.size() + 8);
      put_be64(k.data() + prefix.size(), next++);
      auto key = as_val(k);
      auto val = as_val(r);
      if (auto rc = mdb_put(txn.handle(), parked_, &key, &val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(cluster_parked)");
    }
    return {};
  });
}

result<std::vector<std::string>>
cluster_state::take_parked_in(write_txn& txn, std::string_view company) {
  return guarded(
      "cluster_state::take_parked_in",
      [&]() -> result<std::vector<std::string>> {
        std::vector<std::string> out;
        auto prefix = parked_prefix(company);
        cursor_guard c;
        if (auto rc = mdb_cursor_open(txn.handle(), parked_, &c.c); rc != 0)
          return fail_mdb(rc, "mdb_cursor_open(cluster_parked)");
        for (;;) {
          // The company's first record left (each is deleted
          // once copied).
          auto key = as_val(prefix);
          MDB_val val;
          auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
          if (rc == MDB_NOTFOUND
              || (rc == 0 && as_view(key).substr(0, prefix.size()) != prefix))
            break;
          if (rc != 0)
            return fail_mdb(rc, "mdb_cursor_get(cluster_parked)");
          out.emplace_back(as_view(val));
          if (rc = mdb_cursor_del(c.c, 0); rc != 0)
            return fail_mdb(rc, "mdb_cursor_del(cluster_parked)");
        }
        return out;
      });
}

result<std::vector<std::string>> cluster_state::parked_companies() const {
  return guarded("cluster_state::parked_companies",
                 [&]() -> result<std::vector<std::string>> {
                   std::vector<std::string> out;
                   auto txn = env_.begin_read();
                   if (!txn)
                     return make_unexpected(txn.error());
                   cursor_guard c;
                   if (auto rc = mdb_cursor_open(txn->handle(), parked_, &c.c);
                       rc != 0)
                     return fail_mdb(rc, "mdb_cursor_open(cluster_parked)");
                   MDB_val key;
                   MDB_val val;
                   auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
                   while (rc == 0) {
                     auto k = as_view(key);
                     auto nul = k.find('\0');
                     if (nul == std::string_view::npos)
                       return fail(errc::corrupt, "cluster_parked: bad key");
                     auto company = std::string{k.substr(0, nul)};
                     out.push_back(company);
                     // Past this company's records.
                     std::string past = company;
                     past.push_back('\0');
                     past.append(8, '\xff');
                     past.push_back('\xff');
                     auto pk = as_val(past);
                     rc = mdb_cursor_get(c.c, &pk, &val, MDB_SET_RANGE);
                     key = pk;
                   }
                   if (rc != MDB_NOTFOUND)
                     return fail_mdb(rc, "mdb_cursor_get(cluster_parked)");
                   return out;
                 });
}

} // namespace switchboard::store
