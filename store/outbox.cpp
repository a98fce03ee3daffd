#include "store/outbox.hpp"
#include "store/cursor_detail.hpp"
#include "store/lmdb_util.hpp"

#include "store/codec.hpp"
#include "store/outbox_detail.hpp"
#include "store/record.hpp"
#include "store/traces.hpp"

namespace switchboard::store {

using namespace outbox_detail;

namespace {

std::string encode(const outbound_message& msg) {
  record_writer w{outbox_format_v3};
  each_field_group(msg, outbox_format_v3, [&](const auto& fields) {
    w.put(fields);
  });
  return w.bytes();
}

} // namespace

result<std::unique_ptr<message_outbox>> message_outbox::open(environment& env) {
  MDB_dbi d{}, ids{};
  if (auto ok = open_dbs(env, {{outbox_db, 0, &d}, {ids_db, 0, &ids}}); !ok)
    return make_unexpected(ok.error());
  return std::unique_ptr<message_outbox>{new message_outbox(env, d, ids)};
}

result<std::uint64_t> message_outbox::add_in(write_txn& txn,
                                             outbound_message msg) {
  auto cur = txn.cursor(dbi_);
  if (!cur)
    return make_unexpected(cur.error());
  MDB_val k, v;
  std::uint64_t id = 1;
  auto rc = mdb_cursor_get(*cur, &k, &v, MDB_LAST);
  if (rc == 0)
    id = get_be64(k.mv_data) + 1;
  else if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(outbox)");
  auto bytes = encode(msg);
  char kb[8];
  put_be64(kb, id);
  MDB_val key{8, kb};
  auto val = as_val(bytes);
  if (rc = mdb_put(txn.handle(), dbi_, &key, &val, MDB_APPEND); rc != 0)
    return fail_mdb(rc, "mdb_put(outbox)");
  if (!msg.provider_id.empty()) {
    auto ik = id_key(msg.provider, msg.provider_id);
    MDB_val ikey{ik.size(), ik.data()};
    MDB_val ival{8, kb};
    if (rc = mdb_put(txn.handle(), ids_, &ikey, &ival, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(outbox_ids)");
  }
  if (traces_ != nullptr && !msg.correlation_id.empty())
    if (auto ok = traces_->message_in(txn.handle(), msg.correlation_id,
                                      msg.company_id, id);
        !ok)
      return make_unexpected(ok.error());
  return id;
}

result<outbound_message>
message_outbox::find_in(write_txn& txn, std::string_view provider,
                        std::string_view provider_id) const {
  auto ik = id_key(provider, provider_id);
  MDB_val ikey{ik.size(), ik.data()}, ival;
  auto rc = mdb_get(txn.handle(), ids_, &ikey, &ival);
  if (rc == MDB_NOTFOUND)
    return fail(errc::not_found, "no message " + std::string{provider_id}
                                     + " of " + std::string{provider});
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(outbox_ids)");
  if (ival.mv_size != 8)
    return fail(errc::corrupt, "outbox id index: bad value");
  MDB_val k{8, ival.mv_data}, v;
  rc = mdb_get(txn.handle(), dbi_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return fail(errc::corrupt, "outbox id index names a missing message");
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(outbox)");
  return decode(k, v);
}

result<void> message_outbox::update_in(write_txn& txn,
                                       const outbound_message& msg) {
  char kb[8];
  put_be64(kb, msg.id);
  MDB_val k{8, kb}, old;
  auto rc = mdb_get(txn.handle(), dbi_, &k, &old);
  if (rc == MDB_NOTFOUND)
    return fail(errc::not_found, "no message " + std::to_string(msg.id));
  if (rc != 0)
    return fail_mdb(rc, "mdb_get(outbox)");
  auto stored = decode(k, old);
  if (!stored)
    return make_unexpected(stored.error());
  auto next = msg;
  next.provider = stored->provider;
  next.provider_id = stored->provider_id;
  auto bytes = encode(next);
  auto val = as_val(bytes);
  if (rc = mdb_put(txn.handle(), dbi_, &k, &val, 0); rc != 0)
    return fail_mdb(rc, "mdb_put(outbox)");
  return {};
}

result<outbound_message> message_outbox::get(std::uint64_t id) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  char kb[8];
  put_be64(kb, id);
  MDB_val k{8, kb}, v;
  if (auto rc = mdb_get(rtxn->handle(), dbi_, &k, &v); rc != 0) {
    if (rc == MDB_NOTFOUND)
      return fail(errc::not_found, "no message " + std::to_string(id));
    return fail_mdb(rc, "mdb_get(outbox)");
  }
  return decode(k, v);
}

result<std::vector<outbound_message>>
message_outbox::list(std::uint64_t after_id, std::size_t max_count,
                     std::string_view channel) const {
  auto rtxn = env_.begin_read();
  if (!rtxn)
    return make_unexpected(rtxn.error());
  char kb[8];
  put_be64(kb, after_id + 1);
  std::vector<outbound_message> out;
  auto walked = cursor_detail::each_with_prefix_from(
      rtxn->handle(), dbi_, {}, {kb, 8}, "mdb_cursor_open(outbox)",
      "mdb_cursor_get(outbox)",
      [&](std::string_view k, const MDB_val& v) -> result<bool> {
        if (out.size() >= max_count)
          return false;
        auto m = decode(as_val(k), v);
        if (!m)
          return make_unexpected(m.error());
        if (channel.empty() || m->channel == channel)
          out.push_back(std::move(*m));
        return out.size() < max_count;
      });
  if (!walked)
    return make_unexpected(walked.error());
  return out;
}

} // namespace switchboard::store
