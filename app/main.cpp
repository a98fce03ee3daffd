// The switchboard executable: the daemon and its command-line tools.

#include <iostream>
#include <string>
#include <vector>

#include <app/cli.hpp>
#include <app/cli_tools.hpp>
#include <app/tenant_cli.hpp>

namespace {

constexpr const char* usage = R"(usage: switchboard <command> [options]

commands:
  serve     run the daemon until SIGTERM (reads ./config.ini when present)
  config    show or check the effective configuration
  events    list stored events (by type, aggregate, sequence)
  jobs      list failed jobs, retry or forget one
  replay    rebuild a projection from the event log (analytics)
  check     check the consistency of the store
  import    load history from CloudEvents or Laravel event_store files
  outbox    list the messages in the outbox
  analytics show a company's analytics
  top       tiles and queue table, refreshing (the dashboard in a terminal)
  tenant    add companies and API tokens, list them
  cluster   the members of the cluster, what each owns; moves companies
  version   print the version
  help      print this text

Run `switchboard <command> --help` for the options of a command.
)";

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help"
      || args[0] == "-h") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  auto cmd = args[0];
  args.erase(args.begin());
  using namespace switchboard::app;
  if (cmd == "serve")
    return run_serve(args);
  if (cmd == "config")
    return run_config(args);
  if (cmd == "events")
    return run_events(args);
  if (cmd == "jobs")
    return run_jobs(args);
  if (cmd == "replay")
    return run_replay(args);
  if (cmd == "check")
    return run_check(args);
  if (cmd == "import")
    return run_import(args);
  if (cmd == "outbox")
    return run_outbox(args);
  if (cmd == "analytics")
    return run_analytics(args);
  if (cmd == "top")
    return run_top(args);
  if (cmd == "tenant")
    return run_tenant(args);
  if (cmd == "cluster")
    return run_cluster(args);
  if (cmd == "version" || cmd == "--version") {
    std::cout << "switchboard " << SWITCHBOARD_VERSION << '\n';
    return 0;
  }
  std::cerr << "switchboard: unknown command " << cmd << "\n\n" << usage;
  return 2;
}
