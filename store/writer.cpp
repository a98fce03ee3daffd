#include "store/writer.hpp"
#include "store/run_isolated.hpp"

#include <algorithm>
#include <chrono>

#include <pthread.h>

#include <future>
#include <new>

#include <telemetry/metrics.hpp>

namespace switchboard::store {

namespace {

/// The histogram `name` without labels, with buckets `bounds`.
telemetry::histogram& unlabelled_histogram(const std::string& name,
                                           const std::string& help,
                                           const std::vector<double>& bounds
                                           = telemetry::duration_buckets()) {
  return telemetry::metrics().histogram(name, help, {}, bounds).with();
}

/// The writer's families in /metrics.
struct writer_metrics {
  telemetry::counter& commits = telemetry::metrics()
                                    .counter("switchboard_store_commits_total",
                                             "Write transactions committed")
                                    .with();
  telemetry::histogram& batch = unlabelled_histogram(
      "switchboard_store_commit_batch_size",
      "Operations per committed write transaction", telemetry::size_buckets());
  telemetry::histogram& commit = unlabelled_histogram(
      "switchboard_store_commit_duration_seconds",
      "From a write transaction's begin to its commit (without the sync)");
  telemetry::histogram& sync = unlabelled_histogram(
      "switchboard_store_fsync_duration_seconds",
      "One sync of the data file, covering every commit since the last");
  telemetry::family<telemetry::counter>& faults = telemetry::metrics().counter(
      "switchboard_store_write_faults_total",
      "Write transactions (or syncs) the disk refused, by cause: "
      "no_space (ENOSPC), map_full (store.max_map_size_mb), io_error "
      "(EIO on a write), sync (a failed fsync)",
      {"cause"});
};

writer_metrics& metrics() {
  static writer_metrics m;
  return m;
}

} // namespace

namespace {

/// Raises `slot` to the microseconds since `began` when longer.
void note_max(std::atomic<std::uint64_t>& slot,
              std::chrono::steady_clock::time_point began) {
  auto us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - began)
          .count());
  auto cur = slot.load(std::memory_order_relaxed);
  while (us > cur && !slot.compare_exchange_weak(cur, us))
    ;
}

} // namespace

writer::writer(environment& env) : env_(env) {
  metrics(); // the families of /metrics, listed before any commit
  for (auto cause : {"no_space", "map_full", "io_error", "sync"})
    metrics().faults.with({cause});
  done_thread_ = std::thread([this] {
    run_completions();
  });
  thread_ = std::thread([this] {
    run();
  });
}

writer::~writer() {
  stop();
}

void writer::submit(op_fn op, done_fn done, isolation iso, lane ln) {
  {
    std::unique_lock<std::mutex> lock{mtx_};
    if (!stopping_) {
      auto& q = ln == lane::background && env_.opts().background_per_commit > 0
                    ? background_
                    : queue_;
      q.push_back(item{std::move(op), std::move(done), iso, ln});
      lock.unlock();
      cv_.notify_one();
      return;
    }
  }
  if (done)
    done(fail(errc::closed, "writer is stopped"));
}

result<void> writer::execute(op_fn op, isolation iso, lane ln) {
  if (on_writer_thread())
    return fail(errc::internal, "writer::execute called on the writer thread");
  try {
    std::promise<result<void>> promise;
    auto future = promise.get_future();
    submit(
        std::move(op),
        [&promise](const result<void>& res) {
          promise.set_value(res);
        },
        iso, ln);
    return future.get();
  } catch (const std::bad_alloc&) {
    return fail(errc::out_of_memory, "writer::execute");
  } catch (const std::exception& e) {
    return fail(errc::internal, e.what());
  }
}

void writer::stop() {
  {
    std::lock_guard<std::mutex> lock{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (on_writer_thread())
    return; // a thread cannot join itself; the destructor will
  if (thread_.joinable())
    thread_.join();
  {
    std::lock_guard<std::mutex> lock{done_mtx_};
    done_stopping_ = true;
  }
  done_cv_.notify_all();
  if (done_thread_.joinable())
    done_thread_.join();
}

void writer::on_fault(fault_fn fn) {
  std::lock_guard<std::mutex> lock{fault_mtx_};
  on_fault_ = std::move(fn);
}

void writer::note_fault(const error& err) {
  const char* cause = nullptr;
  switch (err.code) {
  case errc::no_space:
  case errc::map_full:
  case errc::io_error:
    cause = to_string(err.code);
    break;
  default:
    return;
  }
  if (err.message.rfind("committed but not synced", 0) == 0)
    cause = "sync";
  metrics().faults.with({cause}).inc();
  std::lock_guard<std::mutex> lock{fault_mtx_};
  auto code = static_cast<int>(err.code);
  if (fault_code_.exchange(code) == code)
    return;
  fault_commit_ = commits_.load();
  fault_txn_ = env_.last_txn_id();
  if (on_fault_)
    try {
      on_fault_(err, false);
    } catch (...) {
      // An observer must not take the writer down.
    }
}

void writer::note_healthy(std::uint64_t commit) {
  if (fault_code_.load() == 0)
    return;
  std::lock_guard<std::mutex> lock{fault_mtx_};
  // A commit that wrote nothing (LMDB skips the disk for it) proves
  // nothing about the disk.
  if (commit <= fault_commit_ || env_.last_txn_id() <= fault_txn_
      || fault_code_.exchange(0) == 0)
    return;
  if (on_fault_)
    try {
      on_fault_(error{}, true);
    } catch (...) {
      // An observer must not take the writer down.
    }
}

writer_stats writer::stats() const {
  writer_stats s;
  s.commits = commits_.load();
  s.ops_committed = ops_committed_.load();
  s.ops_failed = ops_failed_.load();
  s.batch_retries = batch_retries_.load();
  s.largest_batch = largest_batch_.load();
  s.background_ops = background_ops_.load();
  s.longest_commit_us = longest_commit_us_.load();
  s.longest_sync_us = longest_sync_us_.load();
  return s;
}

std::chrono::steady_clock::duration writer::busy_for() const noexcept {
  auto since = busy_since_.load();
  if (since == 0)
    return {};
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return std::chrono::steady_clock::duration{
      std::max<std::int64_t>(0, now - since)};
}

bool writer::on_writer_thread() const noexcept {
  auto self = std::this_thread::get_id();
  return self == thread_.get_id() || self == done_thread_.get_id();
}

void writer::run() {
  pthread_setname_np(pthread_self(), "sb-store-writer");
  std::vector<item> batch;
  auto max_batch = env_.opts().max_batch;
  for (;;) {
    batch.reserve(max_batch);
    {
      std::unique_lock<std::mutex> lock{mtx_};
      cv_.wait(lock, [this] {
        return stopping_ || !queue_.empty() || !background_.empty();
      });
      if (queue_.empty() && background_.empty())
        return; // stopping and drained
      linger(lock);
      take_batch(batch);
    }
    last_batch_ = batch.size();
    run_batch(batch);
    last_batch_end_ = std::chrono::steady_clock::now();
    batch.clear();
  }
}

void writer::linger(std::unique_lock<std::mutex>& lock) {
  using clock = std::chrono::steady_clock;
  const auto delay = env_.opts().commit_delay;
  const auto enough = env_.opts().commit_min_batch;
  auto waiting = [this] {
    return queue_.size() + background_.size();
  };
  if (delay.count() <= 0 || stopping_ || last_batch_ < 2)
    return; // off, or fed one operation at a time: commit at once
  auto now = clock::now();
  if (now - last_batch_end_ >= delay)
    return; // idle: commit at once
  const auto deadline = now + delay;
  const auto quiet = std::max<clock::duration>(delay / 4, clock::duration{1});
  while (!stopping_ && waiting() < enough) {
    auto before = waiting();
    auto until = std::min(deadline, clock::now() + quiet);
    cv_.wait_until(lock, until, [&] {
      return stopping_ || waiting() != before;
    });
    if (waiting() == before || clock::now() >= deadline)
      return; // quiet for a while, or waited long enough
  }
}

void writer::take_batch(std::vector<item>& batch) {
  auto max_batch = env_.opts().max_batch;
  while (!queue_.empty() && batch.size() < max_batch) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  // Besides a full lane of foreground ops too, so that requests cannot
  // starve the queues.
  auto room = batch.empty()
                  ? max_batch
                  : std::min(env_.opts().background_per_commit, max_batch);
  for (; room > 0 && !background_.empty(); --room) {
    batch.push_back(std::move(background_.front()));
    background_.pop_front();
  }
}

result<void> run_isolated(write_txn& txn, const writer::op_fn& op,
                          isolation iso) {
  try {
    if (iso == isolation::validated)
      return op(txn);
    auto child = txn.begin_nested();
    if (!child)
      return make_unexpected(child.error());
    auto res = op(*child);
    if (!res) {
      child->abort();
      return res;
    }
    return child->commit();
  } catch (const std::bad_alloc&) {
    return fail(errc::out_of_memory, "operation threw std::bad_alloc");
  } catch (const std::exception& e) {
    return fail(errc::internal, std::string{"operation threw: "} + e.what());
  } catch (...) {
    return fail(errc::internal, "operation threw");
  }
}

result<void> writer::run_op(write_txn& txn, item& it) {
  return run_isolated(txn, it.op, it.iso);
}

void writer::run_batch(std::vector<item>& batch) {
  auto fail_all = [this](std::vector<item>& items, const error& err) {
    note_fault(err);
    std::vector<result<void>> results;
    results.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
      results.emplace_back(make_unexpected(err));
    complete(std::move(items), std::move(results));
  };
  std::vector<result<void>> results;
  results.reserve(batch.size());
  for (;;) {
    results.clear();
    auto began = std::chrono::steady_clock::now();
    busy_since_ = began.time_since_epoch().count();
    struct idle_after {
      std::atomic<std::int64_t>& since;
      ~idle_after() {
        since = 0;
      }
    } idle{busy_since_};
    auto txn = env_.begin_write();
    if (!txn) {
      fail_all(batch, txn.error());
      return;
    }
    error poison;
    for (auto& it : batch) {
      results.push_back(run_op(*txn, it));
      if (!results.back() && poisons_txn(results.back().error().code)) {
        poison = results.back().error();
        break;
      }
    }
    if (poison.code == errc::none) {
      if (auto res = txn->commit(); !res)
        poison = res.error();
    }
    if (poison.code == errc::none) {
      auto commit = ++commits_;
      note_max(longest_commit_us_, began);
      metrics().commits.inc();
      metrics().batch.observe(static_cast<double>(batch.size()));
      metrics().commit.observe_since(began);
      auto n = static_cast<std::uint64_t>(batch.size());
      if (n > largest_batch_.load(std::memory_order_relaxed))
        largest_batch_ = n;
      complete(std::move(batch), std::move(results), commit);
      return;
    }
    txn->abort();
    ++batch_retries_;
    if (poison.code == errc::map_full) {
      if (env_.grow())
        continue; // redo the whole batch in the larger map
      poison.message += " (and the map cannot grow: max_map_size reached)";
    }
    if (batch.size() == 1) {
      fail_all(batch, poison);
      return;
    }
    // Redo each operation alone, so that only the culprit fails.
    for (auto& it : batch) {
      std::vector<item> single;
      single.push_back(std::move(it));
      run_batch(single);
    }
    return;
  }
}

void writer::complete(std::vector<item> items,
                      std::vector<result<void>> results, std::uint64_t commit) {
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i])
      ++ops_committed_;
    else
      ++ops_failed_;
    if (items[i].ln == lane::background)
      ++background_ops_;
  }
  {
    std::lock_guard<std::mutex> lock{done_mtx_};
    done_queue_.push_back(
        outcome{std::move(items), std::move(results), commit});
  }
  done_cv_.notify_one();
}

void writer::run_completions() {
  pthread_setname_np(pthread_self(), "sb-store-done");
  auto must_sync = env_.opts().sync == options::sync_mode::full;
  std::deque<outcome> ready;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{done_mtx_};
      done_cv_.wait(lock, [this] {
        return done_stopping_ || !done_queue_.empty();
      });
      if (done_queue_.empty())
        return; // stopping and drained
      ready.swap(done_queue_);
    }
    // One sync makes every batch committed so far durable, meta included.
    // (Failed batches need none, but a sync costs little when clean.)
    result<void> synced;
    if (must_sync) {
      auto began = std::chrono::steady_clock::now();
      synced = env_.sync();
      note_max(longest_sync_us_, began);
      metrics().sync.observe_since(began);
    }
    if (!synced) {
      auto err = synced.error();
      err.message = "committed but not synced to disk: " + err.message;
      note_fault(err);
    } else {
      for (auto& o : ready)
        note_healthy(o.commit);
    }
    for (auto& o : ready) {
      for (std::size_t i = 0; i < o.items.size(); ++i) {
        auto& it = o.items[i];
        if (!it.done)
          continue;
        try {
          if (o.results[i] && !synced) {
            auto err = synced.error();
            err.message = "committed but not synced to disk: " + err.message;
            it.done(make_unexpected(std::move(err)));
          } else {
            it.done(o.results[i]);
          }
        } catch (...) {
          // A completion must not take the writer down.
        }
      }
    }
    ready.clear();
  }
}

} // namespace switchboard::store
