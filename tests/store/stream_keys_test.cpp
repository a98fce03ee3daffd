// Streams and event ids keyed by company (key format 2), and the
// migration of a store written before them (format 1: streams keyed by
// type and id, event ids by id alone), made at open in one transaction.

#include "store/event_store.hpp"
#include "store/event_store_detail.hpp"
#include "store/hex.hpp"
#include "store/lmdb_util.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/prelude.hpp"
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

/// The stream hash of format 1: FNV-1a over (size of type, type, id), then
/// the splitmix64 finalizer (as the store computed it then).
std::uint64_t v1_stream_hash(std::string_view type, std::string_view id) {
  event_detail::stream_hasher h;
  h.sized(type);
  h.bytes(id);
  return h.finish();
}

/// The event_ids key of format 1: tag byte 0 and the id (the ids below
/// are not UUID text).
std::string v1_id_key(std::string_view id) {
  return std::string(1, '\0') + std::string{id};
}

MDB_val val_of(const std::string& s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

/// Rewrites the streams and event_ids databases of the store in `f` as
/// format 1 wrote them (from the log, probing by type and id), and drops
/// the key format and streams checkpoints, as such a store had none.
void write_v1_layout(store_fixture& f) {
  auto events = f.store->read_all(1, 100000);
  BOOST_REQUIRE(events);
  auto written = f.w->execute([&](write_txn& txn) -> result<void> {
    auto* t = txn.handle();
    auto streams = f.env->open_db("streams");
    auto ids = f.env->open_db("event_ids");
    auto cps = f.env->open_db("checkpoints");
    if (!streams || !ids || !cps)
      return fail(errc::internal, "open_db");
    if (mdb_drop(t, *streams, 0) != 0 || mdb_drop(t, *ids, 0) != 0)
      return fail(errc::internal, "mdb_drop");
    // Slot of each (type, id) as format 1 placed it: the first free one
    // from its hash (these few streams do not collide; probing is kept
    // for exactness).
    std::map<std::pair<std::string, std::string>, std::uint64_t> slots;
    std::map<std::uint64_t, bool> used;
    for (const auto& e : *events) {
      auto key = std::make_pair(e.aggregate_type, e.aggregate_id);
      auto i = slots.find(key);
      if (i == slots.end()) {
        auto s = v1_stream_hash(e.aggregate_type, e.aggregate_id);
        while (used[s])
          ++s;
        used[s] = true;
        i = slots.emplace(key, s).first;
      }
      char k[16], v[8];
      put_be64(k, i->second);
      put_be64(k + 8, e.version);
      put_be64(v, e.sequence);
      MDB_val sk{16, k}, sv{8, v};
      if (mdb_put(t, *streams, &sk, &sv, 0) != 0)
        return fail(errc::internal, "mdb_put(streams)");
      auto ik = v1_id_key(e.id);
      auto ikv = val_of(ik);
      MDB_val iv{8, v};
      if (mdb_put(t, *ids, &ikv, &iv, 0) != 0)
        return fail(errc::internal, "mdb_put(event_ids)");
    }
    for (auto name :
         {event_store::keys_checkpoint, event_store::streams_checkpoint}) {
      auto k = as_val(name);
      if (auto rc = mdb_del(t, *cps, &k, nullptr);
          rc != 0 && rc != MDB_NOTFOUND)
        return fail(errc::internal, "mdb_del(checkpoints)");
    }
    return {};
  });
  BOOST_REQUIRE_MESSAGE(written, why(written));
}

/// An event with a plain (non-UUID) id.
envelope event(const std::string& id, const std::string& company,
               const std::string& agg_type, const std::string& agg_id,
               const std::string& type) {
  auto e = make_event(agg_type, agg_id, type, company);
  e.id = id;
  return e;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(stream_keys, store_fixture)

BOOST_AUTO_TEST_CASE(uuid_text_is_read_in_its_one_layout) {
  char out[16];
  BOOST_TEST(parse_uuid("01a24a77-541f-7001-a941-8441e2560f48", out));
  BOOST_TEST(out[0] == '\x01');
  BOOST_TEST(out[15] == '\x48');
  // A dash where a digit belongs is refused, and nothing after the 36
  // characters is read (the text below goes on with one more digit).
  std::string text = "01a24a77-541f-7001-a941--441e2560f48f";
  BOOST_TEST(!parse_uuid(std::string_view{text.data(), 36}, out));
  BOOST_TEST(!parse_uuid("01a24a77-541f-7001-a941-8441e2560f4", out));
  BOOST_TEST(!parse_uuid("01a24a77x541f-7001-a941-8441e2560f48", out));
}

BOOST_AUTO_TEST_CASE(a_new_store_has_the_current_key_format) {
  auto txn = env->begin_read();
  BOOST_REQUIRE(txn);
  auto format = store->key_format(*txn);
  BOOST_REQUIRE(format);
  BOOST_TEST(*format == event_store::current_key_format);
}

// A store of format 1 opens and reads the same: every stream, version and
// event id is found in its company, and appends go on from there.
BOOST_AUTO_TEST_CASE(a_format_1_store_is_migrated_at_open) {
  // Streams of two companies (distinct ids, as format 1 required), one of
  // them with events past a flush of the streams index.
  std::vector<envelope> all{
      event("e1", "acme", "customer", "x", "customer.created"),
      event("e2", "globex", "customer", "y", "customer.created"),
      event("e3", "acme", "customer", "x", "customer.updated"),
      event("e4", "acme", "appointment", "a1", "appointment.created"),
      event("e5", "globex", "appointment", "a2", "appointment.created"),
      event("e6", "acme", "appointment", "a1", "appointment.updated"),
      event("e7", "acme", "appointment", "a1", "appointment.updated"),
  };
  for (auto& e : all)
    append_one(e);
  write_v1_layout(*this);
  {
    auto txn = env->begin_read();
    BOOST_REQUIRE(txn);
    BOOST_TEST(*store->key_format(*txn) == 1u);
  }
  reopen();
  {
    auto txn = env->begin_read();
    BOOST_REQUIRE(txn);
    BOOST_TEST(*store->key_format(*txn) == event_store::current_key_format);
  }
  // Every stream of its company, in version order.
  auto ids_of = [&](const char* company, const char* type, const char* id) {
    std::vector<std::string> out;
    auto s = store->read_stream(company, type, id, 1, 100);
    BOOST_REQUIRE(s);
    for (const auto& e : *s)
      out.push_back(e.id);
    return out;
  };
  using ids = std::vector<std::string>;
  BOOST_TEST(ids_of("acme", "customer", "x") == (ids{"e1", "e3"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of("globex", "customer", "y") == (ids{"e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of("acme", "appointment", "a1") == (ids{"e4", "e6", "e7"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of("globex", "appointment", "a2") == (ids{"e5"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of("globex", "customer", "x").empty());
  BOOST_TEST(*store->stream_version("acme", "appointment", "a1") == 3u);
  BOOST_TEST(*store->stream_version("acme", "customer", "y") == 0u);
  // Every event id, in its company only.
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto seq = store->find_event(all[i].company_id, all[i].id);
    BOOST_REQUIRE_MESSAGE(seq, why(seq));
    BOOST_TEST(*seq == i + 1);
  }
  BOOST_TEST(store->find_event("globex", "e1").error().code == errc::not_found);
  // A retry of a migrated event is still one; appends go on at the right
  // version; globex can now have its own customer x.
  BOOST_TEST(*store->append({all[0]}, expected_version::any())
             == std::vector<std::uint64_t>{1});
  auto next = store->append(
      {event("e8", "acme", "customer", "x", "customer.updated")},
      expected_version::exact(2));
  BOOST_REQUIRE_MESSAGE(next, why(next));
  BOOST_TEST(next->front() == 8u);
  auto theirs = store->append(
      {event("e1", "globex", "customer", "x", "customer.created")},
      expected_version::no_stream());
  BOOST_REQUIRE_MESSAGE(theirs, why(theirs));
  BOOST_TEST(*store->stream_version("globex", "customer", "x") == 1u);
  BOOST_TEST(*store->stream_version("acme", "customer", "x") == 3u);
  // A second open migrates nothing: the same reads.
  reopen();
  BOOST_TEST(ids_of("acme", "customer", "x") == (ids{"e1", "e3", "e8"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of("globex", "customer", "x") == (ids{"e1"}),
             boost::test_tools::per_element());
}

// Format 1 put two companies' events of one (type, id) in one stream (the
// race of two companies creating one id): the migration makes one stream
// per company, each keeping its events' versions.
BOOST_AUTO_TEST_CASE(a_format_1_stream_of_two_companies_is_split) {
  append_one(event("e1", "acme", "customer", "x", "customer.created"));
  append_one(event("e2", "globex", "customer", "z", "customer.created"));
  // Make globex's event the second of acme's stream, as format 1 stored
  // it: the record says customer/x version 2.
  auto rewritten = w->execute([&](write_txn& txn) -> result<void> {
    auto dbi = env->open_db("events");
    if (!dbi)
      return make_unexpected(dbi.error());
    auto e = store->read_event(2);
    if (!e)
      return make_unexpected(e.error());
    e->aggregate_id = "x";
    e->version = 2;
    std::string rec(record_size(*e), '\0');
    encode_record(*e, rec.data());
    char k[8];
    put_be64(k, 2);
    MDB_val key{8, k};
    auto val = val_of(rec);
    if (mdb_put(txn.handle(), *dbi, &key, &val, 0) != 0)
      return fail(errc::internal, "mdb_put(events)");
    return {};
  });
  BOOST_REQUIRE_MESSAGE(rewritten, why(rewritten));
  write_v1_layout(*this);
  reopen();
  auto acme = store->read_stream("acme", "customer", "x", 1, 10);
  BOOST_REQUIRE(acme);
  BOOST_REQUIRE_EQUAL(acme->size(), 1u);
  BOOST_TEST(acme->front().id == "e1");
  auto globex = store->read_stream("globex", "customer", "x", 1, 10);
  BOOST_REQUIRE(globex);
  BOOST_REQUIRE_EQUAL(globex->size(), 1u);
  BOOST_TEST(globex->front().id == "e2");
  BOOST_TEST(*store->stream_version("globex", "customer", "x") == 2u);
  BOOST_TEST(*store->find_event("globex", "e2") == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
