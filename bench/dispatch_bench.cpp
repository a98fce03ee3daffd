// Dispatch benchmark: a real node (real scheduler, LMDB in a temp dir,
// sync=full) measured end to end.
//
//  (a) events/s through the whole dispatch path from 256 concurrent
//      producers (event-based actors, one dispatch request in flight each):
//      one durable transaction with the event and one outbox job for each
//      of 3 queued listeners, then the AuditLogger and CacheInvalidator sync
//      listeners. The event type is staff.updated (audited, invalidates the
//      cache, no seed queued listener); the 3 bench listeners have a delay
//      of a day, so their jobs stay in the outbox while (a) runs and (b)
//      measures job processing alone. p50/p99 latency of the closed loop,
//      then p99 of an open loop paced at half the measured rate.
//  (b) queued jobs/s processed end to end: N jobs enqueued (outside the
//      timed section) for a trivial listener that answers ok at once; the
//      queue is woken and timed until every job is acked.
//  (c) the anchor: raw CAF request/response round trips/s between two
//      trivial actors, 16 in flight, in the same run.
//
// Usage: dispatch_bench [--quick] [--seconds S] [--producers P] [--jobs N]
//                       [--aggregates A] [--concurrency C] [--dir D]
// The last line is "RESULT dispatch_bench ...". Timing never fails the run.

#include "bench/args.hpp"
#include "bench/probes.hpp"
#include "bench/rr_loop.hpp"
#include <actors/interfaces.hpp>
#include <actors/listener_registry.hpp>
#include <actors/listeners.hpp>
#include <actors/log.hpp>
#include <actors/node.hpp>
#include <actors/queue_supervisor.hpp>
#include <actors/runtime.hpp>
#include <messages/events.hpp>
#include <messages/ids.hpp>
#include <messages/json.hpp>
#include <store/codec.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/writer.hpp>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace switchboard;
using namespace switchboard::bench;

namespace {

using pace_atom = caf::atom_constant<caf::atom("pace")>;

struct settings {
  double seconds = 5;
  int producers = 256;
  std::uint64_t jobs = 200000;
  std::uint64_t aggregates = 100000;
  std::uint32_t concurrency = 256;
  bool quick = false;

  /// The flags that set these, in the order of the usage.
  std::vector<flag> flags() {
    return {
        {"--quick",
         [this] {
           quick = true;
           seconds = 1;
           jobs = 20000;
           aggregates = 10000;
         }},
        {"--seconds", "S", set_real(seconds)},
        {"--producers", "P", set_int(producers, 1)},
        {"--jobs", "N", set_count(jobs, 1)},
        {"--aggregates", "A", set_count(aggregates, 1)},
        {"--concurrency", "C", set_int(concurrency, 1)},
    };
  }
};

constexpr const char* event_queue = "bench";
constexpr const char* job_queue_name = "bench_jobs";
constexpr const char* worker_name = "bench.worker";
const char* const event_listeners[]
    = {"bench.first", "bench.second", "bench.third"};

/// CPU of the writer threads and of the whole process, and the bytes
/// written, between two points.
struct cpu_probe {
  double writer = thread_cpu("sb-store-writer");
  double done = thread_cpu("sb-store-done");
  double process = process_cpu();
  std::uint64_t bytes = written_bytes();

  void print(const char* what, std::uint64_t n) const {
    if (n == 0)
      return;
    cpu_probe now;
    std::printf("  per %s: cpu of writer thread %.1f us, completion thread "
                "%.1f us, whole process %.1f us; %.0f bytes written\n",
                what, (now.writer - writer) * 1e6 / n,
                (now.done - done) * 1e6 / n, (now.process - process) * 1e6 / n,
                static_cast<double>(now.bytes - bytes) / n);
  }
};

/// Builds staff.updated envelopes of about 300 bytes (payload ~190 bytes)
/// for random aggregates; the payload is made once and the staff id
/// spliced in.
class event_factory {
public:
  explicit event_factory(std::uint64_t aggregates) : aggregates_(aggregates) {
    staff_updated e;
    e.staff.id = "@ID@";
    e.staff.company_id = "@CO@";
    e.staff.branch_id = "branch-7";
    e.staff.name = "Dana";
    e.staff.phone = "+4930123456";
    auto text = to_json_text(e);
    auto id = text.find("@ID@");
    auto co = text.find("@CO@");
    if (id == std::string::npos || co == std::string::npos || co < id) {
      std::fprintf(stderr, "unexpected staff.updated JSON: %s\n", text.c_str());
      std::exit(1);
    }
    a_ = text.substr(0, id);
    b_ = text.substr(id + 4, co - id - 4);
    c_ = text.substr(co + 4);
  }

  envelope make(std::mt19937_64& rng) const {
    auto n = rng() % aggregates_;
    envelope ev;
    ev.type = event_traits<staff_updated>::wire_name;
    ev.aggregate_type = event_traits<staff_updated>::aggregate_type;
    ev.aggregate_id = "staff-" + std::to_string(n);
    ev.company_id = "company-" + std::to_string(n % 50);
    ev.metadata.user_id = "user-17";
    ev.metadata.source = "bench";
    ev.data = a_ + ev.aggregate_id + b_ + ev.company_id + c_;
    return ev;
  }

private:
  std::uint64_t aggregates_;
  std::string a_, b_, c_;
};

// -- (a) closed loop ---------------------------------------------------------

struct closed_loop {
  const event_factory* factory = nullptr;
  dispatcher_actor dispatcher;
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0};
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> sync_failed{0};
  std::vector<std::vector<float>> latencies;
};

struct producer_state {
  closed_loop* run = nullptr;
  std::size_t index = 0;
  std::mt19937_64 rng;
};

void produce_next(caf::stateful_actor<producer_state>* self) {
  auto* run = self->state.run;
  if (run->stop.load(std::memory_order_relaxed)) {
    ++run->finished;
    self->quit();
    return;
  }
  dispatch_request req;
  req.events.push_back(run->factory->make(self->state.rng));
  auto t0 = clock_type::now();
  self->request(run->dispatcher, caf::infinite, dispatch_atom::value,
                std::move(req))
      .then(
          [self, t0](dispatch_result& res) {
            auto* run = self->state.run;
            run->latencies[self->state.index].push_back(
                static_cast<float>(since(t0) * 1000.0));
            ++run->ok;
            for (const auto& o : res.sync_outcomes)
              if (!o.ok)
                ++run->sync_failed;
            produce_next(self);
          },
          [self](caf::error& err) {
            auto* run = self->state.run;
            if (run->failed++ < 5)
              std::fprintf(stderr, "dispatch failed: %s\n",
                           self->system().render(err).c_str());
            produce_next(self);
          });
}

caf::behavior producer(caf::stateful_actor<producer_state>* self,
                       closed_loop* run, std::size_t index) {
  self->state.run = run;
  self->state.index = index;
  self->state.rng.seed(index * 7919 + 1);
  produce_next(self);
  return {[](pace_atom) {}};
}

struct percentiles {
  double p50 = 0, p99 = 0, max = 0;
};

percentiles percentiles_of(std::vector<float> all) {
  percentiles p;
  if (all.empty())
    return p;
  std::sort(all.begin(), all.end());
  p.p50 = all[all.size() / 2];
  p.p99 = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  p.max = all.back();
  return p;
}

struct closed_result {
  double eps = 0;
  percentiles lat;
  std::uint64_t failed = 0;
};

closed_result run_closed(caf::actor_system& sys, node& n,
                         const event_factory& factory, const settings& s) {
  closed_loop run;
  run.factory = &factory;
  run.dispatcher = n.dispatcher();
  run.latencies.resize(static_cast<std::size_t>(s.producers));
  for (auto& l : run.latencies)
    l.reserve(8192);
  auto w0 = n.store().writer->stats();
  cpu_probe cpu;
  auto t0 = clock_type::now();
  for (int i = 0; i < s.producers; ++i)
    sys.spawn(producer, &run, static_cast<std::size_t>(i));
  std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
  run.stop = true;
  auto counted = run.ok.load();
  auto elapsed = since(t0);
  while (run.finished.load() < s.producers)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto w1 = n.store().writer->stats();
  std::vector<float> all;
  for (auto& l : run.latencies)
    all.insert(all.end(), l.begin(), l.end());
  closed_result r;
  r.eps = static_cast<double>(counted) / elapsed;
  r.lat = percentiles_of(std::move(all));
  r.failed = run.failed.load();
  auto commits = w1.commits - w0.commits;
  auto ops = w1.ops_committed - w0.ops_committed;
  std::printf("(a) closed loop: %d producers, %.1f s: %llu events, %.0f "
              "events/s, p50 %.3f ms, p99 %.3f ms, max %.3f ms; failed %llu, "
              "sync listener failures %llu\n",
              s.producers, elapsed,
              static_cast<unsigned long long>(run.ok.load()), r.eps, r.lat.p50,
              r.lat.p99, r.lat.max, static_cast<unsigned long long>(r.failed),
              static_cast<unsigned long long>(run.sync_failed.load()));
  std::printf("  writer: %llu commits, %llu ops (%.2f ops/event, %.1f "
              "ops/commit)\n",
              static_cast<unsigned long long>(commits),
              static_cast<unsigned long long>(ops),
              run.ok ? static_cast<double>(ops) / run.ok : 0.0,
              commits ? static_cast<double>(ops) / commits : 0.0);
  cpu.print("event", run.ok.load());
  std::fflush(stdout);
  return r;
}

// -- (a) open loop, paced ----------------------------------------------------

struct paced_state {
  const event_factory* factory = nullptr;
  dispatcher_actor dispatcher;
  double rate = 0;
  double seconds = 0;
  clock_type::time_point start;
  std::uint64_t sent = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t max_in_flight = 0;
  std::uint64_t failed = 0;
  std::uint64_t skipped = 0;
  std::mt19937_64 rng{4242};
  std::vector<float>* latencies = nullptr;
  std::atomic<bool>* done = nullptr;
};

caf::behavior pacer(caf::stateful_actor<paced_state>* self, paced_state init) {
  auto& st = self->state;
  st = std::move(init); // its inputs set, its counters and rng fresh
  st.start = clock_type::now();
  self->send(self, pace_atom::value);
  return {
      [self](pace_atom) {
        auto& st = self->state;
        auto elapsed = since(st.start);
        if (elapsed >= st.seconds) {
          if (st.in_flight == 0) {
            *st.done = true;
            self->quit();
          } else {
            self->delayed_send(self, std::chrono::milliseconds(1),
                               pace_atom::value);
          }
          return;
        }
        auto due = static_cast<std::uint64_t>(elapsed * st.rate);
        while (st.sent < due) {
          ++st.sent;
          if (st.in_flight >= 4096) { // the node cannot keep up
            ++st.skipped;
            continue;
          }
          dispatch_request req;
          req.events.push_back(st.factory->make(st.rng));
          auto t0 = clock_type::now();
          ++st.in_flight;
          st.max_in_flight = std::max(st.max_in_flight, st.in_flight);
          self->request(st.dispatcher, caf::infinite, dispatch_atom::value,
                        std::move(req))
              .then(
                  [self, t0](dispatch_result&) {
                    --self->state.in_flight;
                    self->state.latencies->push_back(
                        static_cast<float>(since(t0) * 1000.0));
                  },
                  [self](caf::error&) {
                    --self->state.in_flight;
                    ++self->state.failed;
                  });
        }
        self->delayed_send(self, std::chrono::microseconds(500),
                           pace_atom::value);
      },
  };
}

percentiles run_paced(caf::actor_system& sys, node& n,
                      const event_factory& factory, double rate,
                      const settings& s) {
  std::vector<float> lat;
  lat.reserve(static_cast<std::size_t>(rate * s.seconds) + 16);
  std::atomic<bool> done{false};
  paced_state init;
  init.factory = &factory;
  init.dispatcher = n.dispatcher();
  init.rate = rate;
  init.seconds = s.seconds;
  init.latencies = &lat;
  init.done = &done;
  cpu_probe cpu;
  auto t0 = clock_type::now();
  sys.spawn(pacer, init);
  while (!done.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto elapsed = since(t0);
  auto count = lat.size();
  auto p = percentiles_of(std::move(lat));
  std::printf("(a) paced at %.0f events/s for %.1f s: %llu events (%.0f/s), "
              "p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
              rate, elapsed, static_cast<unsigned long long>(count),
              static_cast<double>(count) / elapsed, p.p50, p.p99, p.max);
  auto ws = n.store().writer->stats();
  std::printf("  writer so far: longest transaction %.1f ms, longest meta "
              "sync %.1f ms\n",
              static_cast<double>(ws.longest_commit_us) / 1000.0,
              static_cast<double>(ws.longest_sync_us) / 1000.0);
  cpu.print("event", count);
  std::fflush(stdout);
  return p;
}

// -- (b) queued jobs ---------------------------------------------------------

double run_jobs(caf::actor_system& sys, node& n,
                std::atomic<std::uint64_t>& handled, const settings& s) {
  auto& st = n.store();
  // Jobs need a readable event: reuse the first ones of (a).
  std::uint64_t last_seq = 1;
  if (auto h = st.events->last_sequence(); h)
    last_seq = std::max<std::uint64_t>(1, *h);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto enqueue_t0 = clock_type::now();
  const std::uint64_t per_txn = 10000;
  for (std::uint64_t done = 0; done < s.jobs;) {
    auto count = std::min(per_txn, s.jobs - done);
    auto res = st.writer->execute([&](store::write_txn& txn) {
      for (std::uint64_t i = 0; i < count; ++i) {
        store::job j;
        j.queue = job_queue_name;
        j.listener = worker_name;
        j.event_seq = 1 + (done + i) % std::min<std::uint64_t>(last_seq, 1000);
        j.event_id = "bench";
        j.created_at = now;
        j.due_at = now;
        j.max_tries = 3;
        j.timeout_ms = 60000;
        auto r = st.jobs->enqueue_in(txn, j);
        if (!r)
          return store::result<void>{make_unexpected(r.error())};
      }
      return store::result<void>{};
    });
    if (!res) {
      std::fprintf(stderr, "enqueue failed: %s\n",
                   store::to_string(res.error()).c_str());
      return -1;
    }
    done += count;
  }
  std::printf("(b) enqueued %llu jobs in %.2f s (untimed)\n",
              static_cast<unsigned long long>(s.jobs), since(enqueue_t0));
  auto queue = n.queues().at(job_queue_name);
  auto w0 = st.writer->stats();
  cpu_probe cpu;
  handled = 0;
  auto t0 = clock_type::now();
  caf::anon_send(queue, wake_atom::value);
  // Wait until the listener saw every job, then until every ack committed.
  auto last = handled.load();
  auto last_change = clock_type::now();
  caf::scoped_actor self{sys};
  std::uint64_t processed = 0;
  for (;;) {
    auto h = handled.load();
    if (h != last) {
      last = h;
      last_change = clock_type::now();
    }
    if (h >= s.jobs) {
      self->request(queue, std::chrono::seconds(10), stats_atom::value)
          .receive(
              [&](const queue_stats& qs) {
                processed = qs.processed;
              },
              [&](caf::error&) {});
      if (processed >= s.jobs)
        break;
    }
    if (since(last_change) > 60) {
      std::fprintf(stderr, "(b) stalled: %llu of %llu jobs handled\n",
                   static_cast<unsigned long long>(h),
                   static_cast<unsigned long long>(s.jobs));
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  auto elapsed = since(t0);
  auto w1 = st.writer->stats();
  auto jps = static_cast<double>(s.jobs) / elapsed;
  auto commits = w1.commits - w0.commits;
  auto ops = w1.ops_committed - w0.ops_committed;
  std::printf("(b) %llu jobs handled and acked in %.2f s: %.0f jobs/s "
              "(concurrency %u); writer %llu commits, %.2f ops/job\n",
              static_cast<unsigned long long>(s.jobs), elapsed, jps,
              s.concurrency, static_cast<unsigned long long>(commits),
              static_cast<double>(ops) / static_cast<double>(s.jobs));
  cpu.print("job", s.jobs);
  std::fflush(stdout);
  return jps;
}

// -- (c) the anchor ----------------------------------------------------------

struct rr_state {
  caf::actor server;
  std::uint64_t* count = nullptr;
  bench::rr_loop loop;
};

void rr_next(caf::stateful_actor<rr_state>* self) {
  auto& st = self->state;
  if (bench::rr_stopping(self, st.loop))
    return;
  self->request(st.server, caf::infinite, 1).then([self](int) {
    ++*self->state.count;
    rr_next(self);
  });
}

double run_caf_rr(caf::actor_system& sys, double seconds) {
  auto server = sys.spawn([]() -> caf::behavior {
    return {[](int x) {
      return x;
    }};
  });
  std::uint64_t count = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0};
  auto t0 = clock_type::now();
  sys.spawn([&](caf::stateful_actor<rr_state>* self) -> caf::behavior {
    auto& st = self->state;
    st.server = server;
    st.count = &count;
    st.loop = {&stop, &finished, 16};
    for (int i = 0; i < 16; ++i)
      rr_next(self);
    return {[](pace_atom) {}};
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  auto elapsed = since(t0);
  while (finished.load() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  auto rate = static_cast<double>(count) / elapsed;
  std::printf("(c) raw CAF request/response: %.0f round trips/s (16 in "
              "flight)\n",
              rate);
  std::fflush(stdout);
  return rate;
}

/// A queued listener that answers ok at once, counting its jobs.
listener_binding trivial_listener(std::vector<std::string> names,
                                  std::atomic<std::uint64_t>* counter) {
  listener_binding b;
  b.names = std::move(names);
  b.spawn = [counter](caf::actor_system& sys, const listener_context&) {
    return sys.spawn([counter](queued_listener_actor::pointer)
                         -> queued_listener_actor::behavior_type {
      return {
          [counter](handle_atom, const job_request&) -> caf::result<ok_atom> {
            if (counter != nullptr)
              counter->fetch_add(1, std::memory_order_relaxed);
            return ok_atom::value;
          },
          [](failed_atom, const job_request&, const std::string&) {},
      };
    });
  };
  return b;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  auto base = read_flags_and_run_dir(argc, argv, "dispatch_bench", s.flags());
  log::configure("warn", log::format::text);
  std::printf("dispatch_bench: %.1f s per phase, %d producers, %llu "
              "aggregates, %llu jobs, sync=full, %u cores, dir %s\n",
              s.seconds, s.producers,
              static_cast<unsigned long long>(s.aggregates),
              static_cast<unsigned long long>(s.jobs),
              std::thread::hardware_concurrency(), base.c_str());
  event_factory factory{s.aggregates};
  {
    std::mt19937_64 rng{1};
    auto ev = factory.make(rng);
    ev.id = new_event_id();
    std::printf("event: %s, payload %zu bytes, stored record %zu bytes\n",
                ev.type.c_str(), ev.data.size(), store::record_size(ev));
  }
  closed_result closed;
  percentiles paced;
  double paced_rate = 0, jobs_per_s = 0, rr = 0;
  bool failed = false;
  {
    runtime_config cfg;
    caf::actor_system sys{cfg};
    std::atomic<std::uint64_t> handled{0};
    node_options opts;
    opts.store.path = base + "/store";
    opts.store.sync = store::options::sync_mode::full;
    opts.tick = std::chrono::hours(1); // (b) starts when the bench wakes it
    opts.concurrency[event_queue] = 16;
    opts.concurrency[job_queue_name] = s.concurrency;
    opts.configure = [](listener_registry& reg) -> registration_result {
      for (const char* name : event_listeners) {
        queued_listener_spec spec;
        spec.name = name;
        spec.queue = event_queue;
        spec.delay_s = 86400; // stays in the outbox while (a) runs
        if (auto ok = reg.listen_queued<staff_updated>(spec); !ok)
          return ok;
      }
      queued_listener_spec worker;
      worker.name = worker_name;
      worker.queue = job_queue_name;
      worker.retry.tries = 3;
      return reg.listen_queued<notification_sent>(worker);
    };
    opts.extra_listeners.emplace_back(
        trivial_listener(
            {event_listeners[0], event_listeners[1], event_listeners[2]},
            nullptr),
        event_queue);
    opts.extra_listeners.emplace_back(trivial_listener({worker_name}, &handled),
                                      job_queue_name);
    auto n = node::start(sys, std::move(opts));
    if (!n) {
      std::fprintf(stderr, "node::start: %s\n", n.error().c_str());
      return 1;
    }
    const auto& reg = (*n)->registry();
    constexpr auto staff_type = event_traits<staff_updated>::wire_name;
    std::printf("%s: %zu queued listener(s), %zu sync listener(s)\n",
                std::string{staff_type}.c_str(),
                reg.queued_for(staff_type).size(),
                reg.sync_for(staff_type).size());
    rr = run_caf_rr(sys, s.quick ? 0.3 : 1.0);
    closed = run_closed(sys, **n, factory, s);
    paced_rate = std::max(1.0, closed.eps / 2);
    paced = run_paced(sys, **n, factory, paced_rate, s);
    jobs_per_s = run_jobs(sys, **n, handled, s);
    if (jobs_per_s < 0 || closed.failed > 0)
      failed = true;
    (*n)->stop();
  }
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  std::printf("RESULT dispatch_bench dispatch_eps=%.0f dispatch_p99_ms=%.3f "
              "jobs_per_s=%.0f caf_rr_per_s=%.0f\n",
              closed.eps, paced.p99, std::max(0.0, jobs_per_s), rr);
  return failed ? 1 : 0;
}
