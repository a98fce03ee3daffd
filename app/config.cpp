#include "app/config.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace switchboard::app {

namespace {

using ot = option_type;

std::string_view trim(std::string_view s) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

/// The options of a `[listener.NAME]` section (`listener.NAME.field`).
const option_spec* listener_field_spec(std::string_view key) {
  using ot = option_type;
  static const std::vector<option_spec> fields = {
      {"tries",
       ot::integer,
       "",
       "most attempts of the listener's jobs (0: unlimited)",
       {},
       0,
       1000000},
      {"backoff_ms", ot::string, "",
       "milliseconds before each retry, comma-separated; the last repeats"},
      {"delay_ms",
       ot::integer,
       "",
       "milliseconds between the event and the first attempt",
       {},
       0,
       2592000000},
      {"timeout_ms",
       ot::integer,
       "",
       "milliseconds one attempt may run",
       {},
       1,
       86400000},
  };
  constexpr std::string_view prefix = "listener.";
  if (key.substr(0, prefix.size()) != prefix)
    return nullptr;
  auto dot = key.rfind('.');
  if (dot <= prefix.size())
    return nullptr; // no listener name
  auto field = key.substr(dot + 1);
  for (const auto& f : fields)
    if (f.key == field)
      return &f;
  return nullptr;
}

const option_spec* find_spec(std::string_view key) {
  for (const auto& spec : option_specs())
    if (spec.key == key)
      return &spec;
  return listener_field_spec(key);
}

bool parse_int(std::string_view text, std::int64_t& out) {
  auto first = text.data();
  auto last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc{} && ptr == last && !text.empty();
}

/// Checks `value` against the spec; returns an error message or "".
std::string check_value(const option_spec& spec, std::string_view value) {
  switch (spec.type) {
  case ot::string:
    return {};
  case ot::integer: {
    std::int64_t n = 0;
    if (!parse_int(value, n))
      return "expects an integer, got \"" + std::string{value} + "\"";
    if (n < spec.min || n > spec.max)
      return "must be between " + std::to_string(spec.min) + " and "
             + std::to_string(spec.max) + ", got " + std::string{value};
    return {};
  }
  case ot::boolean:
    if (value == "true" || value == "false")
      return {};
    return "expects true or false, got \"" + std::string{value} + "\"";
  case ot::choice: {
    if (std::find(spec.choices.begin(), spec.choices.end(), value)
        != spec.choices.end())
      return {};
    std::string msg = "expects one of";
    for (auto c : spec.choices)
      msg.append(" ").append(c);
    return msg + ", got \"" + std::string{value} + "\"";
  }
  }
  return {};
}

std::string unquote(std::string_view v) {
  if (v.size() >= 2
      && ((v.front() == '"' && v.back() == '"')
          || (v.front() == '\'' && v.back() == '\'')))
    return std::string{v.substr(1, v.size() - 2)};
  return std::string{v};
}

} // namespace

const std::vector<option_spec>& option_specs() {
  static const std::vector<option_spec> specs = {
      {"store.path", ot::string, "./data",
       "directory of the LMDB environment (created when missing)"},
      {"store.map_size_mb",
       ot::integer,
       "1024",
       "initial LMDB map size in MiB; grows on demand up to max_map_size_mb",
       {},
       1,
       1 << 24},
      {"store.max_map_size_mb",
       ot::integer,
       "65536",
       "largest the map may grow to, in MiB; past it appends fail cleanly",
       {},
       1,
       1 << 24},
      {"store.sync",
       ot::choice,
       "full",
       "full: fsync before acknowledging; no_meta_sync: skip the meta page "
       "sync (last commit may roll back on power loss); none: no fsync",
       {"full", "no_meta_sync", "none"}},
      {"store.max_batch",
       ot::integer,
       "1024",
       "most request writes committed together in one transaction (group "
       "commit), and most queue writes when no request waits",
       {},
       1,
       1 << 20},
      {"store.background_ops_per_commit",
       ot::integer,
       "4",
       "most queue operations (leases, acks, listener effects) a commit "
       "takes besides the requests' writes waiting (at most max_batch "
       "counts); 0: no lanes, every write first come first served",
       {},
       0,
       1 << 20},
      {"store.background_group",
       ot::integer,
       "256",
       "most queue operations (listener effects, most of all) grouped into "
       "one of those places, each in its own nested transaction with its "
       "own outcome; 0 or 1: no grouping",
       {},
       0,
       1 << 20},
      {"store.stream_index_batch",
       ot::integer,
       "65536",
       "stream index entries kept in memory before a flush cycle writes "
       "them to LMDB sorted (rebuilt from the log at open)",
       {},
       1,
       1 << 24},
      {"log.level",
       ot::choice,
       "info",
       "least severe level that is logged",
       {"trace", "debug", "info", "warn", "error", "off"}},
      {"log.format",
       ot::choice,
       "text",
       "text for people, json for one JSON object per line",
       {"text", "json"}},
      {"queues.notifications_concurrency",
       ot::integer,
       "256",
       "jobs of the notifications queue that run at once",
       {},
       1,
       4096},
      {"queues.analytics_concurrency",
       ot::integer,
       "256",
       "jobs of the analytics queue that run at once",
       {},
       1,
       4096},
      {"queues.default_concurrency",
       ot::integer,
       "256",
       "jobs of the default queue that run at once",
       {},
       1,
       4096},
      {"queues.max_lag_ms",
       ot::integer,
       "10000",
       "backpressure: while a company's oldest ready job has waited longer "
       "than this, its new bookings get 503 with Retry-After; 0: never",
       {},
       0,
       86400000},
      {"http.host", ot::string, "127.0.0.1",
       "address the HTTP gateway listens on"},
      {"http.port",
       ot::integer,
       "8080",
       "TCP port of the HTTP gateway (0: any free port, logged at start)",
       {},
       0,
       65535},
      {"http.threads",
       ot::integer,
       "2",
       "Asio threads of the HTTP gateway (they never block on an actor)",
       {},
       1,
       64},
      {"http.bridge_actors",
       ot::integer,
       "2",
       "actors that carry requests from the gateway into the runtime",
       {},
       1,
       64},
      {"http.read_threads",
       ot::integer,
       "2",
       "threads that run listings (GET /api/appointments, /api/events, ...) "
       "off the Asio threads, taking companies in turn",
       {},
       1,
       64},
      {"http.read_deadline_ms",
       ot::integer,
       "10000",
       "how long a listing may take, waiting for a thread included; past "
       "it the request gets 504",
       {},
       10,
       600000},
      {"http.body_limit_bytes",
       ot::integer,
       "1048576",
       "largest request body; larger ones get 413",
       {},
       1,
       1 << 30},
      {"http.header_limit_bytes",
       ot::integer,
       "16384",
       "largest request header; larger ones get 431",
       {},
       1024,
       1 << 20},
      {"http.read_timeout_ms",
       ot::integer,
       "30000",
       "idle keep-alive connections, and requests sent this slowly, are "
       "closed after this long",
       {},
       100,
       3600000},
      {"http.access_log_sample",
       ot::integer,
       "0",
       "access log (logger http.access): 0 off, 1 every request, N one "
       "request in N",
       {},
       0,
       1000000},
      {"http.max_connections",
       ot::integer,
       "1024",
       "open connections at most; more get 503 and are closed",
       {},
       1,
       1000000},
      {"http.trusted_proxies", ot::string, "",
       "comma-separated addresses of reverse proxies whose X-Forwarded-For "
       "is believed; empty: the socket peer's address is the client's"},
      {"http.shutdown_timeout_ms",
       ot::integer,
       "10000",
       "on SIGTERM, how long in-flight requests may take to finish",
       {},
       0,
       600000},
      {"aggregates.max_live",
       ot::integer,
       "10000",
       "most aggregate and calendar actors alive at once; past it the least "
       "recently used is passivated (rebuilt from the store when needed)",
       {},
       1,
       10000000},
      {"cache.max_bytes",
       ot::integer,
       "67108864",
       "most bytes the availability cache holds; past it the least recently "
       "used entries go (expired ones are swept every second)",
       {},
       4096,
       std::int64_t{1} << 40},
      {"limits.requests_per_second",
       ot::integer,
       "0",
       "requests per second one company may send (a bucket of one "
       "second's worth); more get 429 with Retry-After; 0: no limit",
       {},
       0,
       10000000},
      {"limits.commands_in_flight",
       ot::integer,
       "512",
       "commands (bookings, creates, updates) one company may have "
       "unanswered; more get 429 with Retry-After; 0: no limit",
       {},
       0,
       10000000},
      {"limits.rows_per_second",
       ot::integer,
       "0",
       "rows per second one company's listings may return; a listing "
       "costs its page size (limit) before it runs; more get 429 with "
       "Retry-After; 0: no limit",
       {},
       0,
       100000000},
      {"limits.refusal_pause_ms",
       ot::integer,
       "1000",
       "after a 429 the connection's next request is read only this much "
       "later (at most its Retry-After), so that a client ignoring "
       "Retry-After is slowed down; 0: at once",
       {},
       0,
       60000},
      {"limits.per_company", ot::string, "",
       "overrides, comma-separated company:requests_per_second:"
       "commands_in_flight[:rows_per_second] (0: no limit), e.g. "
       "acme:500:64, bigco:0:2048:0"},
      {"http.ready_commit_stall_ms",
       ot::integer,
       "5000",
       "GET /ready answers 503 while a store write transaction has been "
       "going this long (nothing can be stored)",
       {},
       1,
       3600000},
      {"http.event_stream_heartbeat_ms",
       ot::integer,
       "15000",
       "a server-sent event stream (GET /admin/events/stream) quiet this "
       "long gets a comment, so that it is seen alive",
       {},
       10,
       3600000},
      {"http.event_stream_frames",
       ot::integer,
       "1000",
       "events one stream may have waiting to be sent; past it the "
       "stream is closed (the client resumes with Last-Event-ID)",
       {},
       1,
       1000000},
      {"http.event_streams_per_company",
       ot::integer,
       "16",
       "event streams one company may have open (an admin's count "
       "together); more get 429",
       {},
       1,
       100000},
      {"http.event_streams_max",
       ot::integer,
       "1024",
       "event streams open at most, all companies together; more get 503",
       {},
       1,
       1000000},
      {"metrics.host", ot::string, "127.0.0.1",
       "address of the metrics listener (metrics.port)"},
      {"metrics.stats_interval_ms",
       ot::integer,
       "10000",
       "how often the minute buckets of GET /api/admin/stats (kept 7 days "
       "in the store) are written; 0: never",
       {},
       0,
       3600000},
      {"metrics.port",
       ot::integer,
       "0",
       "a port of its own for GET /metrics, open without a token; 0: "
       "none (then /metrics is on the main port for admin tokens)",
       {},
       0,
       65535},
      {"broadcasting.app_id", ot::string, "",
       "Pusher app id (the HTTP API's /apps/{app_id}); app_id, key and "
       "secret together enable broadcasting, all empty: off"},
      {"broadcasting.key", ot::string, "",
       "Pusher app key: clients connect to ws://host:port/app/{key}"},
      {"broadcasting.secret", ot::string, "",
       "Pusher app secret: signs channel auth and the HTTP API"},
      {"broadcasting.activity_timeout_s",
       ot::integer,
       "30",
       "a connection silent this long gets pusher:ping; one silent as long "
       "again is closed (4201)",
       {},
       1,
       3600},
      {"broadcasting.max_message_bytes",
       ot::integer,
       "10000",
       "largest message a client may send; larger ones close it (1009)",
       {},
       256,
       1 << 20},
      {"broadcasting.max_connections",
       ot::integer,
       "10000",
       "WebSocket connections at most; more get pusher:error 4004 and are "
       "closed",
       {},
       1,
       1000000},
      {"broadcasting.allowed_origins", ot::string, "*",
       "comma-separated hosts allowed as the Origin of a connection (* "
       "matches any run of characters); *: any"},
      {"broadcasting.client_events",
       ot::choice,
       "members",
       "client- events: off, or members (only from subscribers of a private "
       "or presence channel)",
       {"off", "members"}},
      {"broadcasting.client_events_per_s",
       ot::integer,
       "10",
       "client events one connection may send per second; more get "
       "pusher:error 4301 and are dropped",
       {},
       1,
       10000},
      {"broadcasting.send_queue_frames",
       ot::integer,
       "1000",
       "frames waiting to be written to one connection at most; past it the "
       "connection is closed (4100) as a slow consumer",
       {},
       1,
       1000000},
      {"cluster.node", ot::string, "",
       "this node's name among cluster.peers (when peers is set)"},
      {"cluster.port",
       ot::integer,
       "0",
       "the cluster (CAF middleman) port of this node; 0: the one "
       "cluster.peers gives it",
       {},
       0,
       65535},
      {"cluster.peers", ot::string, "",
       "every member, this node included, comma-separated name@host:port; "
       "empty: a single node"},
      {"cluster.secret", ot::string, "",
       "shared by the members; proves a joining node (HMAC-SHA256 "
       "challenge), at least 16 bytes"},
      {"scheduler.max_threads",
       ot::integer,
       "2",
       "CAF scheduler worker threads (0 = one per core)",
       {},
       0,
       256},
      {"providers.calcom_base_url", ot::string, "",
       "Cal.com API base URL (bookings go to {base}/v2/bookings); empty: "
       "Cal.com calls go to the outbox"},
      {"providers.calcom_api_key", ot::string, "",
       "Cal.com API key, sent as Authorization: Bearer"},
      {"providers.calcom_api_version", ot::string, "2024-08-13",
       "value of the cal-api-version header"},
      {"providers.calcom_timeout_ms",
       ot::integer,
       "10000",
       "timeout of one Cal.com call in ms",
       {},
       1,
       25000},
      {"providers.crm_webhook_url", ot::string, "",
       "CRM webhook URL (POST JSON); empty: CRM calls go to the outbox"},
      {"providers.crm_secret", ot::string, "",
       "HMAC-SHA256 key signing each CRM webhook body; empty: unsigned"},
      {"providers.crm_token", ot::string, "",
       "bearer token for the CRM webhook; empty: none"},
      {"providers.crm_timeout_ms",
       ot::integer,
       "10000",
       "timeout of one CRM call in ms",
       {},
       1,
       25000},
      {"providers.sms_url", ot::string, "",
       "SMS provider URL (POST {to, body, channel}); empty: SMS go to the "
       "outbox"},
      {"providers.sms_token", ot::string, "",
       "bearer token for the SMS provider"},
      {"providers.whatsapp_url", ot::string, "",
       "WhatsApp provider URL (POST {to, body, channel}); empty: WhatsApp "
       "messages go to the outbox"},
      {"providers.whatsapp_token", ot::string, "",
       "bearer token for the WhatsApp provider"},
      {"providers.messaging_timeout_ms",
       ot::integer,
       "10000",
       "timeout of one SMS or WhatsApp call in ms",
       {},
       1,
       25000},
      {"providers.twilio_account_sid", ot::string, "",
       "Twilio account SID (AC...); with a sender, SMS and WhatsApp go to "
       "Twilio's Messages API"},
      {"providers.twilio_auth_token", ot::string, "",
       "Twilio auth token: basic auth password (without an API key) and "
       "the key of X-Twilio-Signature on status callbacks"},
      {"providers.twilio_api_key_sid", ot::string, "",
       "Twilio API key SID (SK...): basic auth user instead of the account "
       "SID; empty: the account SID and auth token"},
      {"providers.twilio_api_key_secret", ot::string, "",
       "the Twilio API key's secret"},
      {"providers.twilio_sms_from", ot::string, "",
       "E.164 number SMS are sent from; empty: no SMS through Twilio "
       "(unless a messaging service is set)"},
      {"providers.twilio_whatsapp_from", ot::string, "",
       "E.164 WhatsApp sender (sent as whatsapp:+E164); empty: no WhatsApp "
       "through Twilio (unless a messaging service is set)"},
      {"providers.twilio_messaging_service_sid", ot::string, "",
       "Twilio Messaging Service SID (MG...), sent instead of From"},
      {"providers.twilio_status_callback", ot::string, "",
       "public URL of /webhooks/twilio/status, sent as StatusCallback and "
       "signed over by Twilio; empty: no delivery status callbacks"},
      {"providers.twilio_base_url", ot::string, "https://api.twilio.com",
       "Twilio API base URL"},
      {"providers.smtp_host", ot::string, "",
       "SMTP server for email; empty: email goes to the outbox"},
      {"providers.smtp_port",
       ot::integer,
       "25",
       "SMTP server port",
       {},
       1,
       65535},
      {"providers.smtp_tls",
       ot::choice,
       "none",
       "none, starttls (required) or tls (implicit, smtps)",
       {"none", "starttls", "tls"}},
      {"providers.smtp_ca_file", ot::string, "",
       "PEM file of the CA certificates that verify the SMTP server's "
       "certificate; empty: the system's"},
      {"providers.smtp_auth",
       ot::choice,
       "any",
       "SMTP AUTH mechanism: any (the strongest offered), PLAIN or LOGIN",
       {"any", "PLAIN", "LOGIN"}},
      {"providers.smtp_from", ot::string, "",
       "sender address (MAIL FROM and From:)"},
      {"providers.smtp_user", ot::string, "", "SMTP AUTH user; empty: no AUTH"},
      {"providers.smtp_password", ot::string, "", "SMTP AUTH password"},
      {"providers.smtp_timeout_ms",
       ot::integer,
       "10000",
       "timeout of one SMTP delivery in ms",
       {},
       1,
       25000},
      {"providers.workers",
       ot::integer,
       "4",
       "provider calls that run at once (blocking workers off the "
       "scheduler)",
       {},
       1,
       64},
      {"webhooks.call_provider_secret", ot::string, "",
       "HMAC-SHA256 key of the call provider's webhooks; empty: refused "
       "(503)"},
      {"webhooks.calcom_secret", ot::string, "",
       "X-Cal-Signature-256 key of the Cal.com webhooks of companies "
       "without a secret of their own; empty: those are refused (401)"},
      {"webhooks.retell_api_key", ot::string, "",
       "Retell API key: checks x-retell-signature of the Retell webhooks; "
       "empty: refused (503)"},
      {"webhooks.tolerance_s",
       ot::integer,
       "300",
       "how far a webhook's timestamp may be from now, in seconds",
       {},
       1,
       86400},
  };
  return specs;
}

std::string to_string(const std::vector<config_error>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty())
      out += '\n';
    out += e.message;
  }
  return out;
}

config config::defaults() {
  return config{};
}

const std::map<std::string, std::string, std::less<>>& config::builtin() {
  static const auto built = [] {
    std::map<std::string, std::string, std::less<>> m;
    for (const auto& spec : option_specs())
      m.emplace(std::string{spec.key}, std::string{spec.default_value});
    return m;
  }();
  return built;
}

const std::string& config::get_string(std::string_view key) const {
  if (auto i = values_.find(key); i != values_.end())
    return i->second;
  if (auto i = builtin().find(key); i != builtin().end())
    return i->second;
  static const std::string empty;
  return empty;
}

std::int64_t config::get_int(std::string_view key) const {
  std::int64_t n = 0;
  parse_int(get_string(key), n);
  return n;
}

bool config::get_bool(std::string_view key) const {
  return get_string(key) == "true";
}

const std::string& config::origin(std::string_view key) const {
  if (auto i = origins_.find(key); i != origins_.end())
    return i->second;
  static const std::string by_default = "default";
  static const std::string none = "unknown";
  return builtin().count(key) != 0 ? by_default : none;
}

expected<config, std::vector<config_error>>
parse_config(std::string_view text, std::string_view origin,
             const std::vector<std::string>& overrides) {
  auto result = config::defaults();
  std::vector<config_error> errors;
  std::map<std::string, int, std::less<>> seen;
  auto assign = [&](const std::string& key, std::string_view value, int line_no,
                    std::string_view where) {
    auto* spec = find_spec(key);
    auto at = [&] {
      return line_no > 0
                 ? std::string{origin} + ":" + std::to_string(line_no) + ": "
                 : std::string{"override: "};
    };
    if (spec == nullptr) {
      errors.push_back({key, line_no, at() + "unknown option " + key});
      return;
    }
    if (auto msg = check_value(*spec, value); !msg.empty()) {
      errors.push_back({key, line_no, at() + key + " " + msg});
      return;
    }
    if (spec->key == "backoff_ms") {
      std::vector<std::uint32_t> list;
      if (auto msg = parse_ms_list(value, list); !msg.empty()) {
        errors.push_back({key, line_no, at() + key + " " + msg});
        return;
      }
    }
    result.values_[key] = std::string{value};
    result.origins_[key] = std::string{where};
  };
  std::string section;
  // The text is walked in place, a line at a time (as std::getline splits
  // it: at each '\n', the last line with or without one).
  int line_no = 0;
  for (std::size_t at = 0; at < text.size();) {
    auto nl = text.find('\n', at);
    auto raw = text.substr(at, nl == std::string_view::npos ? nl : nl - at);
    at = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    auto line = trim(raw);
    if (line.empty() || line.front() == ';' || line.front() == '#')
      continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        errors.push_back({"", line_no,
                          std::string{origin} + ":" + std::to_string(line_no)
                              + ": malformed section header"});
        continue;
      }
      section = std::string{trim(line.substr(1, line.size() - 2))};
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      errors.push_back({"", line_no,
                        std::string{origin} + ":" + std::to_string(line_no)
                            + ": expected key = value"});
      continue;
    }
    auto name = std::string{trim(line.substr(0, eq))};
    auto value = trim(line.substr(eq + 1));
    // Strip a trailing comment that follows whitespace (after the closing
    // quote of a quoted value).
    std::size_t from = 0;
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      auto close = value.find(value.front(), 1);
      from = close == std::string_view::npos ? value.size() : close + 1;
    }
    for (auto pos = value.find_first_of(";#", from);
         pos != std::string_view::npos;
         pos = value.find_first_of(";#", pos + 1)) {
      if (pos > 0 && (value[pos - 1] == ' ' || value[pos - 1] == '\t')) {
        value = trim(value.substr(0, pos));
        break;
      }
    }
    auto key = section.empty() ? name : section + "." + name;
    if (section.empty()) {
      errors.push_back({key, line_no,
                        std::string{origin} + ":" + std::to_string(line_no)
                            + ": option " + name + " outside any section"});
      continue;
    }
    if (auto [it, fresh] = seen.emplace(key, line_no); !fresh) {
      errors.push_back({key, line_no,
                        std::string{origin} + ":" + std::to_string(line_no)
                            + ": " + key + " set twice (first on line "
                            + std::to_string(it->second) + ")"});
      continue;
    }
    assign(key, unquote(value), line_no, origin);
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos) {
      errors.push_back(
          {o, 0, "override: expected section.key=value, got " + o});
      continue;
    }
    assign(std::string{trim(std::string_view{o}.substr(0, eq))},
           unquote(trim(std::string_view{o}.substr(eq + 1))), 0, "override");
  }
  if (!errors.empty())
    return make_unexpected(std::move(errors));
  return result;
}

std::string parse_ms_list(std::string_view text,
                          std::vector<std::uint32_t>& out) {
  out.clear();
  auto rest = trim(text);
  if (rest.empty())
    return "expects milliseconds, comma-separated (e.g. 1000,5000)";
  while (true) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    std::int64_t n = 0;
    if (!parse_int(item, n) || n < 0 || n > 86400000)
      return "expects milliseconds from 0 to 86400000, comma-separated, "
             "got \""
             + std::string{item} + "\"";
    out.push_back(static_cast<std::uint32_t>(n));
    if (out.size() > 64)
      return "takes at most 64 entries";
    if (comma == std::string_view::npos)
      break;
    rest = rest.substr(comma + 1);
  }
  return {};
}

std::map<std::string, listener_settings>
listener_settings_of(const config& cfg) {
  std::map<std::string, listener_settings> out;
  constexpr std::string_view prefix = "listener.";
  for (const auto& [key, value] : cfg.values()) {
    std::string_view k = key;
    if (k.substr(0, prefix.size()) != prefix)
      continue;
    auto dot = k.rfind('.');
    auto name = std::string{k.substr(prefix.size(), dot - prefix.size())};
    auto field = k.substr(dot + 1);
    auto& s = out[name];
    std::int64_t n = 0;
    if (field == "backoff_ms") {
      std::vector<std::uint32_t> list;
      if (parse_ms_list(value, list).empty())
        s.backoff_ms = std::move(list);
    } else if (parse_int(value, n)) {
      if (field == "tries")
        s.tries = static_cast<std::uint32_t>(n);
      else if (field == "delay_ms")
        s.delay_ms = static_cast<std::uint32_t>(n);
      else if (field == "timeout_ms")
        s.timeout_ms = static_cast<std::uint32_t>(n);
    }
  }
  return out;
}

expected<config, std::vector<config_error>>
load_config_file(const std::string& path,
                 const std::vector<std::string>& overrides) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    return make_unexpected(
        std::vector<config_error>{{"", 0, "cannot read config file " + path}});
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path, overrides);
}

} // namespace switchboard::app
