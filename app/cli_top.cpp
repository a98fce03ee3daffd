// `switchboard top`: the dashboard's tiles and queue table in a terminal,
// refreshing, for an operator on a server without a browser. Reads the
// store (queue counts and the minute buckets of store/stats.hpp) in short
// read transactions, so it runs beside the daemon and costs it nothing.

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include <unistd.h>

#include <actors/node.hpp>
#include <app/cli_common.hpp>
#include <app/cli_tools.hpp>
#include <messages/time.hpp>
#include <store/job_queue.hpp>
#include <store/stats.hpp>
#include <telemetry/metrics.hpp>

namespace switchboard::app {

namespace {

constexpr const char* top_usage
    = R"(usage: switchboard top [--interval SECONDS] [--once]
       (also takes --config FILE and --set section.key=value)

Shows, refreshing every --interval seconds (2):
  tiles   events and jobs per minute (last full minute), jobs and failed
          attempts in the past hour, failed jobs kept, the longest wait
          (p99, due to lease) and run time (p99) in the past hour
  queues  per queue: ready, delayed, leased, failed, jobs in the past hour,
          wait p95/p99 and run time p95 in the past hour
The figures come from the store: the daemon writes its minute buckets every
metrics.stats_interval_ms. --once prints one screen and exits.
)";

using sums = store::minute_bucket;

/// A percentile of `s` in ms.
double ms(const sums& s, double q) {
  return telemetry::quantile(s.buckets, q) * 1000.0;
}

std::string fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width)
    s.insert(0, width - s.size(), ' ');
  return s;
}

/// One screen.
int render(node_store& st, bool clear) {
  auto now = cli::wall_now();
  auto minute = static_cast<std::uint64_t>(now / 60000);
  auto buckets = st.stats->range(minute - 60, minute + 1);
  if (!buckets) {
    std::cerr << "switchboard top: " << store::to_string(buckets.error())
              << '\n';
    return 1;
  }
  sums events_last, jobs_last, jobs_hour, waits_hour, runs_hour;
  std::map<std::string, sums> queue_wait, queue_run;
  for (const auto& b : *buckets) {
    bool last_full = b.minute == minute - 1;
    switch (b.kind) {
    case store::stats_kind::event:
      if (last_full)
        store::add_into(events_last, b);
      break;
    case store::stats_kind::queue_runtime:
      if (last_full)
        store::add_into(jobs_last, b);
      store::add_into(jobs_hour, b);
      store::add_into(runs_hour, b);
      store::add_into(queue_run[b.name], b);
      break;
    case store::stats_kind::queue_wait:
      store::add_into(waits_hour, b);
      store::add_into(queue_wait[b.name], b);
      break;
    case store::stats_kind::listener:
      break;
    }
  }
  auto names = st.jobs->queues();
  if (!names) {
    std::cerr << "switchboard top: " << store::to_string(names.error()) << '\n';
    return 1;
  }
  std::uint64_t failed_kept = 0;
  std::map<std::string, store::queue_counts> counts;
  for (const auto& q : *names)
    if (auto c = st.jobs->counts(q, now)) {
      counts[q] = *c;
      failed_kept += c->failed;
    }
  std::string out;
  if (clear)
    out += "\x1b[H\x1b[2J";
  out += "switchboard top  " + format_rfc3339(now) + "\n\n";
  out += "  events/min " + pad(std::to_string(events_last.count), 8)
         + "    jobs/min " + pad(std::to_string(jobs_last.count), 8)
         + "    jobs past hour " + pad(std::to_string(jobs_hour.count), 9)
         + "\n";
  out += "  failed attempts past hour "
         + pad(std::to_string(jobs_hour.failures), 6) + "    failed jobs kept "
         + pad(std::to_string(failed_kept), 7) + "\n";
  out += "  max wait (p99) " + pad(fixed(ms(waits_hour, 0.99)), 9)
         + " ms    max run time (p99) " + pad(fixed(ms(runs_hour, 0.99)), 9)
         + " ms\n\n";
  out += "  queue            ready  delayed   leased   failed  jobs/hour"
         "  wait p95  wait p99   run p95\n";
  for (const auto& [q, c] : counts) {
    auto w = queue_wait[q];
    auto r = queue_run[q];
    auto name = q.size() > 15 ? q.substr(0, 15) : q;
    name.resize(15, ' ');
    out += "  " + name + pad(std::to_string(c.ready), 7)
           + pad(std::to_string(c.delayed), 9)
           + pad(std::to_string(c.leased), 9) + pad(std::to_string(c.failed), 9)
           + pad(std::to_string(r.count), 11) + pad(fixed(ms(w, 0.95)), 10)
           + pad(fixed(ms(w, 0.99)), 10) + pad(fixed(ms(r, 0.95)), 10) + "\n";
  }
  std::cout << out << std::flush;
  return 0;
}

} // namespace

int run_top(const std::vector<std::string>& args) {
  auto a = cli::parse_tool_args("top", top_usage, args, {"--interval"},
                                {"--once"}, false);
  if (!a)
    return a.error();
  std::uint64_t interval = 2;
  if (auto i = a->values.find("--interval"); i != a->values.end()) {
    auto n = cli::to_uint("--interval", i->second);
    if (!n || *n == 0 || *n > 3600) {
      std::cerr << "switchboard top: --interval: expects 1 to 3600 seconds\n";
      return 2;
    }
    interval = *n;
  }
  auto st = cli::open_store("top", a->common);
  if (!st)
    return 1;
  bool once = a->switches.count("--once") > 0;
  bool tty = isatty(STDOUT_FILENO) == 1;
  for (;;) {
    if (auto rc = render(*st, tty && !once); rc != 0 || once)
      return rc;
    std::this_thread::sleep_for(std::chrono::seconds(interval));
  }
}

} // namespace switchboard::app
