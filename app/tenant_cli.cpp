// `switchboard tenant`: companies and their API tokens.

#include "app/tenant_cli.hpp"

#include <iostream>

#include <app/cli.hpp>
#include <app/store_options.hpp>
#include <messages/time.hpp>
#include <store/tenants.hpp>

namespace switchboard::app {

namespace {

constexpr const char* tenant_usage
    = R"(usage: switchboard tenant <command> [options] [--config FILE] [--set k=v]...

commands:
  add <company-id> [--name NAME] [--admin] [--create]
        add a company and print a new API token for it (on stdout, alone;
        --admin makes it an admin token; --create makes a new store when
        there is none at [store] path, which is otherwise an error)
  token <company-id> [--admin]
        print another new token for an existing company
  list  list the companies and their tokens (hash prefixes only)

Reads the configuration as `switchboard serve` does (--config FILE, else
$SWITCHBOARD_CONFIG, else ./config.ini) and names the store it uses on
stderr. Tokens are shown once: only their SHA-256 is stored. Works while
the daemon runs: each change is a short LMDB write transaction of its
own, and the daemon's token lookups are cached per LMDB snapshot, so the
next request sees it.
)";

} // namespace

int run_tenant(const std::vector<std::string>& args) {
  // Options of this command first; the rest are the common flags.
  std::vector<std::string> rest;
  std::string name;
  bool admin = false;
  bool create = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--admin") {
      admin = true;
    } else if (a == "--create") {
      create = true;
    } else if (a == "--name") {
      if (i + 1 >= args.size()) {
        std::cerr << "switchboard tenant: --name needs a value\n";
        return 2;
      }
      name = args[++i];
    } else if (a.rfind("--name=", 0) == 0) {
      name = a.substr(7);
    } else {
      rest.push_back(a);
    }
  }
  auto flags = parse_common_flags(rest);
  if (!flags) {
    std::cerr << "switchboard tenant: " << flags.error() << '\n';
    return 2;
  }
  if (flags->help || flags->rest.empty()) {
    std::cout << tenant_usage;
    return flags->help ? 0 : 2;
  }
  const auto& cmd = flags->rest[0];
  auto wants_id = cmd == "add" || cmd == "token";
  if (cmd != "add" && cmd != "token" && cmd != "list") {
    std::cerr << "switchboard tenant: unknown command " << cmd << "\n\n"
              << tenant_usage;
    return 2;
  }
  if (flags->rest.size() != (wants_id ? 2u : 1u)) {
    std::cerr << "switchboard tenant " << cmd
              << (wants_id ? ": expects one company id\n"
                           : ": expects no arguments\n");
    return 2;
  }
  if (create && cmd != "add") {
    std::cerr << "switchboard tenant " << cmd
              << ": --create is for tenant add only\n";
    return 2;
  }
  // The store the daemon uses, named on stderr; a new one only when asked.
  auto where = locate_store("tenant " + cmd, *flags, create);
  if (!where)
    return where.error();
  auto opts = store_options(where->cfg);
  opts.path = where->path;
  auto env = store::environment::open(opts);
  if (!env) {
    std::cerr << "switchboard tenant: cannot open the store: "
              << store::to_string(env.error()) << '\n';
    return 1;
  }
  auto t = store::tenants::open(**env);
  if (!t) {
    std::cerr << "switchboard tenant: " << store::to_string(t.error()) << '\n';
    return 1;
  }
  auto& tenants = **t;
  auto now = now_ms();
  if (cmd == "list") {
    auto cs = tenants.companies();
    auto ts = tenants.tokens();
    if (!cs || !ts) {
      std::cerr << "switchboard tenant: "
                << store::to_string(!cs ? cs.error() : ts.error()) << '\n';
      return 1;
    }
    for (const auto& c : *cs) {
      std::cout << c.id << "  " << (c.name.empty() ? "-" : c.name) << "  "
                << format_rfc3339(c.created_at) << '\n';
      for (const auto& tk : *ts)
        if (tk.company_id == c.id)
          std::cout << "  token " << tk.hash_prefix << "…"
                    << (tk.admin ? "  admin" : "") << "  "
                    << format_rfc3339(tk.created_at) << '\n';
    }
    return 0;
  }
  const auto& id = flags->rest[1];
  if (cmd == "add") {
    store::company_record c{id, name, now};
    if (auto r = tenants.add_company(c); !r) {
      std::cerr << "switchboard tenant add: " << r.error().message << '\n';
      return 1;
    }
  }
  auto token = tenants.issue_token(id, admin, now);
  if (!token) {
    std::cerr << "switchboard tenant " << cmd << ": " << token.error().message
              << '\n';
    return 1;
  }
  std::cerr << (cmd == "add" ? "added company " : "new token for company ")
            << id << (admin ? " (admin token)" : "")
            << "; the token is shown only now:\n";
  std::cout << *token << std::endl;
  return 0;
}

} // namespace switchboard::app
