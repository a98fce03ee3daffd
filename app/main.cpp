// The switchboard executable: the daemon and its command-line tools.

#include <iostream>
#include <string>
#include <vector>

#include <app/cli.hpp>
#include <app/tenant_cli.hpp>

namespace {

constexpr const char* usage = R"(usage: switchboard <command> [options]

commands:
  serve     run the daemon until SIGTERM (reads ./config.ini when present)
  config    show or check the effective configuration
  tenant    add companies and API tokens, list them
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
  if (cmd == "tenant")
    return run_tenant(args);
  if (cmd == "version" || cmd == "--version") {
    std::cout << "switchboard " << SWITCHBOARD_VERSION << '\n';
    return 0;
  }
  std::cerr << "switchboard: unknown command " << cmd << "\n\n" << usage;
  return 2;
}
