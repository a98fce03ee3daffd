// `switchboard events` and `switchboard outbox`: read the log and the
// message outbox.

#include <boost/json.hpp>

#include <app/cli_common.hpp>
#include <messages/cloudevents.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/outbox.hpp>

namespace switchboard::app {

namespace {

constexpr const char* events_usage
    = R"(usage: switchboard events [--type T] [--aggregate TYPE/ID] [--after SEQ]
                          [--limit N] [--json] [--config FILE]
                          [--set section.key=value]...

Lists stored events in sequence order (of one stream: in version order).
  --type T             only events of type T (e.g. appointment.created)
  --aggregate TYPE/ID  only the stream of one aggregate (e.g. customer/cu1)
  --after SEQ          only events with a global sequence above SEQ
  --limit N            at most N events (default 100)
  --json               one CloudEvents 1.0 JSON object per line
Reads the store while the daemon runs (LMDB readers take no lock).
)";

constexpr const char* outbox_usage
    = R"(usage: switchboard outbox [--channel C] [--after ID] [--limit N] [--json]
                          [--config FILE] [--set section.key=value]...

Lists the messages in the LMDB outbox (where messages go with no provider
configured for their channel), oldest first.
  --channel C   only sms, email, whatsapp, calcom or crm
  --after ID    only messages with an id above ID
  --limit N     at most N messages (default 100)
  --json        one JSON object per line
)";

} // namespace

int run_events(const std::vector<std::string>& args) {
  auto a = cli::parse_args(
      args, {"--type", "--aggregate", "--after", "--limit"}, {"--json"});
  if (!a) {
    std::cerr << "switchboard events: " << a.error() << '\n';
    return 2;
  }
  if (a->common.help) {
    std::cout << events_usage;
    return 0;
  }
  if (!a->common.rest.empty()) {
    std::cerr << "switchboard events: unexpected argument " << a->common.rest[0]
              << '\n';
    return 2;
  }
  std::uint64_t after = 0;
  std::uint64_t limit = 100;
  for (auto [flag, out] : {std::pair{"--after", &after}, {"--limit", &limit}}) {
    if (auto i = a->values.find(flag); i != a->values.end()) {
      auto n = cli::to_uint(flag, i->second);
      if (!n) {
        std::cerr << "switchboard events: " << n.error() << '\n';
        return 2;
      }
      *out = *n;
    }
  }
  std::string agg_type, agg_id;
  if (auto i = a->values.find("--aggregate"); i != a->values.end()) {
    auto slash = i->second.find('/');
    if (slash == std::string::npos || slash == 0
        || slash + 1 == i->second.size()) {
      std::cerr << "switchboard events: --aggregate expects TYPE/ID, got \""
                << i->second << "\"\n";
      return 2;
    }
    agg_type = i->second.substr(0, slash);
    agg_id = i->second.substr(slash + 1);
  }
  auto st = cli::open_store("events", a->common);
  if (!st)
    return 1;
  auto max = static_cast<std::size_t>(limit);
  store::result<std::vector<envelope>> got{std::vector<envelope>{}};
  std::string type;
  if (auto i = a->values.find("--type"); i != a->values.end())
    type = i->second;
  if (!agg_type.empty()) {
    got = st->events->read_stream(agg_type, agg_id, 1, 1000000);
    if (got) {
      std::vector<envelope> kept;
      for (auto& e : *got)
        if (e.sequence > after && (type.empty() || e.type == type)
            && kept.size() < max)
          kept.push_back(std::move(e));
      got = std::move(kept);
    }
  } else if (!type.empty()) {
    got = st->events->read_by_type(type, after + 1, max);
  } else {
    got = st->events->read_all(after + 1, max);
  }
  if (!got) {
    std::cerr << "switchboard events: " << store::to_string(got.error())
              << '\n';
    return 1;
  }
  bool json = a->switches.count("--json") > 0;
  for (const auto& e : *got) {
    if (json) {
      std::cout << boost::json::serialize(to_cloudevent(e)) << '\n';
      continue;
    }
    std::cout << e.sequence << "  " << format_rfc3339(e.occurred_at) << "  "
              << e.type << "  " << e.aggregate_type << '/' << e.aggregate_id
              << " v" << e.version << "  id=" << e.id;
    if (!e.company_id.empty())
      std::cout << "  company=" << e.company_id;
    std::cout << '\n';
  }
  if (!json)
    std::cout << got->size() << " event(s)\n";
  return 0;
}

int run_outbox(const std::vector<std::string>& args) {
  auto a
      = cli::parse_args(args, {"--channel", "--after", "--limit"}, {"--json"});
  if (!a) {
    std::cerr << "switchboard outbox: " << a.error() << '\n';
    return 2;
  }
  if (a->common.help) {
    std::cout << outbox_usage;
    return 0;
  }
  if (!a->common.rest.empty()) {
    std::cerr << "switchboard outbox: unexpected argument " << a->common.rest[0]
              << '\n';
    return 2;
  }
  std::uint64_t after = 0;
  std::uint64_t limit = 100;
  for (auto [flag, out] : {std::pair{"--after", &after}, {"--limit", &limit}}) {
    if (auto i = a->values.find(flag); i != a->values.end()) {
      auto n = cli::to_uint(flag, i->second);
      if (!n) {
        std::cerr << "switchboard outbox: " << n.error() << '\n';
        return 2;
      }
      *out = *n;
    }
  }
  std::string channel;
  if (auto i = a->values.find("--channel"); i != a->values.end())
    channel = i->second;
  auto st = cli::open_store("outbox", a->common);
  if (!st)
    return 1;
  auto got = st->outbox->list(after, static_cast<std::size_t>(limit), channel);
  if (!got) {
    std::cerr << "switchboard outbox: " << store::to_string(got.error())
              << '\n';
    return 1;
  }
  bool json = a->switches.count("--json") > 0;
  for (const auto& m : *got) {
    if (json) {
      boost::json::object o{{"id", m.id},
                            {"channel", m.channel},
                            {"recipient", m.recipient},
                            {"subject", m.subject},
                            {"body", m.body},
                            {"company_id", m.company_id},
                            {"event_id", m.event_id},
                            {"idempotency_key", m.idempotency_key},
                            {"created_at", format_rfc3339(m.created_at)}};
      std::cout << boost::json::serialize(o) << '\n';
      continue;
    }
    std::cout << m.id << "  " << format_rfc3339(m.created_at) << "  "
              << m.channel << "  to=" << m.recipient
              << "  key=" << m.idempotency_key << "\n    " << m.body << '\n';
  }
  if (!json)
    std::cout << got->size() << " message(s)\n";
  return 0;
}

} // namespace switchboard::app
