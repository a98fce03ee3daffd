// Store benchmark: durable appends per second through the writer's group
// commit (1, 16 and 256 concurrent writers), append latency at 256
// writers, a full scan of the global log and stream reads, and the job
// queue's fair leasing (lease 64 and ack them per transaction, as a queue
// supervisor does, without sync) with the jobs of 1 and of 100 companies,
// beside the
// anchor measured in the same run: raw LMDB puts of the same value size,
// 1000 per transaction, with the same sync setting.
//
// Usage: store_bench [--quick] [--seconds S] [--aggregates N]
//                    [--sync full|no_meta_sync|none] [--nested] [--dir D]
// The last line is "RESULT store_bench ...". Timing never fails the run.

#include "bench/args.hpp"
#include "bench/open_store.hpp"
#include "bench/probes.hpp"
#include "messages/ids.hpp"
#include "messages/registry.hpp"
#include "store/environment.hpp"
#include "store/event_store.hpp"
#include "store/job_queue.hpp"
#include "store/writer.hpp"

#include <lmdb.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;
using namespace switchboard::bench;

namespace {

struct settings {
  double seconds = 5;
  std::uint64_t aggregates = 100000;
  options::sync_mode sync = options::sync_mode::full;
  bool nested = false;

  /// The flags that set these, in the order of the usage.
  std::vector<flag> flags() {
    return {
        {"--quick",
         [this] {
           seconds = 0.5;
           aggregates = 10000;
         }},
        {"--seconds", "S", set_real(seconds)},
        {"--aggregates", "N", set_count(aggregates)},
        {"--sync", "full|no_meta_sync|none",
         [this](const std::string& m) {
           if (m == "full")
             sync = options::sync_mode::full;
           else if (m == "no_meta_sync")
             sync = options::sync_mode::no_meta_sync;
           else if (m == "none")
             sync = options::sync_mode::none;
           else {
             std::fprintf(stderr, "unknown sync mode %s\n", m.c_str());
             std::exit(2);
           }
         }},
        {"--nested", set_true(nested)},
    };
  }
};

const std::string_view types[]
    = {event_traits<appointment_created>::wire_name,
       event_traits<appointment_updated>::wire_name,
       event_traits<appointment_cancelled>::wire_name,
       event_traits<customer_updated>::wire_name,
       event_traits<call_completed>::wire_name};

/// An event of about 300 encoded bytes for a random aggregate.
envelope make_event(std::mt19937_64& rng, std::uint64_t aggregates) {
  envelope e;
  e.id = new_event_id();
  e.type = std::string{types[rng() % 5]};
  e.aggregate_type = "appointment";
  // A stream is a company's: the aggregate names its company.
  auto agg = rng() % aggregates;
  e.aggregate_id = "apt-" + std::to_string(agg);
  e.company_id = "company-" + std::to_string(agg % 50);
  e.occurred_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  e.metadata.user_id = "user-17";
  e.metadata.source = "phone";
  e.metadata.correlation_id = e.id;
  e.data = R"({"appointment_id":")" + e.aggregate_id
           + R"(","status":"scheduled","starts_at":"2026-03-01T10:00:00Z",)"
             R"("ends_at":"2026-03-01T10:30:00Z","staff_id":"staff-3",)"
             R"("service_id":"svc-9","notes":")"
           + std::string(40, 'n') + "\"}";
  return e;
}

struct run_result {
  double eps = 0;
  std::uint64_t appends = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

run_result run_writers(event_store& store, int writers, const settings& s) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> failed{0};
  std::vector<std::vector<float>> latencies(writers);
  std::vector<std::thread> pool;
  auto before = store.get_writer().stats();
  auto bytes0 = written_bytes();
  auto wcpu0 = thread_cpu("sb-store-writer");
  auto dcpu0 = thread_cpu("sb-store-done");
  auto pcpu0 = process_cpu();
  auto t0 = clock_type::now();
  for (int t = 0; t < writers; ++t)
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + writers);
      auto& lat = latencies[t];
      lat.reserve(4096);
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<envelope> v;
        v.push_back(make_event(rng, s.aggregates));
        auto a0 = clock_type::now();
        auto res = store.append(std::move(v), expected_version::any());
        lat.push_back(static_cast<float>(since(a0) * 1000.0));
        if (!res) {
          ++failed;
          std::fprintf(stderr, "append failed: %s\n",
                       to_string(res.error()).c_str());
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
  stop = true;
  for (auto& th : pool)
    th.join();
  auto elapsed = since(t0);
  auto after = store.get_writer().stats();
  auto bytes = written_bytes() - bytes0;
  auto wcpu = thread_cpu("sb-store-writer") - wcpu0;
  auto dcpu = thread_cpu("sb-store-done") - dcpu0;
  auto pcpu = process_cpu() - pcpu0;
  std::vector<float> all;
  for (auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  run_result r;
  r.appends = after.ops_committed - before.ops_committed;
  r.eps = static_cast<double>(r.appends) / elapsed;
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  auto commits = after.commits - before.commits;
  std::printf("writers=%-4d appends=%-8llu durable_eps=%-9.0f p50_ms=%.3f "
              "p99_ms=%.3f commits=%llu avg_batch=%.1f written/event=%.0f B "
              "failed=%llu\n",
              writers, static_cast<unsigned long long>(r.appends), r.eps,
              r.p50_ms, r.p99_ms, static_cast<unsigned long long>(commits),
              commits ? static_cast<double>(r.appends) / commits : 0.0,
              r.appends ? static_cast<double>(bytes) / r.appends : 0.0,
              static_cast<unsigned long long>(failed.load()));
  if (r.appends > 0)
    std::printf("  cpu per append: writer %.1f us, completions %.1f us, "
                "whole process %.1f us\n",
                wcpu * 1e6 / r.appends, dcpu * 1e6 / r.appends,
                pcpu * 1e6 / r.appends);
  std::fflush(stdout);
  return r;
}

/// Jobs leased (and acked) per second from a queue whose jobs belong to
/// `companies` companies, 64 per transaction, as a supervisor's cycle.
double lease_throughput(const std::string& path, int companies,
                        const settings& s) {
  options opts;
  opts.path = path;
  // Without sync: the figure is the cost of the lease (the walk over the
  // companies' index, the records, the acks), not of the disk's flush,
  // which the appends above measure.
  opts.sync = options::sync_mode::none;
  auto env = environment::open(opts);
  if (!reported_ok(env))
    return 0;
  writer w{**env};
  auto q = job_queue::open(**env, w);
  if (!reported_ok(q))
    return 0;
  auto& jobs = **q;
  const std::size_t total = s.seconds < 1 ? 20000 : 200000;
  job j;
  j.queue = "notifications";
  j.listener = "send_appointment_notification";
  j.event_type = std::string{event_traits<appointment_created>::wire_name};
  j.payload = std::string(200, 'p');
  j.max_tries = 3;
  for (std::size_t done = 0; done < total;) {
    auto r = w.execute([&](write_txn& txn) -> result<void> {
      for (std::size_t i = 0; i < 1000 && done + i < total; ++i) {
        j.company_id
            = "company-" + std::to_string((done + i) % std::size_t(companies));
        j.event_id = "ev-" + std::to_string(done + i);
        j.event_seq = done + i + 1;
        if (auto e = jobs.enqueue_in(txn, j); !e)
          return make_unexpected(e.error());
      }
      return {};
    });
    if (!r) {
      std::fprintf(stderr, "enqueue: %s\n", to_string(r.error()).c_str());
      return 0;
    }
    done += 1000;
  }
  std::uint64_t leased = 0;
  std::vector<std::uint64_t> held;
  auto t0 = clock_type::now();
  while (since(t0) < s.seconds) {
    std::size_t got = 0;
    auto r = w.execute([&](write_txn& txn) -> result<void> {
      for (auto id : held)
        if (auto a = jobs.ack_in(txn, id); !a)
          return a;
      auto l = jobs.lease_in(txn, "notifications", 1, 64, 1000000);
      if (!l)
        return make_unexpected(l.error());
      got = l->size();
      held.clear();
      for (const auto& x : *l)
        held.push_back(x.id);
      return {};
    });
    if (!r) {
      std::fprintf(stderr, "lease: %s\n", to_string(r.error()).c_str());
      return 0;
    }
    leased += got;
    if (got == 0)
      break;
  }
  auto rate = static_cast<double>(leased) / since(t0);
  std::printf("lease+ack: %d companies, %zu jobs queued, %llu leased, "
              "%.0f jobs/s (64 per txn, no sync)\n",
              companies, total, static_cast<unsigned long long>(leased), rate);
  std::fflush(stdout);
  return rate;
}

/// Raw LMDB: sequential 8-byte keys, 300-byte values, 1000 puts per txn.
double raw_lmdb(const std::string& path, const settings& s) {
  std::filesystem::create_directories(path);
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_mapsize(env, std::size_t{8} << 30);
  unsigned flags = 0;
  if (s.sync == options::sync_mode::no_meta_sync)
    flags |= MDB_NOMETASYNC;
  if (s.sync == options::sync_mode::none)
    flags |= MDB_NOSYNC;
  if (auto rc = mdb_env_open(env, path.c_str(), flags, 0644); rc != 0) {
    std::fprintf(stderr, "raw lmdb: %s\n", mdb_strerror(rc));
    return 0;
  }
  MDB_dbi dbi;
  MDB_txn* txn;
  mdb_txn_begin(env, nullptr, 0, &txn);
  mdb_dbi_open(txn, nullptr, 0, &dbi);
  mdb_txn_commit(txn);
  std::string value(300, 'v');
  std::uint64_t key = 0;
  auto t0 = clock_type::now();
  while (since(t0) < s.seconds) {
    mdb_txn_begin(env, nullptr, 0, &txn);
    for (int i = 0; i < 1000; ++i) {
      char k[8];
      put_be64(k, ++key);
      MDB_val kv{8, k};
      MDB_val vv{value.size(), value.data()};
      if (auto rc = mdb_put(txn, dbi, &kv, &vv, MDB_APPEND); rc != 0) {
        std::fprintf(stderr, "raw lmdb put: %s\n", mdb_strerror(rc));
        mdb_txn_abort(txn);
        mdb_env_close(env);
        return 0;
      }
    }
    mdb_txn_commit(txn);
  }
  auto puts = static_cast<double>(key) / since(t0);
  mdb_env_close(env);
  std::printf("raw lmdb: %llu puts, %.0f puts/s (1000 per txn)\n",
              static_cast<unsigned long long>(key), puts);
  return puts;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  auto base = read_flags_and_run_dir(argc, argv, "store_bench", s.flags());
  std::printf("store_bench: %.1f s per phase, %llu aggregates, sync=%s%s, "
              "dir %s\n",
              s.seconds, static_cast<unsigned long long>(s.aggregates),
              s.sync == options::sync_mode::full           ? "full"
              : s.sync == options::sync_mode::no_meta_sync ? "no_meta_sync"
                                                           : "none",
              s.nested ? ", nested txns" : "", base.c_str());
  run_result r1, r16, r256;
  double scan_eps = 0, raw = 0;
  {
    options opts;
    opts.path = base + "/store";
    opts.sync = s.sync;
    event_store_config cfg;
    cfg.nested_txn = s.nested;
    auto db = open_event_store(opts, cfg);
    if (!db)
      return 1;
    auto& st = *db->events;
    r1 = run_writers(st, 1, s);
    r16 = run_writers(st, 16, s);
    r256 = run_writers(st, 256, s);
    // Full scan of the global log (twice: the first warms the page cache).
    for (int pass = 0; pass < 2; ++pass) {
      std::uint64_t bytes = 0;
      auto t0 = clock_type::now();
      auto n = st.scan(0, [&bytes](const envelope_view& v) {
        bytes += v.data.size();
        return true;
      });
      auto secs = since(t0);
      if (n) {
        scan_eps = static_cast<double>(*n) / secs;
        std::printf("scan pass %d: %llu events in %.3f s = %.0f events/s\n",
                    pass, static_cast<unsigned long long>(*n), secs, scan_eps);
      }
    }
    // Stream reads of random aggregates.
    {
      std::mt19937_64 rng(42);
      std::uint64_t reads = 0, events = 0;
      auto t0 = clock_type::now();
      while (since(t0) < std::min(1.0, s.seconds)) {
        auto agg = rng() % s.aggregates;
        auto id = "apt-" + std::to_string(agg);
        auto res = st.read_stream("company-" + std::to_string(agg % 50),
                                  "appointment", id, 1, 1000);
        if (res)
          events += res->size();
        ++reads;
      }
      auto secs = since(t0);
      std::printf("read_stream: %.0f streams/s, %.0f events/s (avg %.1f "
                  "events per stream)\n",
                  reads / secs, events / secs,
                  reads ? static_cast<double>(events) / reads : 0.0);
    }
    auto ws = db->w->stats();
    auto& env = *db->env;
    MDB_envinfo info;
    mdb_env_info(env.handle(), &info);
    std::printf(
        "writer: commits=%llu largest_batch=%llu map=%zu MiB "
        "(grown %llu times), last page %zu\n",
        static_cast<unsigned long long>(ws.commits),
        static_cast<unsigned long long>(ws.largest_batch), env.map_size() >> 20,
        static_cast<unsigned long long>(env.grow_count()), info.me_last_pgno);
  }
  auto lease_1 = lease_throughput(base + "/jobs1", 1, s);
  auto lease_100 = lease_throughput(base + "/jobs100", 100, s);
  raw = raw_lmdb(base + "/raw", s);
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  std::printf("RESULT store_bench durable_eps_256=%.0f durable_eps_16=%.0f "
              "durable_eps_1=%.0f p50_ms_256=%.3f p99_ms_256=%.3f "
              "scan_eps=%.0f lease_jobs_per_s_1co=%.0f "
              "lease_jobs_per_s_100co=%.0f raw_lmdb_puts_per_s=%.0f\n",
              r256.eps, r16.eps, r1.eps, r256.p50_ms, r256.p99_ms, scan_eps,
              lease_1, lease_100, raw);
  return 0;
}
