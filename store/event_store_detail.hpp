#pragma once
// What the event store's source files share (event_store.cpp: opening,
// migrations, the sorted lists and the streams index; event_store_append.cpp:
// appends; event_store_read.cpp: reads): database names, key layouts, the
// stream slots and the streams index in memory. Not part of the store's
// interface: include store/event_store.hpp.

#include "store/cursor_detail.hpp"
#include "store/event_store.hpp"
#include "store/hex.hpp"
#include "store/lmdb_util.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

namespace switchboard::store {

namespace event_detail {

/// Longest id, type and company id accepted (bytes).
inline constexpr std::size_t max_name_size = 255;

/// Most slots probed past a stream's hash before giving up.
inline constexpr int max_probes = 64;
static_assert(max_probes <= 64,
              "a probe window spans at most two blocks of 64 slots");

/// Database names.
inline constexpr const char* events_db = "events";
inline constexpr const char* streams_db = "streams";
inline constexpr const char* event_ids_db = "event_ids";
inline constexpr const char* by_type_db = "by_type";
inline constexpr const char* by_time_db = "by_time";
inline constexpr const char* by_company_db = "by_company";
inline constexpr const char* by_ref_db = "by_ref";
inline constexpr const char* listed_db = "listed";
inline constexpr const char* checkpoints_db = "checkpoints";

/// The checkpoint of the lists' first layout, in which each appointment
/// was also listed regardless of its status (event_store::build_lists
/// drops those lists and this checkpoint, and lists the store again).
inline constexpr std::string_view lists_checkpoint_v1 = "lists_built";

/// The sequences a forget deleted (company_forget.hpp), as runs: first
/// sequence → last sequence (both big-endian), each run as long as it
/// goes (adjacent runs are merged). Every sequence missing from the log
/// below its last one, or below `forgotten_checkpoint`, is in a run.
inline constexpr const char* forgotten_db = "events_forgotten";

/// The checkpoint (database `checkpoints`) holding the highest sequence a
/// forget deleted: appends continue past it, so that no sequence is given
/// twice when the log's last events were forgotten.
inline constexpr std::string_view forgotten_checkpoint = "forgotten_through";

/// Largest key LMDB takes (its default MDB_MAXKEYSIZE).
inline constexpr std::size_t max_key_size = 511;

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

/// Builds the key of `id` in `company`; the sizes of both must be at
/// most max_name_size (the id's at least 1).
inline void make_id_key(std::string_view company, std::string_view id,
                        id_key& key) {
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

/// The steps of the stream hash: FNV-1a over bytes, a sized part led by
/// its size (4 bytes, least significant first), then the splitmix64
/// finalizer.
struct stream_hasher {
  std::uint64_t h = 0xcbf29ce484222325ull;

  void byte(unsigned char b) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  void bytes(std::string_view s) {
    for (char c : s)
      byte(static_cast<unsigned char>(c));
  }
  void sized(std::string_view s) {
    auto n = s.size();
    for (int i = 0; i < 4; ++i)
      byte(static_cast<unsigned char>(n >> (8 * i)));
    bytes(s);
  }
  std::uint64_t finish() const {
    auto x = h;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
  }
};

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

inline result<envelope_view> load(MDB_txn* txn, MDB_dbi events,
                                  std::uint64_t seq) {
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
inline result<std::optional<slot_head>> last_in_slot(MDB_cursor* c,
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
    auto last = indexed(load(txn, events, (*head)->seq));
    if (!last)
      return make_unexpected(last.error());
    if (last->aggregate_type == type && last->aggregate_id == id
        && last->company_id == company)
      return stream_slot{slot, true, (*head)->version, (*head)->seq};
  }
  return fail(errc::corrupt, "streams: more than 64 colliding stream hashes");
}

/// Tails by slot, in key order (a flush cycle walks them in order).
using tail_map = std::map<std::uint64_t, stream_tail>;

/// Adds an entry of (`company`, `type`, `id`) in `slot` to `tails`; true
/// when the slot was not in `tails` before.
inline bool add_tail_entry(tail_map& tails, std::uint64_t slot,
                           std::string_view company, std::string_view type,
                           std::string_view id, std::uint64_t version,
                           std::uint64_t seq) {
  auto [it, fresh] = tails.try_emplace(slot);
  auto& t = it->second;
  if (t.entries.empty()) {
    t.company = std::string{company};
    t.type = std::string{type};
    t.id = std::string{id};
  }
  t.entries.push_back({version, seq});
  return fresh;
}

/// Places the stream index entries of the events past sequence `through`
/// (read with `events_cursor`, a cursor of `events`), in log order, as
/// their appends placed them: finds each event's slot, with `mem(slot)`
/// telling what memory holds (as for find_stream), and calls
/// `add(slot, event)`, which must make `mem` see the entry.
template <class Mem, class Add>
result<void> place_events_after(MDB_txn* txn, MDB_cursor* streams,
                                MDB_cursor* events_cursor, MDB_dbi events,
                                stream_hash_fn hash, std::uint64_t through,
                                const Mem& mem, Add add) {
  char start[8];
  put_be64(start, through + 1);
  auto key = as_val(start, 8);
  MDB_val val;
  auto rc = mdb_cursor_get(events_cursor, &key, &val, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(events_cursor, &key, &val, MDB_NEXT)) {
    auto ev = decode_record(val.mv_data, val.mv_size);
    if (!ev)
      return make_unexpected(ev.error());
    auto slot = find_stream(
        txn, streams, events,
        hash(ev->company_id, ev->aggregate_type, ev->aggregate_id),
        ev->company_id, ev->aggregate_type, ev->aggregate_id, mem);
    if (!slot)
      return make_unexpected(slot.error());
    add(slot->slot, *ev);
  }
  if (rc != MDB_NOTFOUND)
    return fail_mdb(rc, "mdb_cursor_get(events)");
  return {};
}

/// The owner a map of tails gives a slot.
inline mem_owner owner_in(const tail_map& tails, std::uint64_t slot) {
  auto i = tails.find(slot);
  if (i == tails.end() || i->second.entries.empty())
    return {};
  const auto& last = i->second.entries.back();
  return {&i->second.company, &i->second.type, &i->second.id, last.version,
          last.seq};
}

/// Puts at the right edge of the tree when `key` sorts after its last key
/// (MDB_APPEND: no descent from the root), otherwise an ordinary put.
inline int put_at_edge(MDB_cursor* c, MDB_val key, MDB_val val,
                       unsigned flags) {
  auto k = key;
  auto v = val;
  auto rc = mdb_cursor_put(c, &k, &v, flags | MDB_APPEND);
  if (rc != MDB_KEYEXIST)
    return rc;
  // Out of order (or a duplicate, which the ordinary put reports).
  return mdb_cursor_put(c, &key, &val, flags);
}

inline std::string describe(expected_version ev) {
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

/// Calls `fn(seq)` for the sequences under `name` in the name index
/// `index` (by_type, by_company), ascending from `from_seq`, as long as
/// it returns true; an error it returns ends the walk with that error.
/// None when `name` is empty or longer than max_name_size. `what` names
/// a failed cursor step.
template <class F>
result<void> each_in_name_index(MDB_txn* txn, MDB_dbi index,
                                std::string_view name, std::uint64_t from_seq,
                                const char* what, F fn) {
  if (name.empty() || name.size() > max_name_size)
    return {};
  name_key start{name, from_seq};
  auto prefix = start.prefix();
  auto from = start.val();
  return cursor_detail::each_with_prefix_from(
      txn, index, prefix, as_view(from), "mdb_cursor_open", what,
      [&](std::string_view k, const MDB_val&) -> result<bool> {
        if (k.size() != prefix.size() + 8)
          return false;
        return fn(get_be64(k.data() + prefix.size()));
      });
}

/// Reads, in a read transaction of its own, up to `max_count` events of a
/// name index under `name` with sequence >= `from_seq`. `what` names the
/// read in an error.
inline result<std::vector<envelope>>
read_name_index(const char* what, environment& env, MDB_dbi index,
                MDB_dbi events, std::string_view name, std::uint64_t from_seq,
                std::size_t max_count) {
  return guarded(what, [&]() -> result<std::vector<envelope>> {
    auto txn = env.begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    std::vector<envelope> out;
    if (max_count == 0)
      return out;
    auto read = each_in_name_index(txn->handle(), index, name, from_seq,
                                   "mdb_cursor_get(index)",
                                   [&](std::uint64_t seq) -> result<bool> {
                                     auto ev = load(txn->handle(), events, seq);
                                     if (!ev)
                                       return make_unexpected(ev.error());
                                     out.push_back(ev->to_envelope());
                                     return out.size() < max_count;
                                   });
    if (!read)
      return make_unexpected(read.error());
    return out;
  });
}

/// The key of a sorted list entry: list size (2 bytes), list, sort key.
inline std::string list_key(std::string_view list, std::string_view sort_key) {
  std::string k;
  k.reserve(2 + list.size() + sort_key.size());
  k.push_back(static_cast<char>(list.size() >> 8));
  k.push_back(static_cast<char>(list.size() & 0xff));
  k.append(list);
  k.append(sort_key);
  return k;
}

} // namespace event_detail

using namespace event_detail;

// -- the streams index in memory ---------------------------------------------

struct staged_entry {
  std::uint64_t slot;
  std::uint64_t version;
  std::uint64_t seq;
  std::string company;
  std::string type;
  std::string id;
};

/// The lister of `config::lists_behind` and what it shares.
struct event_store::lister_state {
  std::mutex mtx;
  std::condition_variable cv;
  bool stop = false; ///< Under `mtx`.
  /// An append passed `config::list_wake`: run before the interval ends.
  std::atomic<bool> kicked{false};
  /// The first sequence not listed yet (the checkpoint, once committed).
  std::atomic<std::uint64_t> through{0};
  /// Moved by every forget: a batch read before one lists nothing (its
  /// events may be gone) and is read again.
  std::atomic<std::uint64_t> generation{0};
  std::thread thread;
};

struct event_store::stream_tails {
  // Shared with readers under `mtx`; changed on the writer thread only, so
  // the writer reads them without it.
  mutable std::shared_mutex mtx;
  std::uint64_t indexed_through = 0;
  tail_map committed;
  /// Slot / 64 → how many slots of `committed` lie in that block, counted
  /// in a fixed table by the block's low bits (blocks that share an entry
  /// share its count, which only sends a probe to the tree): most probes
  /// find their window's counts at zero and skip the tree. An index into
  /// an array, where a hash map cost a division and a node out of cache
  /// on every probe of every read and append.
  static constexpr unsigned block_bits = 20;
  std::vector<std::uint32_t> blocks
      = std::vector<std::uint32_t>(std::size_t{1} << block_bits);

  static std::size_t block_of(std::uint64_t slot) noexcept {
    return static_cast<std::size_t>((slot >> 6)
                                    & ((std::uint64_t{1} << block_bits) - 1));
  }
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

  /// Writer thread only (and the open): the highest sequence a forget
  /// deleted (checkpoint `forgotten_through`); appends go on past it.
  std::uint64_t forgotten_through = 0;

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
    if (blocks[block_of(slot)] == 0)
      return {};
    return owner_in(committed, slot);
  }

  /// False when no slot of `committed` lies in [from, from + 63] (a
  /// probe's window; it may wrap around).
  bool may_hold(std::uint64_t from) const {
    auto to = from + static_cast<std::uint64_t>(max_probes - 1);
    return blocks[block_of(from)] != 0 || blocks[block_of(to)] != 0;
  }

  /// Erases `i` from `committed`; returns the next.
  tail_map::iterator drop(tail_map::iterator i) {
    if (auto& n = blocks[block_of(i->first)]; n > 0)
      --n;
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

  /// Drops the committed entries of `company`'s streams up to sequence
  /// `through` (under `mtx`): their events were forgotten
  /// (company_forget.hpp); later ones (the company appending again) stay.
  /// Returns how many went.
  std::size_t forget_company(std::string_view company, std::uint64_t through) {
    std::size_t n = 0;
    for (auto i = committed.begin(); i != committed.end();) {
      auto& es = i->second.entries;
      if (i->second.company != company) {
        ++i;
        continue;
      }
      auto keep
          = std::find_if(es.begin(), es.end(), [through](const tail_entry& e) {
              return e.seq > through;
            });
      auto gone = static_cast<std::size_t>(keep - es.begin());
      n += gone;
      committed_entries -= gone;
      es.erase(es.begin(), keep);
      if (es.empty())
        i = drop(i);
      else
        ++i;
    }
    return n;
  }

  /// Adds one committed entry (under `mtx`, or before readers exist).
  void add(std::uint64_t slot, std::string_view company, std::string_view type,
           std::string_view id, std::uint64_t version, std::uint64_t seq) {
    if (add_tail_entry(committed, slot, company, type, id, version, seq))
      ++blocks[block_of(slot)];
    ++committed_entries;
    last_seq = std::max(last_seq, seq);
  }
};

struct event_store::found_stream {
  read_txn txn;
  stream_slot slot;
  std::vector<tail_entry> mem; ///< The stream's entries in memory.
};

} // namespace switchboard::store
