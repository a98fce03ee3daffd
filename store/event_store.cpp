#include "store/event_store.hpp"
#include "store/lmdb_util.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

namespace switchboard::store {

namespace {

/// Longest id, type and company id accepted (bytes).
constexpr std::size_t max_name_size = 255;

/// Most slots probed past a stream's hash before giving up.
constexpr int max_probes = 64;
static_assert(max_probes <= 64,
              "a probe window spans at most two blocks of 64 slots");

/// Database names.
constexpr const char* events_db = "events";
constexpr const char* streams_db = "streams";
constexpr const char* event_ids_db = "event_ids";
constexpr const char* by_type_db = "by_type";
constexpr const char* by_time_db = "by_time";
constexpr const char* by_company_db = "by_company";
constexpr const char* by_ref_db = "by_ref";
constexpr const char* listed_db = "listed";
constexpr const char* checkpoints_db = "checkpoints";

/// Largest key LMDB takes (its default MDB_MAXKEYSIZE).
constexpr std::size_t max_key_size = 511;

/// A key of the event_ids database: the id, then the company (event ids
/// are per company, as streams are). UUID text (any case) becomes a tag
/// byte 1 and the 16 bytes; anything else a tag byte 0 and the id's bytes.
/// The company's bytes and their count (one byte) follow, so that the
/// key reads back unambiguously and UUIDv7 ids still sort by time.
struct id_key {
  std::uint16_t size = 0;
  char buf[1 + max_name_size + max_name_size + 1];

  MDB_val val() const {
    return as_val(buf, size);
  }
  bool operator<(const id_key& other) const {
    return std::string_view{buf, size}
           < std::string_view{other.buf, other.size};
  }
  bool operator==(const id_key& other) const {
    return std::string_view{buf, size}
           == std::string_view{other.buf, other.size};
  }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool parse_uuid(std::string_view s, char* out) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-'
      || s[23] != '-')
    return false;
  int n = 0;
  for (std::size_t i = 0; i < 36;) {
    if (s[i] == '-') {
      ++i;
      continue;
    }
    auto hi = hex_value(s[i]);
    auto lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[n++] = static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return n == 16;
}

/// Builds the key of `id` in `company`; the sizes of both must be at
/// most max_name_size (the id's at least 1).
void make_id_key(std::string_view company, std::string_view id, id_key& key) {
  std::size_t n = 0;
  if (parse_uuid(id, key.buf + 1)) {
    key.buf[0] = 1;
    n = 17;
  } else {
    key.buf[0] = 0;
    std::memcpy(key.buf + 1, id.data(), id.size());
    n = 1 + id.size();
  }
  std::memcpy(key.buf + n, company.data(), company.size());
  n += company.size();
  key.buf[n++] = static_cast<char>(company.size());
  key.size = static_cast<std::uint16_t>(n);
}

/// Key of the streams database: slot and version, big-endian.
struct stream_key {
  char buf[16];
  stream_key(std::uint64_t slot, std::uint64_t version) {
    put_be64(buf, slot);
    put_be64(buf + 8, version);
  }
  MDB_val val() const {
    return as_val(buf, 16);
  }
};

result<envelope_view> load(MDB_txn* txn, MDB_dbi events, std::uint64_t seq) {
  char k[8];
  put_be64(k, seq);
  auto key = as_val(k, 8);
  MDB_val val;
  if (auto rc = mdb_get(txn, events, &key, &val); rc != 0) {
    if (rc == MDB_NOTFOUND)
      return fail(errc::not_found,
                  "no event with sequence " + std::to_string(seq));
    return fail_mdb(rc, "mdb_get(events)");
  }
  return decode_record(val.mv_data, val.mv_size);
}

/// Where a stream lives: its slot, whether it exists and its version.
struct stream_slot {
  std::uint64_t slot = 0;
  bool exists = false;
  std::uint64_t version = 0;
  std::uint64_t last_seq = 0; ///< Sequence of its last event (when exists).
};

/// A stream index entry held in memory.
struct tail_entry {
  std::uint64_t version = 0;
  std::uint64_t seq = 0;
};

/// A stream's index entries not yet in the streams database, ascending.
struct stream_tail {
  std::string company;
  std::string type;
  std::string id;
  std::vector<tail_entry> entries;
};

/// What memory knows of a slot: its owner and version (type null: nothing).
struct mem_owner {
  const std::string* company = nullptr;
  const std::string* type = nullptr;
  const std::string* id = nullptr;
  std::uint64_t version = 0;
  std::uint64_t seq = 0; ///< Of the entry with `version`.
};

/// The last entry of `slot` in the streams database, if it has any.
struct slot_head {
  std::uint64_t version = 0;
  std::uint64_t seq = 0;
};

/// Positions `c` on the last key under `slot` (one seek).
result<std::optional<slot_head>> last_in_slot(MDB_cursor* c,
                                              std::uint64_t slot) {
  stream_key k{slot, ~std::uint64_t{0}};
  auto key = k.val();
  MDB_val val;
  auto rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  if (rc == 0) {
    if (key.mv_size != 16 || get_be64(key.mv_data) != slot)
      rc = mdb_cursor_get(c, &key, &val, MDB_PREV);
  } else if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
  }
  if (rc == MDB_NOTFOUND)
    return std::optional<slot_head>{};
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get(streams)");
  if (key.mv_size != 16 || val.mv_size != 8)
    return fail(errc::corrupt, "streams: bad key or value size");
  if (get_be64(key.mv_data) != slot)
    return std::optional<slot_head>{};
  return std::optional<slot_head>{
      slot_head{get_be64(static_cast<const char*>(key.mv_data) + 8),
                get_be64(val.mv_data)}};
}

/// Finds the stream of (`company`, `type`, `id`), starting at slot `hash`.
/// A slot that memory knows (`mem(slot)`: entries not yet flushed) is
/// decided there; otherwise the last entry under the slot gives the
/// stream's version, and its event (any event of a slot has the stream's
/// company, aggregate type and id) tells whether the slot is this
/// stream's. The writer's memory is never
/// behind the database, so it skips the database for a slot memory knows;
/// a process that only reads may be behind (`db_too`), and takes the
/// higher version.
template <class Mem>
result<stream_slot> find_stream(MDB_txn* txn, MDB_cursor* c, MDB_dbi events,
                                std::uint64_t hash, std::string_view company,
                                std::string_view type, std::string_view id,
                                const Mem& mem, bool db_too = false) {
  auto slot = hash;
  for (int probe = 0; probe < max_probes; ++probe, ++slot) {
    auto m = mem(slot);
    if (m.type != nullptr) {
      if (*m.type != type || *m.id != id || *m.company != company)
        continue;
      auto version = m.version;
      auto seq = m.seq;
      if (db_too) {
        auto head = last_in_slot(c, slot);
        if (!head)
          return make_unexpected(head.error());
        if (*head && (*head)->version > version) {
          version = (*head)->version;
          seq = (*head)->seq;
        }
      }
      return stream_slot{slot, true, version, seq};
    }
    auto head = last_in_slot(c, slot);
    if (!head)
      return make_unexpected(head.error());
    if (!*head)
      return stream_slot{slot, false, 0};
    auto last = load(txn, events, (*head)->seq);
    if (!last) {
      auto err = last.error();
      if (err.code == errc::not_found)
        err.code = errc::corrupt;
      return make_unexpected(std::move(err));
    }
    if (last->aggregate_type == type && last->aggregate_id == id
        && last->company_id == company)
      return stream_slot{slot, true, (*head)->version, (*head)->seq};
  }
  return fail(errc::corrupt, "streams: more than 64 colliding stream hashes");
}

/// Tails by slot, in key order (a flush cycle walks them in order).
using tail_map = std::map<std::uint64_t, stream_tail>;

/// The owner a map of tails gives a slot.
mem_owner owner_in(const tail_map& tails, std::uint64_t slot) {
  auto i = tails.find(slot);
  if (i == tails.end() || i->second.entries.empty())
    return {};
  const auto& last = i->second.entries.back();
  return {&i->second.company, &i->second.type, &i->second.id, last.version,
          last.seq};
}

/// Puts at the right edge of the tree when `key` sorts after its last key
/// (MDB_APPEND: no descent from the root), otherwise an ordinary put.
int put_at_edge(MDB_cursor* c, MDB_val key, MDB_val val, unsigned flags) {
  auto k = key;
  auto v = val;
  auto rc = mdb_cursor_put(c, &k, &v, flags | MDB_APPEND);
  if (rc != MDB_KEYEXIST)
    return rc;
  // Out of order (or a duplicate, which the ordinary put reports).
  return mdb_cursor_put(c, &key, &val, flags);
}

std::string describe(expected_version ev) {
  switch (ev.what) {
  case expected_version::kind::any:
    return "any";
  case expected_version::kind::no_stream:
    return "no stream";
  case expected_version::kind::exact:
    return std::to_string(ev.version);
  }
  return "?";
}

/// A key of the by_type and by_company indexes: the name's size (one
/// byte), the name, and the sequence big-endian. One tree per index, so
/// that a batch dirties one leaf per name at its right edge.
struct name_key {
  std::size_t size = 0;
  char buf[1 + max_name_size + 8];

  name_key(std::string_view name, std::uint64_t seq) {
    buf[0] = static_cast<char>(name.size());
    std::memcpy(buf + 1, name.data(), name.size());
    put_be64(buf + 1 + name.size(), seq);
    size = 1 + name.size() + 8;
  }
  MDB_val val() const {
    return as_val(buf, size);
  }
  /// The bytes every key of the same name starts with.
  std::string_view prefix() const {
    return {buf, size - 8};
  }
};

/// Reads up to `max_count` events of a name index under `name` with
/// sequence >= `from_seq`.
result<std::vector<envelope>> read_name_index(const read_txn& txn,
                                              MDB_dbi index, MDB_dbi events,
                                              std::string_view name,
                                              std::uint64_t from_seq,
                                              std::size_t max_count) {
  std::vector<envelope> out;
  if (name.empty() || name.size() > max_name_size || max_count == 0)
    return out;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn.handle(), index, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  name_key start{name, from_seq};
  auto prefix = start.prefix();
  auto key = start.val();
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  while (rc == 0 && out.size() < max_count) {
    if (key.mv_size != prefix.size() + 8
        || std::memcmp(key.mv_data, prefix.data(), prefix.size()) != 0)
      break;
    auto seq = get_be64(static_cast<const char*>(key.mv_data) + prefix.size());
    auto ev = load(txn.handle(), events, seq);
    if (!ev)
      return make_unexpected(ev.error());
    out.push_back(ev->to_envelope());
    rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(index)");
  return out;
}

} // namespace

// -- the streams index in memory ---------------------------------------------

struct staged_entry {
  std::uint64_t slot;
  std::uint64_t version;
  std::uint64_t seq;
  std::string company;
  std::string type;
  std::string id;
};

struct event_store::stream_tails {
  // Shared with readers under `mtx`; changed on the writer thread only, so
  // the writer reads them without it.
  mutable std::shared_mutex mtx;
  std::uint64_t indexed_through = 0;
  tail_map committed;
  /// Slot / 64 → how many slots of `committed` lie in that block: most
  /// probes find their window's blocks absent and skip the tree.
  std::unordered_map<std::uint64_t, std::uint32_t> blocks;
  std::size_t committed_entries = 0;
  std::uint64_t last_seq = 0; ///< Of the newest committed entry.
  /// stream_generation's numbers, by a hash of the aggregate type.
  static constexpr std::size_t generations = 64;
  std::array<std::atomic<std::uint64_t>, generations> generation{};

  static std::size_t generation_of(std::string_view type) noexcept {
    return std::hash<std::string_view>{}(type) % generations;
  }

  // Writer thread only: the entries of the open transaction, published
  // when its top-level transaction commits.
  std::uint64_t top_serial = 0;
  std::uint64_t child_serial = 0;
  std::vector<staged_entry> staged;
  std::unordered_map<std::uint64_t, std::size_t> staged_last;

  // Writer thread only: the flush cycle under way writes the entries up to
  // `flush_through` (the checkpoint it ends at), slot by slot in key order,
  // a chunk per transaction, from `flush_next` on.
  bool flushing = false;
  std::uint64_t flush_through = 0;
  std::uint64_t flush_next = 0;
  std::uint64_t flush_serial = 0;

  /// What the writer knows of a slot: staged entries, then committed ones.
  mem_owner writer_owner(std::uint64_t slot) const {
    if (auto i = staged_last.find(slot); i != staged_last.end()) {
      const auto& e = staged[i->second];
      return {&e.company, &e.type, &e.id, e.version, e.seq};
    }
    return owner(slot);
  }

  /// The owner `committed` gives a slot.
  mem_owner owner(std::uint64_t slot) const {
    if (blocks.find(slot >> 6) == blocks.end())
      return {};
    return owner_in(committed, slot);
  }

  /// False when no slot of `committed` lies in [from, from + 63] (a
  /// probe's window; it may wrap around).
  bool may_hold(std::uint64_t from) const {
    auto to = from + static_cast<std::uint64_t>(max_probes - 1);
    return blocks.find(from >> 6) != blocks.end()
           || blocks.find(to >> 6) != blocks.end();
  }

  /// Erases `i` from `committed`; returns the next.
  tail_map::iterator drop(tail_map::iterator i) {
    if (auto b = blocks.find(i->first >> 6);
        b != blocks.end() && --b->second == 0)
      blocks.erase(b);
    return committed.erase(i);
  }

  void truncate(std::size_t mark) {
    if (mark >= staged.size())
      return;
    staged.resize(mark);
    staged_last.clear();
    for (std::size_t i = 0; i < staged.size(); ++i)
      staged_last[staged[i].slot] = i;
  }

  /// Adds one committed entry (under `mtx`, or before readers exist).
  void add(std::uint64_t slot, std::string_view company, std::string_view type,
           std::string_view id, std::uint64_t version, std::uint64_t seq) {
    auto [it, fresh] = committed.try_emplace(slot);
    if (fresh)
      ++blocks[slot >> 6];
    auto& t = it->second;
    if (t.entries.empty()) {
      t.company = std::string{company};
      t.type = std::string{type};
      t.id = std::string{id};
    }
    t.entries.push_back({version, seq});
    ++committed_entries;
    last_seq = std::max(last_seq, seq);
  }
};

struct event_store::found_stream {
  read_txn txn;
  stream_slot slot;
  std::vector<tail_entry> mem; ///< The stream's entries in memory.
};

// -- construction -------------------------------------------------------------

event_store::event_store(environment& env, writer& w, config cfg, dbs d)
    : env_(env), writer_(w), cfg_(cfg), db_(d),
      tails_(std::make_unique<stream_tails>()) {
  if (cfg_.hash == nullptr)
    cfg_.hash = &default_stream_hash;
  if (cfg_.stream_index_chunk == 0)
    cfg_.stream_index_chunk = 1;
  if (cfg_.stream_index_batch == 0)
    cfg_.stream_index_batch = 1;
}

event_store::~event_store() = default;

result<std::unique_ptr<event_store>> event_store::open(environment& env,
                                                       writer& w, config cfg) {
  return guarded(
      "event_store::open", [&]() -> result<std::unique_ptr<event_store>> {
        dbs d{};
        struct spec {
          const char* name;
          unsigned flags;
          MDB_dbi* out;
        };
        spec specs[] = {
            {events_db, 0, &d.events},
            {streams_db, 0, &d.streams},
            {event_ids_db, 0, &d.event_ids},
            {by_type_db, 0, &d.by_type},
            {by_time_db, 0, &d.by_time},
            {by_company_db, 0, &d.by_company},
            {by_ref_db, 0, &d.by_ref},
            {listed_db, 0, &d.listed},
            {checkpoints_db, 0, &d.checkpoints},
        };
        for (auto& s : specs) {
          auto dbi = env.open_db(s.name, s.flags);
          if (!dbi)
            return make_unexpected(dbi.error());
          *s.out = *dbi;
        }
        std::unique_ptr<event_store> out{new event_store(env, w, cfg, d)};
        if (cfg.rebuild_stream_index)
          if (auto ok = out->migrate_keys(); !ok)
            return make_unexpected(ok.error());
        if (cfg.rebuild_stream_index)
          if (auto ok = out->recover_stream_tails(); !ok)
            return make_unexpected(ok.error());
        if (cfg.refs && cfg.rebuild_stream_index)
          if (auto ok = out->settle_refs_checkpoint(); !ok)
            return make_unexpected(ok.error());
        if (cfg.lists && cfg.rebuild_stream_index)
          if (auto ok = out->build_lists(); !ok)
            return make_unexpected(ok.error());
        return out;
      });
}

result<std::uint64_t> event_store::key_format(const read_txn& txn) const {
  bool found = false;
  auto format
      = read_checkpoint(txn.handle(), db_.checkpoints, keys_checkpoint, &found);
  if (!format || found)
    return format;
  // None: a new store (current keys from its first append on) or one
  // written before the checkpoint existed (format 1).
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn.handle(), db_.events, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_FIRST);
  if (rc == MDB_NOTFOUND)
    return current_key_format;
  if (rc != 0)
    return fail_mdb(rc, "mdb_cursor_get(events)");
  return std::uint64_t{1};
}

result<void> event_store::migrate_keys() {
  {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    bool found = false;
    auto format = read_checkpoint(txn->handle(), db_.checkpoints,
                                  keys_checkpoint, &found);
    if (!format)
      return make_unexpected(format.error());
    if (found && *format >= current_key_format)
      return {};
    if (found)
      return fail(errc::corrupt, "checkpoints: unknown stream key format "
                                     + std::to_string(*format));
  }
  // Format 1 keyed streams and event ids by (type, id) and id alone; from
  // format 2 on both include the company. One transaction rewrites both
  // databases from the log, so that an open sees either layout whole.
  return writer_.execute([this](write_txn& w) -> result<void> {
    auto* t = w.handle();
    MDB_val key, val;
    {
      cursor_guard probe;
      if (auto rc = mdb_cursor_open(t, db_.events, &probe.c); rc != 0)
        return fail_mdb(rc, "mdb_cursor_open");
      auto rc = mdb_cursor_get(probe.c, &key, &val, MDB_FIRST);
      if (rc == MDB_NOTFOUND) // a new store: nothing to move
        return write_checkpoint(t, db_.checkpoints, keys_checkpoint,
                                current_key_format);
      if (rc != 0)
        return fail_mdb(rc, "mdb_cursor_get(events)");
    }
    if (auto rc = mdb_drop(t, db_.streams, 0); rc != 0)
      return fail_mdb(rc, "mdb_drop(streams)");
    if (auto rc = mdb_drop(t, db_.event_ids, 0); rc != 0)
      return fail_mdb(rc, "mdb_drop(event_ids)");
    auto sc = w.cursor(db_.streams);
    if (!sc)
      return make_unexpected(sc.error());
    cursor_guard ec;
    if (auto rc = mdb_cursor_open(t, db_.events, &ec.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    auto nothing = [](std::uint64_t) {
      return mem_owner{};
    };
    std::uint64_t last = 0;
    id_key ik;
    auto rc = mdb_cursor_get(ec.c, &key, &val, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(ec.c, &key, &val, MDB_NEXT)) {
      auto ev = decode_record(val.mv_data, val.mv_size);
      if (!ev)
        return make_unexpected(ev.error());
      last = ev->sequence;
      char seq_be[8];
      put_be64(seq_be, ev->sequence);
      auto seq_val = as_val(seq_be, 8);
      // The event's id, in its company.
      if (ev->id.empty() || ev->id.size() > max_name_size
          || ev->company_id.size() > max_name_size
          || 2 + ev->id.size() + ev->company_id.size() > max_key_size)
        return fail(errc::corrupt, "events: record "
                                       + std::to_string(ev->sequence)
                                       + " has an id that cannot be keyed");
      make_id_key(ev->company_id, ev->id, ik);
      auto k = ik.val();
      auto v = seq_val;
      if (auto r = mdb_put(t, db_.event_ids, &k, &v, MDB_NOOVERWRITE); r != 0)
        return r == MDB_KEYEXIST
                   ? fail(errc::corrupt, "events: id " + std::string{ev->id}
                                             + " is stored twice")
                   : fail_mdb(r, "mdb_put(event_ids)");
      // The event's stream, in its company. A stream of format 1 that
      // holds events of two companies becomes one stream per company.
      auto slot = find_stream(
          t, *sc, db_.events,
          cfg_.hash(ev->company_id, ev->aggregate_type, ev->aggregate_id),
          ev->company_id, ev->aggregate_type, ev->aggregate_id, nothing);
      if (!slot)
        return make_unexpected(slot.error());
      stream_key sk{slot->slot, ev->version};
      k = sk.val();
      v = seq_val;
      // A version stored twice (two writers on one store) keeps its first
      // event, as reads did before; `switchboard check` reports it.
      if (auto r = mdb_put(t, db_.streams, &k, &v, MDB_NOOVERWRITE);
          r != 0 && r != MDB_KEYEXIST)
        return fail_mdb(r, "mdb_put(streams)");
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(events)");
    // Every event is in the streams database now.
    if (auto ok
        = write_checkpoint(t, db_.checkpoints, streams_checkpoint, last);
        !ok)
      return ok;
    return write_checkpoint(t, db_.checkpoints, keys_checkpoint,
                            current_key_format);
  });
}

result<void> event_store::settle_refs_checkpoint() {
  std::uint64_t last = 0;
  {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    bool found = false;
    auto from = read_checkpoint(txn->handle(), db_.checkpoints, refs_checkpoint,
                                &found);
    if (!from)
      return make_unexpected(from.error());
    if (found) {
      refs_from_ = *from;
      return {};
    }
    cursor_guard ec;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.events, &ec.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    MDB_val key, val;
    auto rc = mdb_cursor_get(ec.c, &key, &val, MDB_LAST);
    if (rc == 0 && key.mv_size == 8)
      last = get_be64(key.mv_data);
    else if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(events)");
  }
  // The events stored before references existed are not indexed: from
  // the next one on, every append is.
  auto value = last + 1;
  auto ok = writer_.execute([this, value](write_txn& w) {
    return write_checkpoint(w.handle(), db_.checkpoints, refs_checkpoint,
                            value);
  });
  if (!ok)
    return ok;
  refs_from_ = value;
  return {};
}

namespace {

/// The key of a sorted list entry: list size (2 bytes), list, sort key.
std::string list_key(std::string_view list, std::string_view sort_key) {
  std::string k;
  k.reserve(2 + list.size() + sort_key.size());
  k.push_back(static_cast<char>(list.size() >> 8));
  k.push_back(static_cast<char>(list.size() & 0xff));
  k.append(list);
  k.append(sort_key);
  return k;
}

} // namespace

listing event_store::listing_of(const envelope& e) const {
  listing out;
  if (cfg_.lists)
    cfg_.lists(e, out);
  if (cfg_.refs)
    cfg_.refs(e, out.refs);
  return out;
}

result<void> event_store::list_in(MDB_txn* t, const envelope* previous,
                                  const envelope& e, const listing* computed) {
  auto listable = [](const std::pair<std::string, std::string>& entry) {
    return !entry.first.empty()
           && 2 + entry.first.size() + entry.second.size() <= max_key_size;
  };
  auto& now = listing_scratch_;
  now.entries.clear();
  if (computed == nullptr)
    cfg_.lists(e, now);
  const auto& entries = computed != nullptr ? computed->entries : now.entries;
  // The entries of the stream's previous event go, unless this event
  // keeps them (then the put below points them at this event).
  if (previous != nullptr) {
    auto& before = previous_scratch_;
    before.entries.clear();
    cfg_.lists(*previous, before);
    for (const auto& entry : before.entries) {
      if (!listable(entry)
          || std::find(entries.begin(), entries.end(), entry) != entries.end())
        continue;
      auto k = list_key(entry.first, entry.second);
      auto key = as_val(k);
      if (auto rc = mdb_del(t, db_.listed, &key, nullptr);
          rc != 0 && rc != MDB_NOTFOUND)
        return fail_mdb(rc, "mdb_del(listed)");
    }
  }
  char seq_be[8];
  put_be64(seq_be, e.sequence);
  for (const auto& entry : entries) {
    if (!listable(entry))
      continue;
    auto k = list_key(entry.first, entry.second);
    auto key = as_val(k);
    auto val = as_val(seq_be, 8);
    if (auto rc = mdb_put(t, db_.listed, &key, &val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put(listed)");
  }
  return {};
}

result<void> event_store::build_lists() {
  {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    bool found = false;
    auto built = read_checkpoint(txn->handle(), db_.checkpoints,
                                 lists_checkpoint, &found);
    if (!built)
      return make_unexpected(built.error());
    if (found)
      return {};
  }
  // A store made before the lists: list what it holds, a batch of events
  // per write transaction, before any append.
  std::uint64_t from = 1;
  for (;;) {
    auto batch = read_all(from, 4096);
    if (!batch)
      return make_unexpected(batch.error());
    if (batch->empty())
      break;
    from = batch->back().sequence + 1;
    // Only the last event of each stream is listed: an earlier one's
    // entries would be replaced anyway.
    std::vector<const envelope*> last;
    for (const auto& e : *batch) {
      auto later = read_stream(e.company_id, e.aggregate_type, e.aggregate_id,
                               e.version + 1, 1);
      if (!later)
        return make_unexpected(later.error());
      if (later->empty())
        last.push_back(&e);
    }
    auto ok = writer_.execute([this, &last](write_txn& w) -> result<void> {
      for (const auto* e : last)
        if (auto one = list_in(w.handle(), nullptr, *e, nullptr); !one)
          return one;
      return {};
    });
    if (!ok)
      return ok;
  }
  return writer_.execute([this, from](write_txn& w) {
    return write_checkpoint(w.handle(), db_.checkpoints, lists_checkpoint,
                            from);
  });
}

result<void> event_store::recover_stream_tails() {
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  auto* t = txn->handle();
  bool found = false;
  auto through
      = read_checkpoint(t, db_.checkpoints, streams_checkpoint, &found);
  if (!through)
    return make_unexpected(through.error());
  cursor_guard sc;
  if (auto rc = mdb_cursor_open(t, db_.streams, &sc.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  cursor_guard ec;
  if (auto rc = mdb_cursor_open(t, db_.events, &ec.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  MDB_val key, val;
  if (!found) {
    // No checkpoint: a new store, or one whose streams database was
    // written with every append (complete).
    auto rc = mdb_cursor_get(sc.c, &key, &val, MDB_FIRST);
    if (rc == 0) {
      rc = mdb_cursor_get(ec.c, &key, &val, MDB_LAST);
      if (rc == 0 && key.mv_size == 8)
        *through = get_be64(key.mv_data);
    } else if (rc != MDB_NOTFOUND) {
      return fail_mdb(rc, "mdb_cursor_get(streams)");
    }
  }
  auto& T = *tails_;
  T.indexed_through = *through;
  if (!found && *through > 0) {
    // Settle it now: once later events commit, the rule above would take
    // their (unflushed) entries for flushed ones.
    auto value = *through;
    auto ok = writer_.execute([this, value](write_txn& w) {
      return write_checkpoint(w.handle(), db_.checkpoints, streams_checkpoint,
                              value);
    });
    if (!ok)
      return ok;
  }
  // The entries of the events past the checkpoint, in log order, as the
  // appends placed them.
  char start[8];
  put_be64(start, *through + 1);
  key = as_val(start, 8);
  auto rc = mdb_cursor_get(ec.c, &key, &val, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(ec.c, &key, &val, MDB_NEXT)) {
    auto ev = decode_record(val.mv_data, val.mv_size);
    if (!ev)
      return make_unexpected(ev.error());
    auto slot = find_stream(
        t, sc.c, db_.events,
        cfg_.hash(ev->company_id, ev->aggregate_type, ev->aggregate_id),
        ev->company_id, ev->aggregate_type, ev->aggregate_id,
        [&T](std::uint64_t s) {
          return T.owner(s);
        });
    if (!slot)
      return make_unexpected(slot.error());
    T.add(slot->slot, ev->company_id, ev->aggregate_type, ev->aggregate_id,
          ev->version, ev->sequence);
  }
  if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(events)");
  return {};
}

event_store::stream_index_stats event_store::stream_index() const {
  std::shared_lock<std::shared_mutex> lock{tails_->mtx};
  return {tails_->committed_entries, tails_->indexed_through};
}

result<event_store::found_stream>
event_store::find_for_read(std::string_view company, std::string_view type,
                           std::string_view id) const {
  auto& T = *tails_;
  auto hash = cfg_.hash(company, type, id);
  // The snapshot begins under the lock, with a copy of what memory holds
  // for the slots a probe can visit: the two then agree (entries leave
  // memory only after their flush has committed). The probe runs unlocked.
  tail_map window;
  std::shared_lock<std::shared_mutex> lock{T.mtx};
  auto txn = env_.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  auto last = hash + static_cast<std::uint64_t>(max_probes - 1);
  auto copy = [&](std::uint64_t from, std::uint64_t to) {
    for (auto i = T.committed.lower_bound(from);
         i != T.committed.end() && i->first <= to; ++i)
      window.emplace(i->first, i->second);
  };
  if (!T.may_hold(hash)) {
    // Nothing in memory near the stream's slots.
  } else if (last >= hash) {
    copy(hash, last);
  } else { // the window wraps around
    copy(hash, ~std::uint64_t{0});
    copy(0, last);
  }
  lock.unlock();
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn->handle(), db_.streams, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  auto slot = find_stream(
      txn->handle(), c.c, db_.events, hash, company, type, id,
      [&window](std::uint64_t s) {
        return owner_in(window, s);
      },
      true);
  if (!slot)
    return make_unexpected(slot.error());
  std::vector<tail_entry> mem;
  if (slot->exists)
    if (auto i = window.find(slot->slot); i != window.end())
      mem = std::move(i->second.entries);
  mdb_cursor_close(c.c);
  c.c = nullptr;
  return found_stream{std::move(*txn), *slot, std::move(mem)};
}

void event_store::stage(write_txn& txn, std::uint64_t slot, const envelope& e) {
  auto& T = *tails_;
  auto& top = txn.top();
  if (T.top_serial != top.serial()) {
    T.top_serial = top.serial();
    T.child_serial = 0;
    T.staged.clear();
    T.staged_last.clear();
    top.on_end([this](bool committed) {
      auto& T = *tails_;
      if (committed && !T.staged.empty()) {
        std::uint64_t touched = 0; // bit i: generation i
        {
          std::lock_guard<std::shared_mutex> lock{T.mtx};
          for (const auto& s : T.staged) {
            T.add(s.slot, s.company, s.type, s.id, s.version, s.seq);
            touched |= std::uint64_t{1} << stream_tails::generation_of(s.type);
          }
        }
        // After the entries are readers' to see, before the commit is
        // reported (the hooks run inside commit()).
        for (std::size_t i = 0; i < stream_tails::generations; ++i)
          if ((touched >> i) & 1)
            T.generation[i].fetch_add(1, std::memory_order_release);
      }
      T.staged.clear();
      T.staged_last.clear();
      T.top_serial = 0;
      T.child_serial = 0;
    });
  }
  if (&txn != &top && T.child_serial != txn.serial()) {
    T.child_serial = txn.serial();
    auto mark = T.staged.size();
    txn.on_end([this, mark](bool committed) {
      if (!committed)
        tails_->truncate(mark);
    });
  }
  T.staged.push_back({slot, e.version, e.sequence, e.company_id,
                      e.aggregate_type, e.aggregate_id});
  T.staged_last[slot] = T.staged.size() - 1;
}

result<void> event_store::flush_step(write_txn& txn) {
  auto& T = *tails_;
  auto& top = txn.top();
  if (T.flush_serial == top.serial())
    return {}; // one chunk per transaction
  if (!T.flushing) {
    if (T.committed_entries < cfg_.stream_index_batch)
      return {};
    // A new cycle: every entry committed so far.
    T.flushing = true;
    T.flush_through = std::max(T.last_seq, T.indexed_through);
    T.flush_next = 0;
  }
  T.flush_serial = top.serial();
  auto c = txn.cursor(db_.streams);
  if (!c)
    return make_unexpected(c.error());
  auto put_checkpoint = [&](std::uint64_t seq) {
    return write_checkpoint(txn.handle(), db_.checkpoints, streams_checkpoint,
                            seq);
  };
  if (T.flush_next == 0)
    // The checkpoint exists before the first flushed entry does, so that
    // an open after a crash never takes a part-flushed store for complete.
    if (auto ok = put_checkpoint(T.indexed_through); !ok)
      return ok;
  auto from = T.flush_next;
  std::size_t written = 0;
  auto i = T.committed.lower_bound(from);
  // A chunk grows with the backlog, so that cycles keep pace with appends
  // however many a transaction holds; and stays small against it, so
  // that the commits a cycle rides on are not held up by it (each entry
  // is a leaf of its own: 1/64 of a full batch took each of those commits
  // from about 1 ms to several, which was the p99 of paced bookings).
  auto chunk = std::max(cfg_.stream_index_chunk, T.committed_entries / 512);
  for (; i != T.committed.end() && written < chunk; ++i) {
    for (const auto& e : i->second.entries) {
      if (e.seq > T.flush_through)
        break;
      stream_key sk{i->first, e.version};
      auto key = sk.val();
      char seq_be[8];
      put_be64(seq_be, e.seq);
      auto val = as_val(seq_be, 8);
      auto rc = mdb_cursor_put(*c, &key, &val, MDB_NOOVERWRITE);
      if (rc == MDB_KEYEXIST) {
        // Written by a cycle a crash cut short: it must say the same.
        if (val.mv_size != 8 || get_be64(val.mv_data) != e.seq)
          return fail(errc::corrupt, "streams: version stored twice");
      } else if (rc != 0) {
        return fail_mdb(rc, "mdb_cursor_put(streams)");
      }
      ++written;
    }
  }
  bool done = i == T.committed.end();
  auto next = done ? 0 : i->first;
  if (done)
    if (auto ok = put_checkpoint(T.flush_through); !ok)
      return ok;
  txn.on_end([this, from, next, done](bool committed) {
    auto& T = *tails_;
    if (!committed) {
      T.flush_serial = 0; // the next transaction writes this chunk again
      return;
    }
    // The chunk's entries are in the database: memory lets them go.
    std::lock_guard<std::shared_mutex> lock{T.mtx};
    auto i = T.committed.lower_bound(from);
    while (i != T.committed.end() && (done || i->first < next)) {
      auto& es = i->second.entries;
      auto keep = std::find_if(es.begin(), es.end(), [&T](const tail_entry& e) {
        return e.seq > T.flush_through;
      });
      T.committed_entries -= static_cast<std::size_t>(keep - es.begin());
      es.erase(es.begin(), keep);
      if (es.empty())
        i = T.drop(i);
      else
        ++i;
    }
    if (done) {
      T.indexed_through = T.flush_through;
      T.flushing = false;
      T.flush_next = 0;
    } else {
      T.flush_next = next;
    }
  });
  return {};
}

std::uint64_t event_store::default_stream_hash(std::string_view company,
                                               std::string_view type,
                                               std::string_view id) {
  // FNV-1a over (size of company, company, size of type, type, id), then
  // the splitmix64 finalizer.
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](unsigned char b) {
    h ^= b;
    h *= 0x100000001b3ull;
  };
  auto sized = [&mix](std::string_view s) {
    auto n = s.size();
    for (int i = 0; i < 4; ++i)
      mix(static_cast<unsigned char>(n >> (8 * i)));
    for (char c : s)
      mix(static_cast<unsigned char>(c));
  };
  sized(company);
  auto n = type.size();
  for (int i = 0; i < 4; ++i)
    mix(static_cast<unsigned char>(n >> (8 * i)));
  for (char c : type)
    mix(static_cast<unsigned char>(c));
  for (char c : id)
    mix(static_cast<unsigned char>(c));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// -- appends ------------------------------------------------------------------

event_store::append_result event_store::append(std::vector<envelope> events,
                                               expected_version expected) {
  if (writer_.on_writer_thread())
    return fail(errc::internal,
                "blocking append on the writer thread; use append_in");
  return guarded("event_store::append", [&]() -> append_result {
    std::promise<append_result> promise;
    auto future = promise.get_future();
    append_async(std::move(events), expected, [&promise](append_result res) {
      promise.set_value(std::move(res));
    });
    return future.get();
  });
}

void event_store::append_async(std::vector<envelope> events,
                               expected_version expected,
                               std::function<void(append_result)> done) {
  struct state {
    std::vector<envelope> events;
    append_result res{std::vector<std::uint64_t>{}};
  };
  std::shared_ptr<state> st;
  try {
    st = std::make_shared<state>();
    st->events = std::move(events);
  } catch (const std::bad_alloc&) {
    done(fail(errc::out_of_memory, "append_async"));
    return;
  }
  auto op = [this, st, expected](write_txn& txn) -> result<void> {
    st->res = append_in(txn, st->events, expected);
    if (!st->res)
      return make_unexpected(st->res.error());
    return {};
  };
  auto on_done = [st, done = std::move(done)](const result<void>& res) {
    if (!res)
      done(make_unexpected(res.error()));
    else
      done(std::move(st->res));
  };
  writer_.submit(std::move(op), std::move(on_done),
                 cfg_.nested_txn ? isolation::nested : isolation::validated);
}

event_store::append_result event_store::append_in(write_txn& txn,
                                                  std::vector<envelope>& events,
                                                  expected_version expected,
                                                  bool* already_stored,
                                                  const listing* listings) {
  if (already_stored != nullptr)
    *already_stored = false;
  return guarded("event_store::append_in", [&]() -> append_result {
    // 1. Validate, before touching the transaction.
    if (events.empty())
      return fail(errc::invalid_argument, "append: no events");
    if (events.size() > cfg_.max_events_per_append)
      return fail(errc::invalid_argument,
                  "append: more than "
                      + std::to_string(cfg_.max_events_per_append) + " events");
    const auto& company = events.front().company_id;
    const auto& agg_type = events.front().aggregate_type;
    const auto& agg_id = events.front().aggregate_id;
    if (agg_type.empty() || agg_id.empty())
      return fail(errc::invalid_argument,
                  "append: empty aggregate_type or aggregate_id");
    if (expected.what == expected_version::kind::no_stream)
      expected = expected_version::exact(0);
    std::vector<id_key> keys(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      auto& e = events[i];
      auto which = [i] {
        return "event " + std::to_string(i) + ": ";
      };
      if (e.aggregate_type != agg_type || e.aggregate_id != agg_id
          || e.company_id != company)
        return fail(errc::invalid_argument,
                    which()
                        + "events of one append must share one aggregate "
                          "and company");
      if (e.id.empty() || e.id.size() > max_name_size)
        return fail(errc::invalid_argument,
                    which() + "id must have 1 to 255 bytes");
      if (e.type.empty() || e.type.size() > max_name_size)
        return fail(errc::invalid_argument,
                    which() + "type must have 1 to 255 bytes");
      if (e.company_id.size() > max_name_size)
        return fail(errc::invalid_argument,
                    which() + "company_id must have at most 255 bytes");
      if (record_size(e) > cfg_.max_record_size)
        return fail(errc::invalid_argument,
                    which() + "record larger than max_record_size");
      if (2 + e.id.size() + e.company_id.size() > max_key_size)
        return fail(errc::invalid_argument,
                    which() + "id and company_id have more than "
                        + std::to_string(max_key_size - 2) + " bytes together");
      make_id_key(e.company_id, e.id, keys[i]);
    }
    if (keys.size() > 1) {
      auto sorted = keys;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
        return fail(errc::invalid_argument, "append: duplicate event id");
    }
    auto* t = txn.handle();
    // 2. Idempotency: an append whose ids are all stored (in this company:
    //    event ids are per company) is a retry.
    std::size_t found = 0;
    std::vector<std::uint64_t> seqs(events.size(), 0);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto key = keys[i].val();
      MDB_val val;
      auto rc = mdb_get(t, db_.event_ids, &key, &val);
      if (rc == MDB_NOTFOUND)
        continue;
      if (rc != 0)
        return fail_mdb(rc, "mdb_get(event_ids)");
      if (val.mv_size != 8)
        return fail(errc::corrupt, "event_ids: bad value size");
      seqs[i] = get_be64(val.mv_data);
      ++found;
    }
    if (found == events.size()) {
      for (std::size_t i = 0; i < events.size(); ++i) {
        auto stored = load(t, db_.events, seqs[i]);
        if (!stored)
          return make_unexpected(stored.error());
        if (stored->aggregate_type != agg_type
            || stored->aggregate_id != agg_id)
          return fail(errc::duplicate_event,
                      "event id " + events[i].id
                          + " is stored in another stream");
        events[i].version = stored->version;
        events[i].sequence = stored->sequence;
      }
      ++idempotent_;
      if (already_stored != nullptr)
        *already_stored = true;
      return seqs;
    }
    if (found > 0) {
      for (std::size_t i = 0; i < events.size(); ++i)
        if (seqs[i] != 0)
          return fail(
              errc::duplicate_event,
              "event id " + events[i].id
                  + " is already stored, but not all ids of the append");
    }
    // 3. The stream and its version (memory first: its entries are the
    //    newest).
    auto streams_cursor = txn.cursor(db_.streams);
    if (!streams_cursor)
      return make_unexpected(streams_cursor.error());
    const auto& tails = *tails_;
    // A stream belongs to a company: its key is (company, type, id), so
    // equal ids of two companies are two streams.
    auto slot = find_stream(t, *streams_cursor, db_.events,
                            cfg_.hash(company, agg_type, agg_id), company,
                            agg_type, agg_id, [&tails](std::uint64_t s) {
                              return tails.writer_owner(s);
                            });
    if (!slot)
      return make_unexpected(slot.error());
    auto current = slot->version;
    std::optional<envelope> previous; // the stream's last event
    if (slot->exists && cfg_.lists) {
      auto last = load(t, db_.events, slot->last_seq);
      if (!last)
        return make_unexpected(last.error());
      previous = last->to_envelope();
    }
    if (expected.what == expected_version::kind::exact
        && expected.version != current) {
      ++conflicts_;
      return fail(errc::version_conflict,
                  "stream " + agg_type + "/" + agg_id + " is at version "
                      + std::to_string(current) + ", expected "
                      + describe(expected),
                  current);
    }
    // 4. The next sequence: one past the log's last key (remembered for
    //    the rest of this transaction, so a batch reads it once).
    auto events_cursor = txn.cursor(db_.events);
    if (!events_cursor)
      return make_unexpected(events_cursor.error());
    std::uint64_t next_seq = 1;
    if (next_seq_txn_ == txn.serial()) {
      next_seq = next_seq_;
    } else {
      MDB_val k, v;
      auto rc = mdb_cursor_get(*events_cursor, &k, &v, MDB_LAST);
      if (rc == 0) {
        if (k.mv_size != 8)
          return fail(errc::corrupt, "events: bad key size");
        next_seq = get_be64(k.mv_data) + 1;
      } else if (rc != MDB_NOTFOUND) {
        return fail_mdb(rc, "mdb_cursor_get(events)");
      }
    }
    auto ids_cursor = txn.cursor(db_.event_ids);
    if (!ids_cursor)
      return make_unexpected(ids_cursor.error());
    auto time_cursor = txn.cursor(db_.by_time);
    if (!time_cursor)
      return make_unexpected(time_cursor.error());
    // 5. Write. From here on an error loses the transaction.
    if (auto ok = flush_step(txn); !ok)
      return make_unexpected(ok.error());
    for (std::size_t i = 0; i < events.size(); ++i) {
      auto& e = events[i];
      e.version = current + 1 + i;
      e.sequence = next_seq + i;
      seqs[i] = e.sequence;
      char seq_be[8];
      put_be64(seq_be, e.sequence);
      auto seq_val = as_val(seq_be, 8);
      // events: appended at the end of the log, encoded in place.
      auto key = seq_val;
      MDB_val rec{record_size(e), nullptr};
      if (auto rc = mdb_cursor_put(*events_cursor, &key, &rec,
                                   MDB_APPEND | MDB_RESERVE);
          rc != 0)
        return fail_mdb(rc, "mdb_cursor_put(events)");
      encode_record(e, static_cast<char*>(rec.mv_data));
      // streams: in memory until a flush cycle writes them.
      stage(txn, slot->slot, e);
      MDB_val val;
      // event_ids: UUIDv7 ids come in nearly in order, so first try the
      // right edge (no descent), then an ordinary insert.
      key = keys[i].val();
      val = seq_val;
      if (auto rc = put_at_edge(*ids_cursor, key, val, MDB_NOOVERWRITE);
          rc != 0)
        return fail_mdb(rc, "mdb_put(event_ids)");
      // by_type
      name_key type_key{e.type, e.sequence};
      key = type_key.val();
      val = as_val(nullptr, 0);
      if (auto rc = mdb_put(t, db_.by_type, &key, &val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(by_type)");
      // by_time
      char tk[16];
      put_be64(tk, order_preserving(e.occurred_at));
      put_be64(tk + 8, e.sequence);
      key = as_val(tk, 16);
      val = as_val(nullptr, 0);
      if (auto rc = put_at_edge(*time_cursor, key, val, 0); rc != 0)
        return fail_mdb(rc, "mdb_put(by_time)");
      // by_company
      if (!e.company_id.empty()) {
        name_key company_key{e.company_id, e.sequence};
        key = company_key.val();
        val = as_val(nullptr, 0);
        if (auto rc = mdb_put(t, db_.by_company, &key, &val, 0); rc != 0)
          return fail_mdb(rc, "mdb_put(by_company)");
      }
      // by_ref
      if (cfg_.refs) {
        refs_scratch_.clear();
        if (listings == nullptr)
          cfg_.refs(e, refs_scratch_);
        const auto& refs
            = listings != nullptr ? listings[i].refs : refs_scratch_;
        for (const auto& ref : refs) {
          if (ref.empty() || ref.size() > max_name_size)
            continue;
          name_key ref_key{ref, e.sequence};
          key = ref_key.val();
          val = as_val(nullptr, 0);
          if (auto rc = mdb_put(t, db_.by_ref, &key, &val, 0); rc != 0)
            return fail_mdb(rc, "mdb_put(by_ref)");
        }
      }
      // listed
      if (cfg_.lists) {
        const envelope* before = nullptr;
        if (i > 0)
          before = &events[i - 1];
        else if (previous)
          before = &*previous;
        if (auto ok = list_in(t, before, e,
                              listings != nullptr ? &listings[i] : nullptr);
            !ok)
          return make_unexpected(ok.error());
      }
    }
    next_seq_txn_ = txn.serial();
    next_seq_ = next_seq + events.size();
    ++appends_;
    return seqs;
  });
}

// -- reads --------------------------------------------------------------------

namespace {

/// The sequences of a stream from `from_version` on, at most `max_count`:
/// the streams database's entries (a gap-free prefix) and then memory's
/// newer ones (the two overlap while a flush is being let go).
result<std::vector<tail_entry>>
stream_entries(MDB_txn* txn, MDB_dbi streams, std::uint64_t slot,
               const std::vector<tail_entry>& mem, std::uint64_t from_version,
               std::size_t max_count) {
  std::vector<tail_entry> out;
  cursor_guard c;
  if (auto rc = mdb_cursor_open(txn, streams, &c.c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  stream_key k{slot, std::max<std::uint64_t>(from_version, 1)};
  auto key = k.val();
  MDB_val val;
  auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
  for (; rc == 0 && out.size() < max_count;
       rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
    if (key.mv_size != 16 || val.mv_size != 8)
      return fail(errc::corrupt, "streams: bad key or value size");
    if (get_be64(key.mv_data) != slot)
      break;
    out.push_back({get_be64(static_cast<const char*>(key.mv_data) + 8),
                   get_be64(val.mv_data)});
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(streams)");
  for (const auto& e : mem) {
    if (out.size() >= max_count)
      break;
    if (e.version < from_version
        || (!out.empty() && e.version <= out.back().version))
      continue;
    out.push_back(e);
  }
  return out;
}

} // namespace

result<std::vector<envelope>> event_store::read_stream(
    std::string_view company_id, std::string_view aggregate_type,
    std::string_view aggregate_id, std::uint64_t from_version,
    std::size_t max_count) const {
  return guarded("read_stream", [&]() -> result<std::vector<envelope>> {
    std::vector<envelope> out;
    if (max_count == 0 || aggregate_type.empty() || aggregate_id.empty())
      return out;
    auto f = find_for_read(company_id, aggregate_type, aggregate_id);
    if (!f)
      return make_unexpected(f.error());
    if (!f->slot.exists || f->slot.version < from_version)
      return out;
    auto* t = f->txn.handle();
    auto entries = stream_entries(t, db_.streams, f->slot.slot, f->mem,
                                  from_version, max_count);
    if (!entries)
      return make_unexpected(entries.error());
    out.reserve(entries->size());
    for (const auto& e : *entries) {
      auto ev = load(t, db_.events, e.seq);
      if (!ev) {
        auto err = ev.error();
        if (err.code == errc::not_found)
          err.code = errc::corrupt;
        return make_unexpected(std::move(err));
      }
      out.push_back(ev->to_envelope());
    }
    return out;
  });
}

result<void> event_store::visit_stream(
    std::string_view company_id, std::string_view aggregate_type,
    std::string_view aggregate_id, std::uint64_t after_seq,
    const std::function<bool(std::uint64_t)>& fn) const {
  return guarded("visit_stream", [&]() -> result<void> {
    if (aggregate_type.empty() || aggregate_id.empty())
      return {};
    auto f = find_for_read(company_id, aggregate_type, aggregate_id);
    if (!f)
      return make_unexpected(f.error());
    if (!f->slot.exists)
      return {};
    auto entries = stream_entries(f->txn.handle(), db_.streams, f->slot.slot,
                                  f->mem, 1, f->slot.version);
    if (!entries)
      return make_unexpected(entries.error());
    for (const auto& e : *entries)
      if (e.seq > after_seq && !fn(e.seq))
        return {};
    return {};
  });
}

result<void>
event_store::visit_company(const read_txn& txn, std::string_view company_id,
                           std::uint64_t after_seq,
                           const std::function<bool(std::uint64_t)>& fn) const {
  return guarded("visit_company", [&]() -> result<void> {
    if (company_id.empty() || company_id.size() > max_name_size)
      return {};
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn.handle(), db_.by_company, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    name_key start{company_id, after_seq + 1};
    auto prefix = start.prefix();
    auto key = start.val();
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
      if (key.mv_size != prefix.size() + 8
          || std::memcmp(key.mv_data, prefix.data(), prefix.size()) != 0)
        break;
      if (!fn(get_be64(static_cast<const char*>(key.mv_data) + prefix.size())))
        return {};
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(by_company)");
    return {};
  });
}

result<std::vector<envelope>>
event_store::read_by_type(std::string_view type, std::uint64_t from_seq,
                          std::size_t max_count) const {
  return guarded("read_by_type", [&]() -> result<std::vector<envelope>> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return read_name_index(*txn, db_.by_type, db_.events, type, from_seq,
                           max_count);
  });
}

result<std::vector<envelope>>
event_store::read_by_company(std::string_view company_id,
                             std::uint64_t from_seq,
                             std::size_t max_count) const {
  return guarded("read_by_company", [&]() -> result<std::vector<envelope>> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return read_name_index(*txn, db_.by_company, db_.events, company_id,
                           from_seq, max_count);
  });
}

result<std::vector<envelope>>
event_store::read_by_company_before(std::string_view company_id,
                                    std::uint64_t before_seq,
                                    std::size_t max_count) const {
  return guarded(
      "read_by_company_before", [&]() -> result<std::vector<envelope>> {
        std::vector<envelope> out;
        if (company_id.empty() || company_id.size() > max_name_size
            || max_count == 0 || before_seq <= 1)
          return out;
        auto txn = env_.begin_read();
        if (!txn)
          return make_unexpected(txn.error());
        cursor_guard c;
        if (auto rc = mdb_cursor_open(txn->handle(), db_.by_company, &c.c);
            rc != 0)
          return fail_mdb(rc, "mdb_cursor_open");
        name_key start{company_id, before_seq};
        auto prefix = start.prefix();
        auto key = start.val();
        MDB_val val;
        // The first key at or past the start, then back.
        auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
          rc = mdb_cursor_get(c.c, &key, &val, MDB_LAST);
        else if (rc == 0)
          rc = mdb_cursor_get(c.c, &key, &val, MDB_PREV);
        for (; rc == 0 && out.size() < max_count;
             rc = mdb_cursor_get(c.c, &key, &val, MDB_PREV)) {
          if (key.mv_size != prefix.size() + 8
              || std::memcmp(key.mv_data, prefix.data(), prefix.size()) != 0)
            break;
          auto seq
              = get_be64(static_cast<const char*>(key.mv_data) + prefix.size());
          if (seq >= before_seq)
            continue;
          auto ev = load(txn->handle(), db_.events, seq);
          if (!ev)
            return make_unexpected(ev.error());
          out.push_back(ev->to_envelope());
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
          return fail_mdb(rc, "mdb_cursor_get(by_company)");
        return out;
      });
}

result<std::vector<envelope>>
event_store::read_by_ref(std::string_view ref, std::uint64_t from_seq,
                         std::size_t max_count) const {
  return guarded("read_by_ref", [&]() -> result<std::vector<envelope>> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    return read_name_index(*txn, db_.by_ref, db_.events, ref, from_seq,
                           max_count);
  });
}

result<std::vector<envelope>>
event_store::read_by_time(timestamp_ms from_ms, timestamp_ms to_ms,
                          std::uint64_t after_seq,
                          std::size_t max_count) const {
  return guarded("read_by_time", [&]() -> result<std::vector<envelope>> {
    std::vector<envelope> out;
    if (max_count == 0 || from_ms >= to_ms)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.by_time, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    char start[16];
    auto from = order_preserving(from_ms);
    if (after_seq == ~std::uint64_t{0}) {
      if (from_ms + 1 >= to_ms)
        return out;
      put_be64(start, from + 1);
      put_be64(start + 8, 0);
    } else {
      put_be64(start, from);
      put_be64(start + 8, after_seq + 1);
    }
    auto end = order_preserving(to_ms);
    auto key = as_val(start, 16);
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && out.size() < max_count) {
      if (key.mv_size != 16)
        return fail(errc::corrupt, "by_time: bad key size");
      if (get_be64(key.mv_data) >= end)
        break;
      auto seq = get_be64(static_cast<const char*>(key.mv_data) + 8);
      auto ev = load(txn->handle(), db_.events, seq);
      if (!ev)
        return make_unexpected(ev.error());
      out.push_back(ev->to_envelope());
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(by_time)");
    return out;
  });
}

result<std::vector<envelope>>
event_store::read_all(std::uint64_t from_seq, std::size_t max_count) const {
  return guarded("read_all", [&]() -> result<std::vector<envelope>> {
    std::vector<envelope> out;
    if (max_count == 0)
      return out;
    auto res = scan(from_seq, [&](const envelope_view& v) {
      out.push_back(v.to_envelope());
      return out.size() < max_count;
    });
    if (!res)
      return make_unexpected(res.error());
    return out;
  });
}

result<std::vector<list_entry>>
event_store::read_list(std::string_view list, std::string_view from_key,
                       std::string_view to_key, std::size_t max_count) const {
  return guarded("read_list", [&]() -> result<std::vector<list_entry>> {
    std::vector<list_entry> out;
    if (list.empty() || 2 + list.size() > max_key_size || max_count == 0)
      return out;
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.listed, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    auto prefix = list_key(list, {});
    auto start = list_key(list, from_key);
    if (start.size() > max_key_size)
      return out;
    auto key = as_val(start);
    MDB_val val;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    for (; rc == 0 && out.size() < max_count;
         rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT)) {
      auto k = as_view(key);
      if (k.size() < prefix.size() || k.substr(0, prefix.size()) != prefix)
        break;
      auto sort_key = k.substr(prefix.size());
      if (!to_key.empty() && sort_key >= to_key)
        break;
      if (val.mv_size != 8)
        return fail(errc::corrupt, "listed: bad value size");
      auto ev = load(txn->handle(), db_.events, get_be64(val.mv_data));
      if (!ev)
        return make_unexpected(ev.error());
      out.push_back({std::string{sort_key}, ev->to_envelope()});
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(listed)");
    return out;
  });
}

result<envelope> event_store::read_event(std::uint64_t seq) const {
  return guarded("read_event", [&]() -> result<envelope> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto ev = load(txn->handle(), db_.events, seq);
    if (!ev)
      return make_unexpected(ev.error());
    return ev->to_envelope();
  });
}

result<std::uint64_t> event_store::find_event(std::string_view company_id,
                                              std::string_view event_id) const {
  return guarded("find_event", [&]() -> result<std::uint64_t> {
    if (event_id.empty() || event_id.size() > max_name_size
        || company_id.size() > max_name_size
        || 2 + event_id.size() + company_id.size() > max_key_size)
      return fail(errc::not_found, "no such event id");
    id_key k;
    make_id_key(company_id, event_id, k);
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    auto key = k.val();
    MDB_val val;
    auto rc = mdb_get(txn->handle(), db_.event_ids, &key, &val);
    if (rc == MDB_NOTFOUND)
      return fail(errc::not_found, "no event with id " + std::string{event_id});
    if (rc != 0)
      return fail_mdb(rc, "mdb_get(event_ids)");
    if (val.mv_size != 8)
      return fail(errc::corrupt, "event_ids: bad value size");
    return get_be64(val.mv_data);
  });
}

result<std::uint64_t> event_store::last_sequence() const {
  return guarded("last_sequence", [&]() -> result<std::uint64_t> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.events, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    MDB_val k, v;
    auto rc = mdb_cursor_get(c.c, &k, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND)
      return std::uint64_t{0};
    if (rc != 0)
      return fail_mdb(rc, "mdb_cursor_get(events)");
    if (k.mv_size != 8)
      return fail(errc::corrupt, "events: bad key size");
    return get_be64(k.mv_data);
  });
}

result<std::uint64_t>
event_store::stream_version(std::string_view company_id,
                            std::string_view aggregate_type,
                            std::string_view aggregate_id) const {
  return guarded("stream_version", [&]() -> result<std::uint64_t> {
    if (aggregate_type.empty() || aggregate_id.empty())
      return std::uint64_t{0};
    auto f = find_for_read(company_id, aggregate_type, aggregate_id);
    if (!f)
      return make_unexpected(f.error());
    return f->slot.exists ? f->slot.version : 0;
  });
}

std::uint64_t
event_store::stream_generation(std::string_view aggregate_type) const noexcept {
  return tails_->generation[stream_tails::generation_of(aggregate_type)].load(
      std::memory_order_acquire);
}

result<std::uint64_t>
event_store::scan(std::uint64_t from_seq,
                  const std::function<bool(const envelope_view&)>& fn) const {
  return guarded("scan", [&]() -> result<std::uint64_t> {
    auto txn = env_.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    cursor_guard c;
    if (auto rc = mdb_cursor_open(txn->handle(), db_.events, &c.c); rc != 0)
      return fail_mdb(rc, "mdb_cursor_open");
    char start[8];
    put_be64(start, from_seq);
    auto key = as_val(start, 8);
    MDB_val val;
    std::uint64_t n = 0;
    auto rc = mdb_cursor_get(c.c, &key, &val, MDB_SET_RANGE);
    while (rc == 0) {
      auto ev = decode_record(val.mv_data, val.mv_size);
      if (!ev)
        return make_unexpected(ev.error());
      ++n;
      if (!fn(*ev))
        return n;
      rc = mdb_cursor_get(c.c, &key, &val, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
      return fail_mdb(rc, "mdb_cursor_get(events)");
    return n;
  });
}

event_store_stats event_store::stats() const {
  event_store_stats s;
  s.appends = appends_.load();
  s.idempotent_appends = idempotent_.load();
  s.conflicts = conflicts_.load();
  return s;
}

} // namespace switchboard::store
