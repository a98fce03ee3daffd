// `switchboard events` and `switchboard outbox`: read the log and the
// message outbox.

#include <algorithm>
#include <iterator>

#include <boost/json.hpp>

#include <app/analytics.hpp>
#include <app/cli_common.hpp>
#include <app/job_json.hpp>
#include <messages/cloudevents.hpp>
#include <messages/registry.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/outbox.hpp>
#include <store/projections.hpp>
#include <store/tenants.hpp>

namespace switchboard::app {

namespace {

constexpr const char* events_usage
    = R"(usage: switchboard events [--type T] [--aggregate TYPE/ID --company C]
                          [--after SEQ] [--limit N] [--json] [--config FILE]
                          [--set section.key=value]...

Lists stored events in sequence order (of one stream: in version order).
  --type T             only events of type T (e.g. appointment.created)
  --aggregate TYPE/ID  only the stream of one aggregate (e.g. customer/cu1)
                       of company C (ids are per company)
  --after SEQ          only events with a global sequence above SEQ
  --limit N            at most N events (default 100)
  --json               one CloudEvents 1.0 JSON object per line
Reads the store while the daemon runs (LMDB readers take no lock).
)";

constexpr const char* analytics_usage
    = R"(usage: switchboard analytics COMPANY [--json] [--config FILE]
                          [--set section.key=value]...

Shows a company's analytics (the UpdateAnalytics counters), as
GET /api/analytics does: appointments by day, service, staff, branch and
source with value and lead time; calls by sentiment; customers by source.
  --json   the report as one JSON object
)";

constexpr const char* outbox_usage
    = R"(usage: switchboard outbox [--channel C] [--after ID] [--limit N] [--json]
                          [--config FILE] [--set section.key=value]...

Lists the messages in the LMDB outbox (where messages go with no provider
configured for their channel, and those Twilio took, with their SID and
delivery status), oldest first.
  --channel C   only sms, email, whatsapp, calcom or crm
  --after ID    only messages with an id above ID
  --limit N     at most N messages (default 100)
  --json        one JSON object per line
)";

/// The arguments of a listing tool, with its --after and --limit.
struct listing_args : cli::parsed_args {
  std::uint64_t after = 0;
  std::uint64_t limit = 100;
};

/// `cli::parse_tool_args` for listing tool `cmd`: its `value_flags`,
/// --after, --limit and --json. Returns the arguments, or the exit status
/// when the tool is done.
expected<listing_args, int>
parse_listing_args(const std::string& cmd, const char* usage,
                   const std::vector<std::string>& args,
                   std::set<std::string> value_flags) {
  value_flags.insert({"--after", "--limit"});
  auto a
      = cli::parse_tool_args(cmd, usage, args, value_flags, {"--json"}, false);
  if (!a)
    return make_unexpected(a.error());
  listing_args out;
  static_cast<cli::parsed_args&>(out) = std::move(*a);
  if (!cli::read_uints(cmd, out,
                       {{"--after", &out.after}, {"--limit", &out.limit}}))
    return make_unexpected(2);
  return out;
}

/// Prints `rows`, one a line: with --json each as `to_json` makes it,
/// else as `print` writes it, then their count (`counted`, e.g.
/// "event(s)").
template <class Rows, class ToJson, class Print>
void print_rows(const cli::parsed_args& a, const Rows& rows, ToJson to_json,
                Print print, const char* counted) {
  bool json = a.switches.count("--json") > 0;
  for (const auto& row : rows) {
    if (json)
      std::cout << boost::json::serialize(to_json(row)) << '\n';
    else
      print(row);
  }
  if (!json)
    std::cout << rows.size() << ' ' << counted << '\n';
}

} // namespace

int run_events(const std::vector<std::string>& args) {
  auto a = parse_listing_args("events", events_usage, args,
                              {"--type", "--aggregate", "--company"});
  if (!a)
    return a.error();
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
  std::string company;
  if (auto i = a->values.find("--company"); i != a->values.end())
    company = i->second;
  if (company.empty() != agg_type.empty()) {
    std::cerr << "switchboard events: --aggregate and --company go together "
                 "(ids are per company)\n";
    return 2;
  }
  std::string type;
  if (auto i = a->values.find("--type"); i != a->values.end()) {
    type = i->second;
    if (find_event_type(type) == nullptr) {
      std::vector<std::string_view> known;
      for (const auto& info : all_event_types())
        known.push_back(info.wire_name);
      return cli::unknown_value("events", "--type", "event type", type, known);
    }
  }
  auto known_aggregate = [](const std::string& t) {
    const auto& all = all_event_types();
    return std::any_of(all.begin(), all.end(), [&t](const auto& info) {
      return info.aggregate_type == t;
    });
  };
  if (!agg_type.empty() && !known_aggregate(agg_type))
    return cli::unknown_value("events", "--aggregate", "aggregate type",
                              agg_type);
  auto st = cli::open_store("events", a->common);
  if (!st)
    return 1;
  auto max = static_cast<std::size_t>(a->limit);
  store::result<std::vector<envelope>> got{std::vector<envelope>{}};
  if (!agg_type.empty()) {
    got = st->events->read_stream(company, agg_type, agg_id, 1, 1000000);
    if (got) {
      std::vector<envelope> kept;
      for (auto& e : *got)
        if (e.sequence > a->after && (type.empty() || e.type == type)
            && kept.size() < max)
          kept.push_back(std::move(e));
      got = std::move(kept);
    }
  } else if (!type.empty()) {
    got = st->events->read_by(store::event_index::type, type, a->after + 1,
                              max);
  } else {
    got = st->events->read_all(a->after + 1, max);
  }
  if (!got) {
    std::cerr << "switchboard events: " << store::to_string(got.error())
              << '\n';
    return 1;
  }
  print_rows(
      *a, *got,
      [](const envelope& e) {
        return to_cloudevent(e);
      },
      [](const envelope& e) {
        std::cout << e.sequence << "  " << format_rfc3339(e.occurred_at) << "  "
                  << e.type << "  " << e.aggregate_type << '/' << e.aggregate_id
                  << " v" << e.version << "  id=" << e.id;
        if (!e.company_id.empty())
          std::cout << "  company=" << e.company_id;
        std::cout << '\n';
      },
      "event(s)");
  return 0;
}

int run_outbox(const std::vector<std::string>& args) {
  auto a = parse_listing_args("outbox", outbox_usage, args, {"--channel"});
  if (!a)
    return a.error();
  std::string channel;
  if (auto i = a->values.find("--channel"); i != a->values.end()) {
    channel = i->second;
    static constexpr std::string_view channels[]
        = {"sms", "email", "whatsapp", "calcom", "crm"};
    if (std::find(std::begin(channels), std::end(channels), channel)
        == std::end(channels))
      return cli::unknown_value("outbox", "--channel", "channel", channel,
                                {std::begin(channels), std::end(channels)});
  }
  auto st = cli::open_store("outbox", a->common);
  if (!st)
    return 1;
  auto got
      = st->outbox->list(a->after, static_cast<std::size_t>(a->limit), channel);
  if (!got) {
    std::cerr << "switchboard outbox: " << store::to_string(got.error())
              << '\n';
    return 1;
  }
  // --json: as GET /api/outbox lists them.
  print_rows(
      *a, *got, outbox_entry_to_json,
      [](const store::outbound_message& m) {
        std::cout << m.id << "  " << format_rfc3339(m.created_at) << "  "
                  << m.channel << "  to=" << m.recipient
                  << "  key=" << m.idempotency_key;
        if (!m.provider.empty())
          std::cout << "  " << m.provider << "=" << m.provider_id
                    << "  status=" << m.status
                    << (m.status_error.empty() ? ""
                                               : " error=" + m.status_error);
        std::cout << "\n    " << m.body << '\n';
      },
      "message(s)");
  return 0;
}

int run_analytics(const std::vector<std::string>& args) {
  auto a = cli::parse_tool_args("analytics", analytics_usage, args, {},
                                {"--json"}, true, "expects one company id\n");
  if (!a)
    return a.error();
  const auto& company = a->common.rest[0];
  auto st = cli::open_store("analytics", a->common);
  if (!st)
    return 1;
  auto tenants = store::tenants::open(*st->env);
  if (!tenants) {
    std::cerr << "switchboard analytics: " << store::to_string(tenants.error())
              << '\n';
    return 1;
  }
  if (auto known = (*tenants)->company(company); !known) {
    std::cerr << "switchboard analytics: no company " << company << '\n';
    return 1;
  }
  auto report = analytics_report(*st->projections, company);
  if (!report) {
    std::cerr << "switchboard analytics: " << store::to_string(report.error())
              << '\n';
    return 1;
  }
  if (a->switches.count("--json") > 0) {
    std::cout << boost::json::serialize(*report) << '\n';
    return 0;
  }
  // One line per figure: "appointments.by_service.s1  3".
  for (const auto& [section, body] : *report) {
    for (const auto& [name, value] : body.as_object()) {
      if (value.is_object()) {
        for (const auto& [key, n] : value.as_object())
          std::cout << section << '.' << name << '.' << key << "  "
                    << boost::json::serialize(n) << '\n';
      } else {
        std::cout << section << '.' << name << "  "
                  << boost::json::serialize(value) << '\n';
      }
    }
  }
  return 0;
}

} // namespace switchboard::app
