#include "store/environment.hpp"
#include "store/lmdb_util.hpp"

#include <algorithm>
#include <filesystem>
#include <new>

namespace switchboard::store {

namespace {

/// Most reset read transactions kept for reuse.
constexpr std::size_t max_pooled_readers = 64;

} // namespace

// -- read_txn -----------------------------------------------------------------

read_txn::~read_txn() {
  if (txn_ != nullptr)
    env_->release_read(txn_);
}

// -- write_txn ----------------------------------------------------------------

write_txn::write_txn(environment* env, MDB_txn* txn,
                     std::shared_lock<std::shared_mutex> lock) noexcept
    : txn_base(env, txn, std::move(lock)), serial_(++env->txn_serial_) {}

write_txn::write_txn(write_txn&& other) noexcept
    : txn_base(std::move(other)), serial_(other.serial_),
      cursors_(std::move(other.cursors_)), parent_(other.parent_),
      hooks_(std::move(other.hooks_)) {}

write_txn::~write_txn() {
  abort();
}

result<MDB_cursor*> write_txn::cursor(MDB_dbi dbi) {
  for (auto& [d, c] : cursors_)
    if (d == dbi)
      return c;
  MDB_cursor* c = nullptr;
  if (auto rc = mdb_cursor_open(txn_, dbi, &c); rc != 0)
    return fail_mdb(rc, "mdb_cursor_open");
  try {
    cursors_.emplace_back(dbi, c);
  } catch (...) {
    mdb_cursor_close(c);
    return fail(errc::out_of_memory, "write_txn::cursor");
  }
  return c;
}

result<write_txn> write_txn::begin_nested() {
  MDB_txn* child = nullptr;
  if (auto rc = mdb_txn_begin(env_->handle(), txn_, 0, &child); rc != 0)
    return fail_mdb(rc, "mdb_txn_begin(nested)");
  write_txn out{env_, child, {}};
  out.parent_ = this;
  return out;
}

void write_txn::on_end(std::function<void(bool committed)> fn) {
  hooks_.push_back(std::move(fn));
}

void write_txn::finish_hooks(bool committed) noexcept {
  auto hooks = std::move(hooks_);
  hooks_.clear();
  if (committed && parent_ != nullptr) {
    // A nested commit: final only when the parent commits.
    for (auto& h : hooks)
      parent_->hooks_.push_back(std::move(h));
    return;
  }
  // noexcept: a hook that throws (out of memory) stops the process rather
  // than leave what it keeps in memory behind the database; such state is
  // rebuilt from the database at the next open.
  for (auto& h : hooks)
    h(committed);
}

result<void> write_txn::commit() {
  if (txn_ == nullptr)
    return fail(errc::invalid_argument, "commit: transaction finished");
  // Write-transaction cursors are freed by LMDB at commit.
  cursors_.clear();
  auto rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  lock_ = {};
  finish_hooks(rc == 0);
  if (rc != 0)
    return fail_mdb(rc, "mdb_txn_commit");
  return {};
}

void write_txn::abort() noexcept {
  cursors_.clear();
  if (txn_ != nullptr) {
    mdb_txn_abort(std::exchange(txn_, nullptr));
    finish_hooks(false);
  }
  if (lock_.owns_lock())
    lock_.unlock();
}

// -- environment --------------------------------------------------------------

environment::environment(options opts, MDB_env* env)
    : opts_(std::move(opts)), env_(env), map_size_(opts_.map_size) {}

environment::~environment() {
  clear_pool();
  mdb_env_close(env_);
}

result<std::unique_ptr<environment>> environment::open(options opts) {
  try {
    if (opts.path.empty())
      return fail(errc::invalid_argument, "options.path is empty");
    if (opts.map_size == 0 || opts.max_map_size < opts.map_size)
      return fail(errc::invalid_argument,
                  "options.max_map_size must be >= options.map_size > 0");
    if (opts.max_batch == 0)
      return fail(errc::invalid_argument, "options.max_batch must be > 0");
    std::error_code ec;
    std::filesystem::create_directories(opts.path, ec);
    if (ec)
      return fail(errc::io_error,
                  "cannot create " + opts.path + ": " + ec.message());
    MDB_env* env = nullptr;
    if (auto rc = mdb_env_create(&env); rc != 0)
      return fail_mdb(rc, "mdb_env_create");
    auto close_on_error = [env](int rc, const char* what) {
      mdb_env_close(env);
      return fail_mdb(rc, what);
    };
    if (auto rc = mdb_env_set_mapsize(env, opts.map_size); rc != 0)
      return close_on_error(rc, "mdb_env_set_mapsize");
    if (auto rc = mdb_env_set_maxdbs(env, opts.max_dbs); rc != 0)
      return close_on_error(rc, "mdb_env_set_maxdbs");
    if (auto rc = mdb_env_set_maxreaders(env, opts.max_readers); rc != 0)
      return close_on_error(rc, "mdb_env_set_maxreaders");
    unsigned flags = MDB_NOTLS;
    if (opts.write_map)
      flags |= MDB_WRITEMAP;
    switch (opts.sync) {
    case options::sync_mode::full: // the writer syncs the meta page
    case options::sync_mode::no_meta_sync:
      flags |= MDB_NOMETASYNC;
      break;
    case options::sync_mode::none:
      flags |= MDB_NOSYNC;
      break;
    }
    if (auto rc = mdb_env_open(env, opts.path.c_str(), flags, 0644); rc != 0) {
      auto err = from_mdb(rc, "mdb_env_open");
      err.message += " (" + opts.path + ")";
      mdb_env_close(env);
      return make_unexpected(std::move(err));
    }
    // An existing file may be larger than the requested map.
    MDB_envinfo info;
    mdb_env_info(env, &info);
    std::unique_ptr<environment> result{new environment(std::move(opts), env)};
    result->map_size_ = info.me_mapsize;
    return result;
  } catch (const std::bad_alloc&) {
    return fail(errc::out_of_memory, "environment::open");
  } catch (const std::exception& e) {
    return fail(errc::internal, e.what());
  }
}

result<MDB_dbi> environment::open_db(std::string_view name, unsigned flags) {
  if (name.empty())
    return fail(errc::invalid_argument, "open_db: empty name");
  try {
    std::lock_guard<std::mutex> guard{dbs_mutex_};
    for (auto& [n, dbi] : dbs_)
      if (n == name)
        return dbi;
    auto txn = begin_write();
    if (!txn)
      return make_unexpected(txn.error());
    std::string n{name};
    MDB_dbi dbi = 0;
    if (auto rc
        = mdb_dbi_open(txn->handle(), n.c_str(), flags | MDB_CREATE, &dbi);
        rc != 0) {
      auto err = from_mdb(rc, "mdb_dbi_open");
      err.message += " (" + n + ")";
      return make_unexpected(std::move(err));
    }
    if (auto res = txn->commit(); !res)
      return make_unexpected(res.error());
    dbs_.emplace_back(std::move(n), dbi);
    return dbi;
  } catch (const std::bad_alloc&) {
    return fail(errc::out_of_memory, "open_db");
  }
}

template <class Txn, class Begin>
result<Txn> environment::begin_txn(const char* what, const char* resized,
                                   Begin begin) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::shared_lock<std::shared_mutex> lock{resize_mutex_};
    MDB_txn* txn = nullptr;
    auto rc = begin(txn);
    if (rc == 0)
      return Txn{this, txn, std::move(lock)};
    if (rc != MDB_MAP_RESIZED)
      return fail_mdb(rc, what);
    lock.unlock();
    if (auto res = adopt_resized_map(); !res)
      return make_unexpected(res.error());
  }
  return fail(errc::io_error, resized);
}

result<read_txn> environment::begin_read() {
  return begin_txn<read_txn>(
      "mdb_txn_begin(read)", "begin_read: map keeps being resized",
      [this](MDB_txn*& txn) {
        {
          std::lock_guard<std::mutex> guard{pool_mutex_};
          if (!pool_.empty()) {
            txn = pool_.back();
            pool_.pop_back();
          }
        }
        if (txn == nullptr)
          return mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
        auto rc = mdb_txn_renew(txn);
        if (rc != 0)
          mdb_txn_abort(txn);
        return rc;
      });
}

std::uint64_t environment::last_txn_id() {
  // The meta pages live in the map, which a resize replaces.
  std::shared_lock<std::shared_mutex> lock{resize_mutex_};
  MDB_envinfo info{};
  if (mdb_env_info(env_, &info) != 0)
    return 0;
  return static_cast<std::uint64_t>(info.me_last_txnid);
}

result<write_txn> environment::begin_write() {
  return begin_txn<write_txn>("mdb_txn_begin(write)",
                              "begin_write: map keeps being resized",
                              [this](MDB_txn*& txn) {
                                return mdb_txn_begin(env_, nullptr, 0, &txn);
                              });
}

void environment::release_read(MDB_txn* txn) noexcept {
  mdb_txn_reset(txn);
  std::lock_guard<std::mutex> guard{pool_mutex_};
  if (pool_.size() < max_pooled_readers) {
    try {
      pool_.push_back(txn);
      return;
    } catch (...) {
      // fall through
    }
  }
  mdb_txn_abort(txn);
}

void environment::clear_pool() noexcept {
  std::lock_guard<std::mutex> guard{pool_mutex_};
  for (auto* txn : pool_)
    mdb_txn_abort(txn);
  pool_.clear();
}

result<void> environment::grow() {
  std::unique_lock<std::shared_mutex> lock{resize_mutex_};
  clear_pool();
  auto cur = map_size_.load();
  if (cur >= opts_.max_map_size)
    return fail(errc::map_full,
                "LMDB map is full at " + std::to_string(cur)
                    + " bytes and options.max_map_size is reached");
  auto next = std::min(cur * 2, opts_.max_map_size);
  if (auto rc = mdb_env_set_mapsize(env_, next); rc != 0)
    return fail_mdb(rc, "mdb_env_set_mapsize");
  map_size_ = next;
  ++grows_;
  return {};
}

result<void> environment::adopt_resized_map() {
  std::unique_lock<std::shared_mutex> lock{resize_mutex_};
  clear_pool();
  if (auto rc = mdb_env_set_mapsize(env_, 0); rc != 0)
    return fail_mdb(rc, "mdb_env_set_mapsize(0)");
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  map_size_ = info.me_mapsize;
  return {};
}

result<void> environment::sync() {
  if (auto rc = mdb_env_sync(env_, 1); rc != 0)
    return fail_mdb(rc, "mdb_env_sync");
  return {};
}

std::size_t environment::used_bytes() const noexcept {
  MDB_envinfo info;
  MDB_stat st;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &st) != 0)
    return 0;
  return (info.me_last_pgno + 1) * static_cast<std::size_t>(st.ms_psize);
}

result<void> open_dbs(environment& env, std::initializer_list<db_spec> specs) {
  for (const auto& s : specs) {
    auto dbi = env.open_db(s.name, s.flags);
    if (!dbi)
      return make_unexpected(dbi.error());
    *s.out = *dbi;
  }
  return {};
}

result<std::uint64_t> read_checkpoint(environment& env, MDB_dbi checkpoints,
                                      std::string_view name, bool* found) {
  auto txn = env.begin_read();
  if (!txn)
    return make_unexpected(txn.error());
  return read_checkpoint(txn->handle(), checkpoints, name, found);
}

} // namespace switchboard::store
