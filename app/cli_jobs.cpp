// `switchboard jobs list|failed|show|retry|flush|forget|stats`: the queues'
// jobs, with the field names of the HTTP API (/api/jobs, /api/queues).

#include <boost/json.hpp>

#include <actors/listeners/pause.hpp>
#include <app/cli_common.hpp>
#include <app/job_json.hpp>
#include <messages/time.hpp>
#include <store/job_queue.hpp>
#include <store/projections.hpp>
#include <store/writer.hpp>

namespace switchboard::app {

namespace {

constexpr const char* jobs_usage
    = R"(usage: switchboard jobs list [--state S] [FILTERS] [--after ID] [--limit N] [--json]
       switchboard jobs failed [FILTERS] [--after ID] [--limit N] [--json]
       switchboard jobs show <id> [--json]
       switchboard jobs retry <id> | --all | FILTERS
       switchboard jobs flush [FILTERS]
       switchboard jobs forget <id>
       switchboard jobs stats [--company C] [--json]
       switchboard jobs pause | continue [--queue Q]
       (each also takes --config FILE and --set section.key=value)

  FILTERS: --queue Q --listener L --event-type T --event-id E --company C

  list         jobs by state: pending (default; ready and delayed), ready,
               delayed, leased or failed, by id
  failed       list the failed jobs, oldest first, with their last error
  show <id>    one job with every failed attempt (time, duration, error)
  retry <id>   put a failed job back on its queue, due now, with fresh tries;
               with --all or FILTERS every failed job that matches
               (a running daemon picks them up within its tick)
  flush        delete the failed jobs that match FILTERS (all without any)
  forget <id>  delete a failed job
  stats        per queue: jobs ready, delayed, leased, failed, and the
               counters processed, retried, failed_total by listener
  pause        the queued listeners lease no job and apply no event until
               `continue` (as horizon:pause); bookings are still taken and
               their work waits. With --queue, only that queue's (e.g.
               analytics and default, to let the notifications go on).
               Kept in the store: a restart stays paused, and a running
               daemon follows within half a second
  continue     they go on where they stopped: every queue (also those
               paused by name), or --queue's
Works while the daemon runs: a change is short LMDB write transactions.
)";

void print_job(const store::job& j, timestamp_ms now, bool json) {
  if (json) {
    std::cout << boost::json::serialize(job_to_json(j, now)) << '\n';
    return;
  }
  auto state = j.state == store::job_state::pending && j.due_at > now
                   ? std::string{"delayed"}
                   : std::string{to_string(j.state)};
  std::cout << j.id << "  " << j.queue << "  " << j.listener << "  " << state
            << "  company=" << j.company_id << "  event=" << j.event_id << " ("
            << j.event_type << " #" << j.event_seq << ")"
            << "  attempts=" << j.attempts;
  if (j.state == store::job_state::failed)
    std::cout << "  failed_at=" << format_rfc3339(j.failed_at);
  else if (j.state == store::job_state::pending)
    std::cout << "  due_at=" << format_rfc3339(j.due_at);
  std::cout << '\n';
  if (!j.last_error.empty())
    std::cout << "    " << j.last_error << '\n';
}

void print_history(const store::job& j) {
  for (const auto& a : j.history)
    std::cout << "  attempt at " << format_rfc3339(a.started_at) << " ("
              << a.duration_ms << " ms): " << a.error << '\n';
}

/// The filter flags of `a`.
store::job_filter filter_of(const cli::parsed_args& a) {
  store::job_filter f;
  for (auto [flag, out] : {std::pair{"--queue", &f.queue},
                           {"--listener", &f.listener},
                           {"--event-type", &f.event_type},
                           {"--event-id", &f.event_id},
                           {"--company", &f.company_id}})
    if (auto i = a.values.find(flag); i != a.values.end())
      *out = i->second;
  return f;
}

bool has_filter(const store::job_filter& f) {
  return !f.queue.empty() || !f.listener.empty() || !f.event_type.empty()
         || !f.event_id.empty() || !f.company_id.empty();
}

int list(const cli::parsed_args& a, store::job_list_state state) {
  std::uint64_t after = 0;
  std::uint64_t limit = 1000;
  if (!cli::read_uints("jobs", a, {{"--after", &after}, {"--limit", &limit}}))
    return 2;
  auto st = cli::open_store("jobs", a.common);
  if (!st)
    return 1;
  auto now = cli::wall_now();
  auto f = filter_of(a);
  bool json = a.switches.count("--json") > 0;
  std::size_t shown = 0;
  // Pages until `limit` jobs are shown or the records end.
  while (shown < limit) {
    auto page = st->jobs->list(f, state, now, after,
                               static_cast<std::size_t>(limit - shown));
    if (!page) {
      std::cerr << "switchboard jobs: " << store::to_string(page.error())
                << '\n';
      return 1;
    }
    for (const auto& j : page->jobs)
      print_job(j, now, json);
    shown += page->jobs.size();
    if (page->next_after == 0)
      break;
    after = page->next_after;
  }
  if (!json)
    std::cout << shown << ' ' << to_string(state) << " job(s)\n";
  return 0;
}

int stats(const cli::parsed_args& a) {
  auto st = cli::open_store("jobs", a.common);
  if (!st)
    return 1;
  auto now = cli::wall_now();
  std::string company;
  if (auto i = a.values.find("--company"); i != a.values.end())
    company = i->second;
  auto names = st->jobs->queues();
  if (!names) {
    std::cerr << "switchboard jobs: " << store::to_string(names.error())
              << '\n';
    return 1;
  }
  bool json = a.switches.count("--json") > 0;
  boost::json::array qs;
  for (const auto& name : *names) {
    auto c = company.empty() ? st->jobs->counts(name, now)
                             : st->jobs->company_counts(name, company, now);
    auto rows = st->jobs->counters(name, company);
    if (!c || !rows) {
      std::cerr << "switchboard jobs: "
                << store::to_string(!c ? c.error() : rows.error()) << '\n';
      return 1;
    }
    boost::json::object o{{"name", name},
                          {"ready", c->ready},
                          {"delayed", c->delayed},
                          {"leased", c->leased},
                          {"failed", c->failed}};
    add_job_counters(o, *rows);
    if (!company.empty())
      o["company_id"] = company;
    if (json) {
      qs.push_back(std::move(o));
      continue;
    }
    std::cout << name << "  ready=" << c->ready << "  delayed=" << c->delayed
              << "  leased=" << c->leased << "  failed=" << c->failed
              << "  processed=" << o["processed"].as_uint64()
              << "  retried=" << o["retried"].as_uint64()
              << "  failed_total=" << o["failed_total"].as_uint64() << '\n';
    for (const auto& l : o["listeners"].as_array()) {
      const auto& lo = l.as_object();
      std::cout << "  " << lo.at("listener").as_string().c_str()
                << "  processed=" << lo.at("processed").as_uint64()
                << "  retried=" << lo.at("retried").as_uint64()
                << "  failed_total=" << lo.at("failed_total").as_uint64()
                << '\n';
    }
  }
  if (json)
    std::cout << boost::json::serialize(boost::json::object{{"queues", qs}})
              << '\n';
  return 0;
}

} // namespace

int run_jobs(const std::vector<std::string>& args) {
  auto a = cli::parse_tool_args("jobs", jobs_usage, args,
                                {"--queue", "--after", "--limit", "--state",
                                 "--listener", "--event-type", "--event-id",
                                 "--company"},
                                {"--json", "--all"}, true);
  if (!a)
    return a.error();
  const auto& rest = a->common.rest;
  if (rest.empty()) {
    std::cerr << "switchboard jobs: expected list, failed, show, retry, "
                 "flush, forget, stats, pause or continue\n\n"
              << jobs_usage;
    return 2;
  }
  const auto& mode = rest[0];
  auto no_more_args = [&]() {
    if (rest.size() > 1) {
      std::cerr << "switchboard jobs: unexpected argument " << rest[1] << '\n';
      return false;
    }
    return true;
  };
  if (mode == "list" || mode == "failed") {
    if (!no_more_args())
      return 2;
    auto state = mode == "failed" ? store::job_list_state::failed
                                  : store::job_list_state::pending;
    if (auto i = a->values.find("--state"); i != a->values.end()) {
      if (mode == "failed" || !store::parse_job_list_state(i->second, state)) {
        std::cerr << "switchboard jobs: --state: unknown state \"" << i->second
                  << "\"; expects pending, ready, delayed, leased or "
                     "failed\n";
        return 2;
      }
    }
    auto rc = list(*a, state);
    return rc;
  }
  if (mode == "stats") {
    if (!no_more_args())
      return 2;
    return stats(*a);
  }
  if (mode == "pause" || mode == "continue") {
    if (!no_more_args())
      return 2;
    bool paused = mode == "pause";
    std::string queue;
    if (auto i = a->values.find("--queue"); i != a->values.end()) {
      queue = i->second;
      const auto known = node_options{}.concurrency;
      if (known.count(queue) == 0) {
        std::string names;
        for (const auto& q : known)
          names += (names.empty() ? "" : ", ") + q.first;
        std::cerr << "switchboard jobs: --queue: unknown queue \"" << queue
                  << "\"; expects " << names << '\n';
        return 2;
      }
    }
    auto st = cli::open_store("jobs", a->common);
    if (!st)
      return 1;
    auto* proj = st->projections.get();
    auto r = st->writer->execute([proj, queue, paused](store::write_txn& txn) {
      return write_pause_in(txn, *proj, queue, paused);
    });
    if (!r) {
      std::cerr << "switchboard jobs: " << mode << ": "
                << store::to_string(r.error()) << '\n';
      return 1;
    }
    std::cout << (queue.empty() ? std::string{"every queue"} : "queue " + queue)
              << (paused ? " paused" : " resumed") << '\n';
    return 0;
  }
  if (mode == "flush" || (mode == "retry" && rest.size() == 1)) {
    if (!no_more_args())
      return 2;
    auto f = filter_of(*a);
    if (mode == "retry" && !has_filter(f) && a->switches.count("--all") == 0) {
      std::cerr << "switchboard jobs: retry expects a job id, --all or a "
                   "filter (--queue, --listener, --event-type, --event-id, "
                   "--company)\n";
      return 2;
    }
    auto st = cli::open_store("jobs", a->common);
    if (!st)
      return 1;
    auto n = mode == "retry" ? st->jobs->retry_failed_where(f, cli::wall_now())
                             : st->jobs->delete_failed_where(f);
    if (!n) {
      std::cerr << "switchboard jobs: " << mode << ": "
                << store::to_string(n.error()) << '\n';
      return 1;
    }
    std::cout << *n << " failed job(s) "
              << (mode == "retry" ? "due again" : "deleted") << '\n';
    return 0;
  }
  if (mode == "retry" || mode == "forget" || mode == "show") {
    if (rest.size() != 2) {
      std::cerr << "switchboard jobs: " << mode << " expects one job id\n";
      return 2;
    }
    auto id = cli::to_uint("job id", rest[1]);
    if (!id) {
      std::cerr << "switchboard jobs: " << id.error() << '\n';
      return 2;
    }
    auto st = cli::open_store("jobs", a->common);
    if (!st)
      return 1;
    if (mode == "show") {
      auto j = st->jobs->get(*id);
      if (!j) {
        std::cerr << "switchboard jobs: show " << *id << ": "
                  << (j.error().code == store::errc::not_found
                          ? "no job with id " + std::to_string(*id)
                          : store::to_string(j.error()))
                  << '\n';
        return 1;
      }
      bool json = a->switches.count("--json") > 0;
      print_job(*j, cli::wall_now(), json);
      if (!json)
        print_history(*j);
      return 0;
    }
    auto r = mode == "retry" ? st->jobs->retry_failed(*id, cli::wall_now())
                             : st->jobs->delete_failed(*id);
    if (!r) {
      std::cerr << "switchboard jobs: " << mode << " " << *id << ": "
                << (r.error().code == store::errc::not_found
                        ? "no failed job with id " + std::to_string(*id)
                        : store::to_string(r.error()))
                << '\n';
      return 1;
    }
    std::cout << (mode == "retry"
                      ? "job " + std::to_string(*id) + " is due again"
                      : "failed job " + std::to_string(*id) + " deleted")
              << '\n';
    return 0;
  }
  std::cerr << "switchboard jobs: unknown mode " << mode << "\n\n"
            << jobs_usage;
  return 2;
}

} // namespace switchboard::app
