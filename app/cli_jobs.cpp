// `switchboard jobs failed|retry <id>|forget <id>`: the failed jobs.

#include <boost/json.hpp>

#include <app/cli_common.hpp>
#include <messages/time.hpp>
#include <store/job_queue.hpp>

namespace switchboard::app {

namespace {

constexpr const char* jobs_usage
    = R"(usage: switchboard jobs failed [--queue Q] [--after ID] [--limit N] [--json]
       switchboard jobs retry <id>
       switchboard jobs forget <id>
       (each also takes --config FILE and --set section.key=value)

  failed       list the failed jobs, oldest first, with their last error
  retry <id>   put a failed job back on its queue, due now, with fresh tries
               (a running daemon picks it up within its tick)
  forget <id>  delete a failed job
Works while the daemon runs: a change is one short LMDB write transaction.
)";

void print_job(const store::job& j, bool json) {
  if (json) {
    boost::json::object o{{"id", j.id},
                          {"queue", j.queue},
                          {"listener", j.listener},
                          {"event_id", j.event_id},
                          {"event_seq", j.event_seq},
                          {"attempts", j.attempts},
                          {"max_tries", j.max_tries},
                          {"failed_at", format_rfc3339(j.failed_at)},
                          {"error", j.last_error}};
    std::cout << boost::json::serialize(o) << '\n';
    return;
  }
  std::cout << j.id << "  " << j.queue << "  " << j.listener
            << "  event=" << j.event_id << " (#" << j.event_seq << ")"
            << "  attempts=" << j.attempts
            << "  failed_at=" << format_rfc3339(j.failed_at) << "\n    "
            << j.last_error << '\n';
}

} // namespace

int run_jobs(const std::vector<std::string>& args) {
  auto a = cli::parse_args(args, {"--queue", "--after", "--limit"}, {"--json"});
  if (!a) {
    std::cerr << "switchboard jobs: " << a.error() << '\n';
    return 2;
  }
  if (a->common.help) {
    std::cout << jobs_usage;
    return 0;
  }
  const auto& rest = a->common.rest;
  if (rest.empty()) {
    std::cerr << "switchboard jobs: expected failed, retry <id> or forget <id>"
              << "\n\n"
              << jobs_usage;
    return 2;
  }
  const auto& mode = rest[0];
  if (mode == "failed") {
    if (rest.size() > 1) {
      std::cerr << "switchboard jobs: unexpected argument " << rest[1] << '\n';
      return 2;
    }
    std::uint64_t after = 0;
    std::uint64_t limit = 1000;
    for (auto [flag, out] :
         {std::pair{"--after", &after}, {"--limit", &limit}}) {
      if (auto i = a->values.find(flag); i != a->values.end()) {
        auto n = cli::to_uint(flag, i->second);
        if (!n) {
          std::cerr << "switchboard jobs: " << n.error() << '\n';
          return 2;
        }
        *out = *n;
      }
    }
    std::string queue;
    if (auto i = a->values.find("--queue"); i != a->values.end())
      queue = i->second;
    auto st = cli::open_store("jobs", a->common);
    if (!st)
      return 1;
    auto got
        = st->jobs->list_failed(queue, after, static_cast<std::size_t>(limit));
    if (!got) {
      std::cerr << "switchboard jobs: " << store::to_string(got.error())
                << '\n';
      return 1;
    }
    bool json = a->switches.count("--json") > 0;
    for (const auto& j : *got)
      print_job(j, json);
    if (!json)
      std::cout << got->size() << " failed job(s)\n";
    return 0;
  }
  if (mode == "retry" || mode == "forget") {
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
