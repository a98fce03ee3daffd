#pragma once

#include "store/error.hpp"

#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::store {

/// Configuration of one LMDB environment (one per node).
struct options {
  /// Directory holding data.mdb and lock.mdb; created if missing.
  std::string path;
  /// Initial size of the memory map in bytes. The map grows by doubling
  /// when a write transaction runs out of room.
  std::size_t map_size = std::size_t{1} << 30;
  /// The map never grows beyond this; appends that do not fit then fail
  /// with `errc::map_full`.
  std::size_t max_map_size = std::size_t{64} << 30;
  /// When the writer tells its callers "committed".
  enum class sync_mode {
    /// After the data and the meta page are on disk. LMDB syncs the data
    /// in the commit (MDB_NOMETASYNC); the writer's completion thread
    /// syncs the meta page while the next transaction is being built.
    full,
    /// After the data is on disk; the meta page is flushed with the next
    /// commit (MDB_NOMETASYNC): a system crash may undo the last commit.
    no_meta_sync,
    /// Without any sync (MDB_NOSYNC): a system crash may lose recent
    /// commits. A process crash loses nothing.
    none,
  } sync
      = sync_mode::full;
  /// Write through a writable memory map (MDB_WRITEMAP): commits skip
  /// copying each dirty page with pwrite(2), but LMDB 0.9 then msyncs the
  /// whole map per sync and the file is as large (sparse) as the map. Was
  /// 10x slower for small commits in store_bench on ext4, hence off.
  bool write_map = false;
  /// Most foreground operations the writer puts into one transaction (and
  /// most background ones when no foreground one waits).
  std::size_t max_batch = 1024;
  /// Most background operations (`lane::background`: the queues' leases,
  /// acks and listener effects) a transaction takes besides the foreground
  /// ones (requests, appends) waiting, so that requests go first and the
  /// queues catch up when the load drops; without foreground ones it takes
  /// up to `max_batch`. At most `max_batch` counts. 0: no lanes, one
  /// first-come queue.
  std::size_t background_per_commit = 4;
  /// Lingering before a commit (Kafka's linger.ms, PostgreSQL's
  /// commit_delay): when the last commit carried more than one operation
  /// and ended less than this ago, and fewer than `commit_min_batch`
  /// operations wait, the writer waits up to this long for more, and
  /// commits at once after a quarter of it without a new one. Each commit
  /// costs the pages of every tree it touches and a sync, whatever it
  /// carries, so under a steady load fewer, larger commits spend less
  /// CPU and disk per operation; an idle writer, or one fed one
  /// operation at a time, commits at once. Zero: never.
  std::chrono::microseconds commit_delay{0};
  /// Operations waiting that end the lingering at once.
  std::size_t commit_min_batch = 64;
  /// Most background operations the node's store writer actor groups into
  /// one writer operation (each with its own outcome: one nested
  /// transaction for them all, one each when one fails), so that one of
  /// the `background_per_commit` places
  /// carries many queued jobs' effects. 0 or 1: no grouping.
  std::size_t background_group = 256;
  /// Stream index entries the event store keeps in memory before it
  /// flushes them (`event_store_config::stream_index_batch`).
  std::size_t stream_index_batch = 65536;
  /// Most concurrent read transactions (MDB's maxreaders).
  unsigned max_readers = 512;
  /// Most named databases, across all modules sharing the environment.
  unsigned max_dbs = 64;
};

class environment;

/// What both kinds of transaction hold: their environment, the LMDB
/// handle and a share of the environment's resize lock (the map is not
/// resized while a transaction lives).
class txn_base {
public:
  txn_base(const txn_base&) = delete;
  txn_base& operator=(const txn_base&) = delete;
  txn_base& operator=(txn_base&&) = delete;

  /// The LMDB handle, valid until the transaction ends (a read_txn's
  /// destruction, a write_txn's commit or abort).
  MDB_txn* handle() const noexcept {
    return txn_;
  }

protected:
  txn_base(environment* env, MDB_txn* txn,
           std::shared_lock<std::shared_mutex> lock) noexcept
      : env_(env), txn_(txn), lock_(std::move(lock)) {}
  txn_base(txn_base&& other) noexcept
      : env_(other.env_), txn_(std::exchange(other.txn_, nullptr)),
        lock_(std::move(other.lock_)) {}
  ~txn_base() = default;

  environment* env_;
  MDB_txn* txn_;
  std::shared_lock<std::shared_mutex> lock_;
};

/// A read-only LMDB transaction. Cheap: it comes from a pool of reset
/// transactions and goes back in its destructor. While it lives the map
/// cannot be resized, so keep it short and never wait for the writer while
/// holding one.
class read_txn : public txn_base {
public:
  read_txn(read_txn&& other) noexcept = default;
  ~read_txn();

private:
  friend class environment;
  read_txn(environment* env, MDB_txn* txn,
           std::shared_lock<std::shared_mutex> lock) noexcept
      : txn_base(env, txn, std::move(lock)) {}
};

/// A read-write LMDB transaction; aborts in its destructor unless
/// committed. Only the writer thread (see writer.hpp) and
/// `environment::open_db` create top-level ones.
class write_txn : public txn_base {
public:
  write_txn(write_txn&& other) noexcept;
  ~write_txn();

  /// The environment this transaction belongs to.
  environment& env() const noexcept {
    return *env_;
  }

  /// A number that no other write transaction of this environment (nested
  /// ones included) had or will have: lets a module cache values for the
  /// life of one transaction, which a redone batch does not share.
  std::uint64_t serial() const noexcept {
    return serial_;
  }

  /// Returns a cursor on `dbi` owned by this transaction (cached: one per
  /// database; LMDB closes it when the transaction ends). Errors: the
  /// LMDB error of mdb_cursor_open.
  result<MDB_cursor*> cursor(MDB_dbi dbi);

  /// Begins a nested transaction (mdb_txn_begin with this as parent).
  /// While the child lives, this transaction must not be used, nor moved.
  result<write_txn> begin_nested();

  /// The top-level transaction this one is nested in (itself when it is
  /// top-level).
  write_txn& top() noexcept {
    return parent_ == nullptr ? *this : parent_->top();
  }

  /// Runs `fn(true)` once the changes made in this transaction are
  /// committed for good (at the top-level commit, for a nested one), or
  /// `fn(false)` once they are dropped (an abort of this transaction or of
  /// an ancestor, or a failed commit). Runs on the thread that ends the
  /// transaction; a hook that throws terminates the process (it could not
  /// keep its memory in step with the database). For modules that keep in
  /// memory what a transaction wrote, and can rebuild it at open.
  void on_end(std::function<void(bool committed)> fn);

  /// Commits. Errors: `errc::map_full` (the caller should grow the map and
  /// redo the work), `errc::io_error` and other LMDB errors. The
  /// transaction is finished either way.
  result<void> commit();

  /// Aborts; a no-op when already finished.
  void abort() noexcept;

private:
  friend class environment;
  write_txn(environment* env, MDB_txn* txn,
            std::shared_lock<std::shared_mutex> lock) noexcept;

  void finish_hooks(bool committed) noexcept;

  std::uint64_t serial_;
  std::vector<std::pair<MDB_dbi, MDB_cursor*>> cursors_;
  write_txn* parent_ = nullptr;
  std::vector<std::function<void(bool)>> hooks_;
};

/// Owns one MDB_env: the directory, the memory map (and its growth), the
/// named databases and a pool of read transactions. Thread-safe. Open with
/// `environment::open`; close by destroying it after every transaction,
/// writer and store using it is gone.
class environment {
public:
  /// Creates `opts.path` if missing and opens the environment in it with
  /// MDB_NOTLS and the sync flags of `opts.sync`.
  /// Errors: `errc::invalid_argument` (empty path, max_map_size below
  /// map_size), `errc::io_error` (directory or files not creatable, lock
  /// held by another process), `errc::corrupt` (not an LMDB file).
  static result<std::unique_ptr<environment>> open(options opts);

  ~environment();
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;

  /// Opens (creating it if missing) the named database `name` with
  /// `flags` (MDB_DUPSORT, MDB_INTEGERKEY, ...; MDB_CREATE is implied) and
  /// returns its handle, valid for the life of the environment. Opening a
  /// name again returns the same handle. Modules (event store, job queue,
  /// audit log, ...) call this once at start. Errors:
  /// `errc::invalid_argument` (empty name), `errc::map_full` (max_dbs
  /// reached: MDB_DBS_FULL), other LMDB errors.
  result<MDB_dbi> open_db(std::string_view name, unsigned flags = 0);

  /// Begins a read transaction. Errors: `errc::readers_full`, LMDB errors.
  result<read_txn> begin_read();

  /// Begins a top-level write transaction; blocks while another one is
  /// active. Meant for the writer thread. Errors: LMDB errors.
  result<write_txn> begin_write();

  /// Doubles the map size, up to `options::max_map_size`. Waits until no
  /// transaction of this process is active. Call it only from a thread
  /// that holds no transaction. Errors: `errc::map_full` when the maximum
  /// is reached, LMDB errors.
  result<void> grow();

  /// Flushes written data to disk (mdb_env_sync with force).
  result<void> sync();

  /// The id of the last committed write transaction, by any process (from
  /// the meta page, without a transaction): while it equals the id of the
  /// snapshot a read was made in (mdb_txn_id), nothing has changed since.
  /// (It may run ahead of what new read transactions see for a moment.)
  std::uint64_t last_txn_id();

  /// The options the environment was opened with.
  const options& opts() const noexcept {
    return opts_;
  }

  /// The current size of the memory map in bytes.
  std::size_t map_size() const noexcept {
    return map_size_.load(std::memory_order_relaxed);
  }

  /// Bytes of the map in use: the pages up to the last one written
  /// (freed pages inside it count, as LMDB reuses them). 0 on error.
  std::size_t used_bytes() const noexcept;

  /// How many times the map has grown since open.
  std::uint64_t grow_count() const noexcept {
    return grows_.load(std::memory_order_relaxed);
  }

  /// The raw handle, for LMDB calls this class does not wrap.
  MDB_env* handle() const noexcept {
    return env_;
  }

private:
  friend class read_txn;
  friend class write_txn;
  environment(options opts, MDB_env* env);
  void release_read(MDB_txn* txn) noexcept;
  /// Begins a transaction with `begin(txn)` (an LMDB code), again when
  /// another process has resized the map. `what` names a failed begin,
  /// `resized` is the error when the map keeps being resized.
  template <class Txn, class Begin>
  result<Txn> begin_txn(const char* what, const char* resized, Begin begin);
  void clear_pool() noexcept;
  result<void> adopt_resized_map();

  options opts_;
  MDB_env* env_;
  std::atomic<std::size_t> map_size_;
  std::atomic<std::uint64_t> grows_{0};
  std::atomic<std::uint64_t> txn_serial_{0};
  /// Shared by every live transaction; taken exclusively to resize the map.
  std::shared_mutex resize_mutex_;
  std::mutex pool_mutex_;
  std::vector<MDB_txn*> pool_;
  std::mutex dbs_mutex_;
  std::vector<std::pair<std::string, MDB_dbi>> dbs_;
};

} // namespace switchboard::store
