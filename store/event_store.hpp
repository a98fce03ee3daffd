#pragma once

#include "messages/envelope.hpp"
#include "store/codec.hpp"
#include "store/environment.hpp"
#include "store/error.hpp"
#include "store/writer.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::store {

/// What an append expects of its stream's current version.
struct expected_version {
  enum class kind { any, no_stream, exact };
  kind what = kind::any;
  std::uint64_t version = 0;

  /// Any version, including a stream that does not exist yet.
  static expected_version any() noexcept {
    return {kind::any, 0};
  }
  /// The stream must not exist yet (same as `exact(0)`).
  static expected_version no_stream() noexcept {
    return {kind::no_stream, 0};
  }
  /// The stream's current version must be `v` (0: it must not exist).
  static expected_version exact(std::uint64_t v) noexcept {
    return {kind::exact, v};
  }
};

/// The indexes `event_store::read_by` reads: events by type, and by
/// reference (see `event_store_config::refs`; events before
/// `event_store::refs_indexed_from()` are not indexed).
enum class event_index { type, ref };

/// Counters of an event store.
struct event_store_stats {
  std::uint64_t appends = 0;            ///< Appends that stored events.
  std::uint64_t idempotent_appends = 0; ///< Retries answered from storage.
  std::uint64_t conflicts = 0;          ///< Appends refused on version.
};

/// Maps (company, aggregate type, aggregate id) to a stream slot.
/// Replaceable for tests (a constant hash exercises collision handling).
using stream_hash_fn = std::uint64_t (*)(std::string_view company_id,
                                         std::string_view aggregate_type,
                                         std::string_view aggregate_id);

/// Adds to `out` the references of `e` that the by_ref index keeps (e.g.
/// "appointment-staff/<company>/<staff>"), each at most 255 bytes; longer
/// ones are not indexed.
using refs_fn = void (*)(const envelope& e, std::vector<std::string>& out);

/// Where an event puts its stream's entity in the store's sorted lists
/// (database listed): after the event, the entity is found under exactly
/// `entries`, each a (list, sort key) pair, in place of the entries of
/// its stream's previous event (found by running the same function on
/// that event, so no reverse index is written).
struct listing {
  /// (list, sort key): list and key together at most 509 bytes; longer
  /// pairs are not listed. A sort key is
  /// unique within its list (end it with the entity's id). Empty: the
  /// event lists nothing.
  std::vector<std::pair<std::string, std::string>> entries;
  /// The event's references (see `config::refs`), when `listing_of`
  /// computed them.
  std::vector<std::string> refs;
};

/// Fills `out` (empty on entry) with the listing of `e`. Must depend only
/// on the event's stream, type, company and payload (not on its version
/// or sequence), and be a pure function: it runs on the caller's thread
/// (see `event_store::listing_of`) or on the writer's.
using lists_fn = void (*)(const envelope& e, listing& out);

/// One entry of a sorted list: its sort key and the last event of its
/// entity.
struct list_entry {
  std::string sort_key;
  envelope event;
};

/// Tunables of the event store.
struct event_store_config {
  /// The references an event is indexed under (database by_ref); none
  /// when empty.
  refs_fn refs = nullptr;
  /// The sorted lists an event puts its stream's entity in (database
  /// listed); none when empty.
  lists_fn lists = nullptr;
  /// Most events in one append.
  std::size_t max_events_per_append = 10000;
  /// Largest encoded event record in bytes.
  std::size_t max_record_size = std::size_t{16} << 20;
  /// Run each append in a nested transaction (for measurements; appends
  /// validate before they write, so they do not need one).
  bool nested_txn = false;
  /// The stream hash; the default is stable across versions.
  stream_hash_fn hash = nullptr;
  /// Stream index entries kept in memory before a flush cycle writes them
  /// to the streams database, sorted (see `event_store`).
  std::size_t stream_index_batch = 65536;
  /// Entries a flush cycle writes per write transaction.
  std::size_t stream_index_chunk = 1024;
  /// Write the sorted lists behind the log: appends leave database
  /// `listed` alone, a lister thread lists the log after its checkpoint
  /// (`lists_through_checkpoint`) a batch per write transaction, entries
  /// in key order, and `read_lists` folds the events it has not listed yet
  /// into what it reads, in the same snapshot. A staff member's list then
  /// takes a leaf per batch instead of one per booking. Off: each append
  /// lists its events in its own transaction.
  bool lists_behind = false;
  /// Most events the lister lists in one write transaction.
  std::size_t list_batch = 4096;
  /// Events appended past the lister's checkpoint that wake it before its
  /// next round; it also runs every `list_interval`.
  std::size_t list_wake = 1024;
  std::chrono::milliseconds list_interval{250};
  /// Rebuild the in-memory stream index from the log at open. Off only
  /// for a process that neither appends nor reads streams (`switchboard
  /// check`, which must open a store whose log is damaged).
  bool rebuild_stream_index = true;
};

/// The event log of one node, on LMDB. Named databases (all keys
/// big-endian, so LMDB's order is numeric order):
///
/// | database   | key → value                            | flags        |
/// |------------|----------------------------------------|--------------|
/// | events     | seq → event record (codec.hpp)         | appended     |
/// | streams    | stream slot, version → seq             | in batches   |
/// | event_ids  | event id, company → seq                |              |
/// | by_type    | type size, type, seq → (empty)         |              |
/// | by_time    | occurred_at, seq → (empty)             |              |
/// | by_company | company size, company, seq → (empty)  |              |
/// | by_ref     | ref size, ref, seq → (empty)           |              |
/// | listed     | list size (2 bytes), list, key → seq   |              |
///
/// A stream belongs to a company: its key is (company, aggregate type,
/// aggregate id), so equal ids of two companies are two streams, and event
/// ids (the idempotency keys of appends) are per company as well. A
/// stream's slot is a 64-bit hash of its key, which keeps stream keys at
/// 16 bytes. Hash collisions are resolved exactly by linear probing: the
/// stream owns the first slot whose events have its company, aggregate
/// type and id (or that is free).
/// Event ids that are UUID text are stored as 16 bytes, so that UUIDv7 ids
/// (time ordered) land at the right edge of the index.
///
/// Stores written before streams had a company (key format 1: no
/// checkpoint `stream_keys`) are migrated at open, in one transaction:
/// the streams and event_ids databases are rebuilt from the log with the
/// company in their keys (a format-1 stream holding events of two
/// companies becomes one stream per company, each keeping its events'
/// versions).
///
/// The streams index is written behind the log, as EventStoreDB writes its
/// index from a memtable: an append keeps its stream entries in memory
/// (published when its transaction commits), and once `stream_index_batch`
/// have gathered a flush cycle writes them sorted by key, a chunk per write
/// transaction, so that a leaf takes many entries at once instead of one
/// random leaf per event. The checkpoint `streams_index` (database
/// checkpoints) says that every event up to it is in the streams database;
/// at open the entries of the later events are rebuilt from the log. Reads
/// of a stream merge the database with memory. One process appends (the
/// daemon); a process that only reads sees the streams as of its open plus
/// what has been flushed since.
///
/// Sequences start at 1 and have no gaps. Versions start at 1 per stream.
/// Thread-safe: reads run on the calling thread in their own read
/// transaction; appends go through the writer's group commit. Stop the
/// writer (`writer::stop`) before destroying the store, so that no queued
/// append outlives it.
class event_store {
public:
  /// Tunables; see `event_store_config`.
  using config = event_store_config;

  /// The outcome of an append: the global sequence of each event, in the
  /// order given.
  using append_result = result<std::vector<std::uint64_t>>;

  /// Opens (creating them if missing) the event store's databases in `env`
  /// and returns a store that appends through `w`. Both must outlive the
  /// store. Errors: those of `environment::open_db`.
  static result<std::unique_ptr<event_store>> open(environment& env, writer& w,
                                                   config cfg = {});

  ~event_store();

  /// Tells the store, inside the transaction of `forget_company`
  /// (company_forget.hpp), that `company_id`'s events are gone: no flush
  /// of the streams index runs later in that transaction (it would write
  /// the company's entries back), and at its commit the company's streams
  /// leave the index in memory and every stream generation moves on. Call
  /// it right after the forget, on the writer's thread.
  void forget_company_in(write_txn& txn, std::string_view company_id);

  /// The checkpoint (database `checkpoints`) up to which every event is in
  /// the streams database.
  static constexpr std::string_view streams_checkpoint = "streams_index";

  /// The checkpoint (database `checkpoints`) holding the key format of
  /// the streams and event_ids databases (`current_key_format`).
  static constexpr std::string_view keys_checkpoint = "stream_keys";
  /// Format 2: streams and event ids are keyed by company.
  static constexpr std::uint64_t current_key_format = 2;

  /// The key format of the store as of `txn` (1: written before streams
  /// had a company, and not yet migrated). Errors: LMDB errors.
  result<std::uint64_t> key_format(const read_txn& txn) const;

  /// Returns the default stream hash of (company, aggregate type,
  /// aggregate id).
  static std::uint64_t default_stream_hash(std::string_view company_id,
                                           std::string_view aggregate_type,
                                           std::string_view aggregate_id);

  // -- appends ---------------------------------------------------------------

  /// Appends `events`, all of one aggregate, and waits until they are
  /// committed and synced. The store sets each event's version (current
  /// version + 1, + 2, ...) and sequence; given values are ignored.
  /// An append whose event ids are all stored already (a retry) stores
  /// nothing and returns the original sequences, whatever `expected` says.
  /// Must not be called on the writer thread or while holding a read
  /// transaction.
  /// @param events non-empty; each with a non-empty id (unique within the
  ///        call, at most 255 bytes, and with company_id at most 509),
  ///        type (at most 255 bytes), company_id, aggregate_type and
  ///        aggregate_id (the same in all events: one stream of one
  ///        company); company_id at most 255 bytes.
  /// @param expected the stream version the caller based its decision on.
  /// @returns the sequences of the events, in order.
  /// Errors: `errc::version_conflict` (`error::actual_version` is the
  /// stream's version), `errc::invalid_argument` (the rules above),
  /// `errc::duplicate_event` (some but not all ids already stored in the
  /// company, or an id stored in another stream of it), `errc::map_full`,
  /// `errc::closed`, LMDB errors. Another company's streams and event ids
  /// never affect an append.
  append_result append(std::vector<envelope> events, expected_version expected);

  /// Like `append`, but returns at once; `done` runs on the writer thread
  /// after the commit and sync, or with the error. `done` must be short and
  /// must not block on the writer.
  void append_async(std::vector<envelope> events, expected_version expected,
                    std::function<void(append_result)> done);

  /// Appends inside `txn`, the writer's transaction (call it only from a
  /// writer op, on the writer thread), for modules that add
  /// their own records in the same transaction (the outbox). Sets the
  /// version and sequence of each event in `events`. Checks everything
  /// before writing: on a validation, conflict or duplicate error nothing
  /// was written and `txn` is usable. On other errors (`poisons_txn`) the
  /// transaction is lost: return the error from the op. Same rules and
  /// errors as `append`; the events count as committed only when `txn`
  /// commits. When `already_stored` is given it is set to true for an
  /// idempotent retry (every id stored before), so that callers do not
  /// repeat the side records of the first append.
  /// `listings`, when given, holds `listing_of(events[i])` for each
  /// event, computed before (off the writer thread).
  append_result append_in(write_txn& txn, std::vector<envelope>& events,
                          expected_version expected,
                          bool* already_stored = nullptr,
                          const listing* listings = nullptr);

  /// The sorted-list entries and references of `e` (see `config::lists`
  /// and `config::refs`), for callers that compute them before their
  /// writer op. Any thread.
  listing listing_of(const envelope& e) const;

  // -- reads -----------------------------------------------------------------

  /// Reads the events of the stream (`company_id`, `aggregate_type`,
  /// `aggregate_id`) with version >= `from_version`, in version order, at
  /// most `max_count`. An unknown stream gives an empty list (also when
  /// another company has one with that id). Errors: `errc::corrupt`, LMDB
  /// errors.
  result<std::vector<envelope>> read_stream(std::string_view company_id,
                                            std::string_view aggregate_type,
                                            std::string_view aggregate_id,
                                            std::uint64_t from_version,
                                            std::size_t max_count) const;

  /// Reads the events under `name` in `index` (an event type, a
  /// reference) with sequence >= `from_seq`, in sequence order, at most
  /// `max_count`. Errors: `errc::corrupt`, LMDB errors; they name the read
  /// "read_by_type" or "read_by_ref".
  result<std::vector<envelope>> read_by(event_index index,
                                        std::string_view name,
                                        std::uint64_t from_seq,
                                        std::size_t max_count) const;

  /// Reads events with `from_ms` <= occurred_at < `to_ms`, ordered by
  /// (occurred_at, sequence), at most `max_count`. To page, pass the last
  /// event's occurred_at as `from_ms` and its sequence as `after_seq`:
  /// events at exactly `from_ms` are returned only if their sequence is
  /// greater than `after_seq` (0: all of them). Errors: `errc::corrupt`,
  /// LMDB errors.
  result<std::vector<envelope>> read_by_time(timestamp_ms from_ms,
                                             timestamp_ms to_ms,
                                             std::uint64_t after_seq,
                                             std::size_t max_count) const;

  /// Reads events of `company_id` with sequence >= `from_seq`, in sequence
  /// order, at most `max_count`. Events without a company are not indexed.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<envelope>> read_by_company(std::string_view company_id,
                                                std::uint64_t from_seq,
                                                std::size_t max_count) const;

  /// Reads events of `company_id` with sequence < `before_seq`, newest
  /// first, at most `max_count` (a company's recent events: pass
  /// UINT64_MAX). Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<envelope>>
  read_by_company_before(std::string_view company_id, std::uint64_t before_seq,
                         std::size_t max_count) const;

  /// The first sequence from which every event is in the by_ref index:
  /// 1 for a store made with references; past the events of a store
  /// made before them (those are found by company instead).
  std::uint64_t refs_indexed_from() const noexcept {
    return refs_from_;
  }

  /// The checkpoint (database `checkpoints`) holding refs_indexed_from.
  static constexpr std::string_view refs_checkpoint = "refs_from";

  /// Reads the entries of sorted list `list` (see `config::lists`) with
  /// `from_key` <= sort key < `to_key` (empty `to_key`: no upper bound),
  /// in sort key order, at most `max_count`, each with the last event of
  /// its entity, as of one snapshot. To page, pass the last key read with
  /// a 0 byte appended as the next `from_key`. The cost is that of the
  /// entries returned. Errors: `errc::corrupt`, LMDB errors.
  result<std::vector<list_entry>> read_list(std::string_view list,
                                            std::string_view from_key,
                                            std::string_view to_key,
                                            std::size_t max_count) const;

  /// Reads `lists` as one, as `read_list` reads one list: the first
  /// `max_count` entries of their union from `from_key` (before `to_key`
  /// when not empty) in sort key order, as of one snapshot. For lists
  /// that split one list between them (by status, say), with sort keys
  /// unique across them. The cost is that of at most `max_count` keys of
  /// each list and the entries returned. Errors: as `read_list`.
  result<std::vector<list_entry>>
  read_lists(const std::vector<std::string>& lists, std::string_view from_key,
             std::string_view to_key, std::size_t max_count) const;

  /// The checkpoint (database `checkpoints`) set once every stored event
  /// is in the sorted lists as `config::lists` now lists them. A store
  /// without it is listed at open: one made before the lists, or before
  /// this checkpoint (`lists_built`, when each appointment was also in
  /// lists of any status), whose entries are dropped first.
  static constexpr std::string_view lists_checkpoint = "lists_built_v2";

  /// With `config::lists_behind`: the first sequence the lister has not
  /// listed yet (database `checkpoints`). A store opened without
  /// `lists_behind` lists what is left at open and drops the checkpoint.
  static constexpr std::string_view lists_through_checkpoint = "lists_through";

  /// Reads the global log from sequence `from_seq` on, at most
  /// `max_count` events (catch-up, replay). Errors: `errc::corrupt`, LMDB
  /// errors.
  result<std::vector<envelope>> read_all(std::uint64_t from_seq,
                                         std::size_t max_count) const;

  /// Reads the event with sequence `seq`. Errors: `errc::not_found`,
  /// `errc::corrupt`, LMDB errors.
  result<envelope> read_event(std::uint64_t seq) const;

  /// Inside `txn` (a transaction of this store's environment, e.g. a
  /// writer op's): whether the event with sequence `seq` is stored (false
  /// once its company was forgotten). Errors: LMDB errors.
  result<bool> has_event_in(MDB_txn* txn, std::uint64_t seq) const;

  /// Inside `txn`: the sequence of the last stored event, 0 when empty.
  /// Errors: LMDB errors.
  result<std::uint64_t> last_sequence_in(MDB_txn* txn) const;

  /// Returns the sequence of the event of `company_id` with id
  /// `event_id`. Errors: `errc::not_found` (also when only another
  /// company has that id), LMDB errors.
  result<std::uint64_t> find_event(std::string_view company_id,
                                   std::string_view event_id) const;

  /// Returns the sequence of the last stored event, 0 when empty.
  /// Errors: LMDB errors.
  result<std::uint64_t> last_sequence() const;

  /// Returns the current version of the stream (`company_id`,
  /// `aggregate_type`, `aggregate_id`), 0 when it does not exist.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<std::uint64_t> stream_version(std::string_view company_id,
                                       std::string_view aggregate_type,
                                       std::string_view aggregate_id) const;

  /// A number that changes after every commit that appended to a stream
  /// of `aggregate_type` (types may share one number), before the commit
  /// is reported to anybody. Read it before reading streams of that type:
  /// while it is unchanged, what that read found still holds, and the
  /// read need not be made again (a calendar's check of the staff member
  /// on each booking, a GET of a state rendered before).
  std::uint64_t
  stream_generation(std::string_view aggregate_type) const noexcept;

  /// Visits the sequences of the events of one stream that are greater than
  /// `after_seq`, in order (index entries only: no event is decoded), as of
  /// one snapshot. `fn` returns false to stop. For modules that keep
  /// records keyed by sequence (the audit log) and read them by aggregate.
  /// Errors: `errc::corrupt`, LMDB errors.
  result<void> visit_stream(std::string_view company_id,
                            std::string_view aggregate_type,
                            std::string_view aggregate_id,
                            std::uint64_t after_seq,
                            const std::function<bool(std::uint64_t)>& fn) const;

  /// Visits, inside `txn`, the sequences of the events of one company that
  /// are greater than `after_seq`, in order.
  result<void>
  visit_company(const read_txn& txn, std::string_view company_id,
                std::uint64_t after_seq,
                const std::function<bool(std::uint64_t)>& fn) const;

  /// Visits the global log from `from_seq` on, without copying: `fn` gets a
  /// view into the map, valid only during the call, and returns false to
  /// stop. Runs in one read transaction; `fn` must not append.
  /// @returns the number of events visited.
  /// Errors: `errc::corrupt`, LMDB errors, `errc::internal` if `fn` throws.
  result<std::uint64_t>
  scan(std::uint64_t from_seq,
       const std::function<bool(const envelope_view&)>& fn) const;

  /// A snapshot of the counters.
  event_store_stats stats() const;

  /// The writer this store appends through.
  writer& get_writer() const noexcept {
    return writer_;
  }

  /// The environment this store lives in.
  environment& env() const noexcept {
    return env_;
  }

  /// Stream index entries in memory (not yet flushed) and the checkpoint
  /// of the streams database, for tests and `switchboard check`.
  struct stream_index_stats {
    std::size_t in_memory = 0;
    std::uint64_t indexed_through = 0;
  };
  stream_index_stats stream_index() const;

private:
  struct dbs {
    MDB_dbi events, streams, event_ids, by_type, by_time, by_company, by_ref,
        listed, checkpoints;
  };
  struct stream_tails;
  struct found_stream;

  result<void> migrate_keys();
  result<void> recover_stream_tails();
  result<void> settle_refs_checkpoint();
  result<void> build_lists();
  /// One list operation: a `listed` key and the sequence it points at,
  /// 0 to delete it.
  using list_op = std::pair<std::string, std::uint64_t>;
  /// The last operation on each `listed` key, in key order.
  using list_ops = std::map<std::string, std::uint64_t, std::less<>>;
  /// Puts into `out` what listing the log from `from_seq` on does to
  /// `listed` (at most `max_events` events, in `txn`, one event in memory
  /// at a time): each event's entries, and the removal of the entries of
  /// its stream's previous event that it does not keep; a later event's
  /// operation on a key replaces an earlier one's. Returns the last
  /// sequence read, 0 when none.
  result<std::uint64_t> tail_list_ops(MDB_txn* txn, std::uint64_t from_seq,
                                      std::size_t max_events,
                                      list_ops& out) const;
  /// The lister's settling at open (see `config::lists_behind`).
  result<void> settle_lists_behind();
  /// Lists up to `config::list_batch` events after the checkpoint; whether
  /// it found any.
  result<bool> list_round();
  void run_lister();
  struct lister_state;
  result<void> list_in(MDB_txn* t, const envelope* previous, const envelope& e,
                       const listing* computed);
  result<found_stream> find_for_read(std::string_view company,
                                     std::string_view type,
                                     std::string_view id) const;
  void stage(write_txn& txn, std::uint64_t slot, const envelope& e);
  result<void> flush_step(write_txn& txn);

  event_store(environment& env, writer& w, config cfg, dbs d);

  environment& env_;
  writer& writer_;
  config cfg_;
  dbs db_;
  std::unique_ptr<stream_tails> tails_;
  std::unique_ptr<lister_state> lister_; ///< Its thread runs with lists_behind.
  /// The next sequence within write transaction `next_seq_txn_` (touched
  /// on the writer thread only).
  std::uint64_t next_seq_txn_ = 0;
  std::uint64_t next_seq_ = 0;
  /// Never, until open settles it (references configured).
  std::uint64_t refs_from_ = UINT64_MAX;
  std::vector<std::string> refs_scratch_;      ///< On the writer thread.
  listing listing_scratch_, previous_scratch_; ///< On the writer thread.
  mutable std::atomic<std::uint64_t> appends_{0};
  mutable std::atomic<std::uint64_t> idempotent_{0};
  mutable std::atomic<std::uint64_t> conflicts_{0};
};

} // namespace switchboard::store
