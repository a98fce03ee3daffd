// `switchboard tenant`: companies and their API tokens.

#include "app/tenant_cli.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <utility>

#include <actors/calcom.hpp>
#include <actors/retell.hpp>
#include <app/cli.hpp>
#include <app/store_options.hpp>
#include <messages/time.hpp>
#include <messages/time_zone.hpp>
#include <store/tenants.hpp>

namespace switchboard::app {

namespace {

/// Milliseconds of a duration such as "3600s", "90m", "12h", "30d" (a bare
/// number: seconds); 0 or less when malformed.
std::int64_t parse_duration_ms(const std::string& text) {
  if (text.empty())
    return 0;
  static constexpr std::pair<char, std::int64_t> units[]{
      {'s', 1000}, {'m', 60 * 1000}, {'h', 3600 * 1000}, {'d', 86400 * 1000}};
  std::int64_t unit = 1000;
  auto digits = text;
  for (auto [suffix, ms] : units) {
    if (text.back() == suffix) {
      unit = ms;
      digits.pop_back();
    }
  }
  if (digits.empty() || digits.size() > 9
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoll(digits) * unit;
}

/// `tenant calcom|retell <company-id> [FILE]`: without FILE prints the
/// company's settings `key` (`current` when none are stored); with FILE
/// ("-": stdin) sets them. `parse(text, current)` reads settings, `stored`
/// and `shown` write them; `label` names them.
template <class Settings, class Parse, class Stored, class Shown>
int settings_command(store::tenants& tenants, const std::string& cmd,
                     const std::string& id, const std::string& file,
                     const char* key, const char* label, Settings current,
                     Parse parse, Stored stored, Shown shown) {
  auto prefix = "switchboard tenant " + cmd + ": ";
  if (auto c = tenants.company(id); !c) {
    std::cerr << prefix << c.error().message << '\n';
    return 1;
  }
  if (auto text = tenants.setting(id, key))
    if (auto s = parse(*text, current))
      current = *s;
  if (file.empty()) {
    std::cout << shown(current) << '\n';
    return 0;
  }
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>{std::cin}, {});
  } else {
    std::ifstream in{file};
    if (!in) {
      std::cerr << prefix << "cannot read " << file << '\n';
      return 2;
    }
    text.assign(std::istreambuf_iterator<char>{in}, {});
  }
  auto parsed = parse(text, current);
  if (!parsed) {
    for (const auto& [field, what] : parsed.error())
      std::cerr << prefix << field << ": " << what << '\n';
    return 2;
  }
  if (auto r = tenants.set_setting(id, key, stored(*parsed)); !r) {
    std::cerr << prefix << r.error().message << '\n';
    return 1;
  }
  std::cerr << "company " << id << ": " << label << " settings set\n";
  std::cout << shown(*parsed) << '\n';
  return 0;
}

constexpr const char* tenant_usage
    = R"(usage: switchboard tenant <command> [options] [--config FILE] [--set k=v]...

commands:
  add <company-id> [--name NAME] [--time-zone ZONE] [--admin] [--create]
        add a company and print a new API token for it (on stdout, alone;
        --admin makes it an admin token; --create makes a new store when
        there is none at [store] path, which is otherwise an error;
        --time-zone: see time-zone)
  time-zone <company-id> ZONE
        set the IANA time zone (e.g. Europe/Berlin; default UTC) in which
        the company's working hours are read, availability is offered and
        customers are told times
  token <company-id> [--admin] [--user USER] [--expires-in T]
        print another new token for an existing company (add takes
        --user and --expires-in too)
  tokens <company-id>
        list the company's tokens: hash prefix, user, admin, expiry
  calcom <company-id> [FILE]
        set the company's Cal.com settings from a JSON file ("-": stdin),
        the body of PUT /api/integrations/calcom: {"secret": "...",
        "event_types": {"<event type id>": "<service id>"}, "hosts":
        {"<host email>": "<staff id>"}}; a body without "secret" keeps the
        one set before. Without FILE, prints them (the secret as ***)
  retell <company-id> [FILE]
        set which keys of Retell's custom_analysis_data fill the
        appointment request, from a JSON file ("-": stdin), the body of
        PUT /api/integrations/retell: {"fields": {"service_id": "service",
        ...}} (fields not named read the key of their own name). Without
        FILE, prints them
  revoke <token-or-hash-prefix>
        delete a token (the token itself, or at least 8 hex digits of the
        hash prefix `tokens` shows); a running daemon refuses it at once
  list  list the companies and their tokens (hash prefixes only)

--user USER names who the token acts for: the user of the audit records
of its requests (X-User-Id headers are not trusted). --expires-in T makes
the token stop working after T (e.g. 3600s, 90m, 12h, 30d).

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
  std::string zone;
  std::string expires_in;
  store::token_options token_opts;
  bool create = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    std::string* value = nullptr;
    for (auto [f, slot] :
         {std::pair{"--name", &name}, std::pair{"--user", &token_opts.user_id},
          std::pair{"--expires-in", &expires_in},
          std::pair{"--time-zone", &zone}}) {
      if (a == f) {
        if (i + 1 >= args.size()) {
          std::cerr << "switchboard tenant: " << f << " needs a value\n";
          return 2;
        }
        value = slot;
        *value = args[++i];
      } else if (a.rfind(std::string{f} + "=", 0) == 0) {
        value = slot;
        *value = a.substr(std::string{f}.size() + 1);
      }
    }
    if (value != nullptr)
      continue;
    if (a == "--admin")
      token_opts.admin = true;
    else if (a == "--create")
      create = true;
    else
      rest.push_back(a);
  }
  bool admin = token_opts.admin;
  if (!expires_in.empty()) {
    auto ms = parse_duration_ms(expires_in);
    if (ms <= 0) {
      std::cerr << "switchboard tenant: --expires-in expects a duration "
                   "such as 3600s, 90m, 12h or 30d\n";
      return 2;
    }
    token_opts.expires_at = now_ms() + ms;
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
  auto wants_id = cmd == "add" || cmd == "token" || cmd == "tokens"
                  || cmd == "revoke" || cmd == "time-zone" || cmd == "calcom"
                  || cmd == "retell";
  std::string settings_file;
  if ((cmd == "calcom" || cmd == "retell") && flags->rest.size() == 3) {
    settings_file = flags->rest[2];
    flags->rest.pop_back();
  }
  if (cmd == "time-zone" && flags->rest.size() == 3) {
    zone = flags->rest[2];
    flags->rest.pop_back();
  }
  if (!zone.empty())
    if (auto tz = time_zone::load(zone); !tz) {
      std::cerr << "switchboard tenant: --time-zone: " << tz.error() << '\n';
      return 2;
    }
  if (!wants_id && cmd != "list") {
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
                    << (tk.admin ? "  admin" : "")
                    << (tk.user_id.empty() ? "" : "  user=" + tk.user_id)
                    << "  " << format_rfc3339(tk.created_at) << '\n';
    }
    return 0;
  }
  const auto& id = flags->rest[1];
  if (cmd == "revoke") {
    auto n = tenants.revoke(id);
    if (!n) {
      std::cerr << "switchboard tenant revoke: " << n.error().message << '\n';
      return 1;
    }
    std::cerr << "revoked " << *n << " token(s)\n";
    return 0;
  }
  if (cmd == "tokens") {
    if (auto c = tenants.company(id); !c) {
      std::cerr << "switchboard tenant tokens: " << c.error().message << '\n';
      return 1;
    }
    auto ts = tenants.tokens(id);
    if (!ts) {
      std::cerr << "switchboard tenant tokens: " << ts.error().message << '\n';
      return 1;
    }
    for (const auto& tk : *ts)
      std::cout << tk.hash_prefix
                << "  user=" << (tk.user_id.empty() ? "-" : tk.user_id)
                << (tk.admin ? "  admin" : "")
                << "  created=" << format_rfc3339(tk.created_at) << "  expires="
                << (tk.expires_at == 0 ? std::string{"never"}
                                       : format_rfc3339(tk.expires_at))
                << (tk.expires_at != 0 && tk.expires_at <= now ? "  (expired)"
                                                               : "")
                << '\n';
    return 0;
  }
  if (cmd == "retell")
    return settings_command(
        tenants, cmd, id, settings_file, retell_setting, "Retell",
        retell_settings::defaults(),
        [](const std::string& text, const retell_settings&) {
          return parse_retell_settings(text);
        },
        retell_json, retell_json);
  if (cmd == "calcom")
    return settings_command(
        tenants, cmd, id, settings_file, calcom_setting, "Cal.com",
        calcom_settings{},
        [](const std::string& text, const calcom_settings& keep) {
          return parse_calcom_settings(text, keep);
        },
        to_stored_json, to_public_json);
  if (cmd == "time-zone") {
    if (zone.empty()) {
      std::cerr << "switchboard tenant time-zone: expects a company id and a "
                   "zone such as Europe/Berlin\n";
      return 2;
    }
    if (auto r = tenants.set_time_zone(id, zone); !r) {
      std::cerr << "switchboard tenant time-zone: " << r.error().message
                << '\n';
      return 1;
    }
    std::cerr << "company " << id << " is in time zone " << zone << '\n';
    return 0;
  }
  if (cmd == "add") {
    store::company_record c{id, name, now, zone};
    if (auto r = tenants.add_company(c); !r) {
      std::cerr << "switchboard tenant add: " << r.error().message << '\n';
      return 1;
    }
  }
  auto token = tenants.issue_token(id, token_opts, now);
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
