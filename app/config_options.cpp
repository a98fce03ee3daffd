// The table of every configuration option (`option_specs`): its key,
// type, default, help text and bounds. Parsing and reading a configuration
// are in app/config.cpp.
#include "app/config.hpp"

namespace switchboard::app {

namespace {

using ot = option_type;

/// An integer option from `min` to `max`.
option_spec integer(std::string_view key, std::string_view default_value,
                    std::string_view help, std::int64_t min, std::int64_t max) {
  return {key, ot::integer, default_value, help, {}, min, max};
}

/// An option whose value is one of `choices`.
option_spec choice(std::string_view key, std::string_view default_value,
                   std::string_view help,
                   std::vector<std::string_view> choices) {
  return {key, ot::choice, default_value, help, std::move(choices)};
}

} // namespace

const std::vector<option_spec>& option_specs() {
  static const std::vector<option_spec> specs = {
      {"store.path", ot::string, "./data",
       "directory of the LMDB environment (created when missing)"},
      integer(
          "store.map_size_mb", "1024",
          "initial LMDB map size in MiB; grows on demand up to max_map_size_mb",
          1, 1 << 24),
      integer(
          "store.max_map_size_mb", "65536",
          "largest the map may grow to, in MiB; past it appends fail cleanly",
          1, 1 << 24),
      choice(
          "store.sync", "full",
          "full: fsync before acknowledging; no_meta_sync: skip the meta page "
          "sync (last commit may roll back on power loss); none: no fsync",
          {"full", "no_meta_sync", "none"}),
      integer(
          "store.max_batch", "1024",
          "most request writes committed together in one transaction (group "
          "commit), and most queue writes when no request waits",
          1, 1 << 20),
      integer("store.commit_delay_us", "0",
              "how long a commit may wait for more writes while the writer "
              "is busy (more than one write in its last commit, which ended "
              "less than this ago); it commits after a quarter of it without "
              "a new write; 0: never waits",
              0, 1000000),
      integer("store.commit_min_batch", "64",
              "writes waiting that end that wait at once", 1, 1 << 20),
      integer("store.background_ops_per_commit", "64",
              "most queue operations (leases, acks, listener effects) a commit "
              "takes besides the requests' writes waiting (at most max_batch "
              "counts); 0: no lanes, every write first come first served",
              0, 1 << 20),
      integer(
          "store.background_group", "256",
          "most queue operations (listener effects, most of all) grouped into "
          "one of those places, each with its own outcome (one nested "
          "transaction for them all, one each when one fails); 0 or 1: no "
          "grouping",
          0, 1 << 20),
      integer("store.stream_index_batch", "65536",
              "stream index entries kept in memory before a flush cycle writes "
              "them to LMDB sorted (rebuilt from the log at open)",
              1, 1 << 24),
      choice("log.level", "info", "least severe level that is logged",
             {"trace", "debug", "info", "warn", "error", "off"}),
      choice("log.format", "text",
             "text for people, json for one JSON object per line",
             {"text", "json"}),
      integer("queues.notifications_concurrency", "1024",
              "jobs of the notifications queue that run at once", 1, 4096),
      integer("queues.analytics_concurrency", "1024",
              "jobs of the analytics queue that run at once", 1, 4096),
      integer("queues.default_concurrency", "1024",
              "jobs of the default queue that run at once", 1, 4096),
      integer(
          "queues.max_lag_ms", "10000",
          "backpressure: while a company's oldest ready job has waited longer "
          "than this, its new bookings get 503 with Retry-After; 0: never",
          0, 86400000),
      {"http.host", ot::string, "127.0.0.1",
       "address the HTTP gateway listens on"},
      integer(
          "http.port", "8080",
          "TCP port of the HTTP gateway (0: any free port, logged at start)", 0,
          65535),
      integer("http.threads", "2",
              "Asio threads of the HTTP gateway (they never block on an actor)",
              1, 64),
      integer("http.bridge_actors", "2",
              "actors that carry requests from the gateway into the runtime", 1,
              64),
      integer(
          "http.read_threads", "2",
          "threads that run listings (GET /api/appointments, /api/events, ...) "
          "off the Asio threads, taking companies in turn",
          1, 64),
      integer(
          "http.read_deadline_ms", "10000",
          "how long a listing may take, waiting for a thread included; past "
          "it the request gets 504",
          10, 600000),
      integer("http.body_limit_bytes", "1048576",
              "largest request body; larger ones get 413", 1, 1 << 30),
      integer("http.header_limit_bytes", "16384",
              "largest request header; larger ones get 431", 1024, 1 << 20),
      integer("http.read_timeout_ms", "30000",
              "idle keep-alive connections, and requests sent this slowly, are "
              "closed after this long",
              100, 3600000),
      integer("http.access_log_sample", "0",
              "access log (logger http.access): 0 off, 1 every request, N one "
              "request in N",
              0, 1000000),
      integer("http.max_connections", "1024",
              "open connections at most; more get 503 and are closed", 1,
              1000000),
      {"http.trusted_proxies", ot::string, "",
       "comma-separated addresses of reverse proxies whose X-Forwarded-For "
       "is believed; empty: the socket peer's address is the client's"},
      integer("http.shutdown_timeout_ms", "10000",
              "on SIGTERM, how long in-flight requests may take to finish", 0,
              600000),
      integer(
          "aggregates.max_live", "10000",
          "most aggregate and calendar actors alive at once; past it the least "
          "recently used is passivated (rebuilt from the store when needed)",
          1, 10000000),
      integer(
          "cache.max_bytes", "67108864",
          "most bytes the availability cache holds; past it the least recently "
          "used entries go (expired ones are swept every second)",
          4096, std::int64_t{1} << 40),
      integer("limits.requests_per_second", "0",
              "requests per second one company may send (a bucket of one "
              "second's worth); more get 429 with Retry-After; 0: no limit",
              0, 10000000),
      integer("limits.commands_in_flight", "512",
              "commands (bookings, creates, updates) one company may have "
              "unanswered; more get 429 with Retry-After; 0: no limit",
              0, 10000000),
      integer("limits.rows_per_second", "0",
              "rows per second one company's listings may return; a listing "
              "costs its page size (limit) before it runs; more get 429 with "
              "Retry-After; 0: no limit",
              0, 100000000),
      integer(
          "limits.refusal_pause_ms", "1000",
          "after a 429 the connection's next request is read only this much "
          "later (at most its Retry-After), so that a client ignoring "
          "Retry-After is slowed down; 0: at once",
          0, 60000),
      {"limits.per_company", ot::string, "",
       "overrides, comma-separated company:requests_per_second:"
       "commands_in_flight[:rows_per_second] (0: no limit), e.g. "
       "acme:500:64, bigco:0:2048:0"},
      integer("http.ready_commit_stall_ms", "5000",
              "GET /ready answers 503 while a store write transaction has been "
              "going this long (nothing can be stored)",
              1, 3600000),
      integer(
          "http.event_stream_heartbeat_ms", "15000",
          "a server-sent event stream (GET /admin/events/stream) quiet this "
          "long gets a comment, so that it is seen alive",
          10, 3600000),
      integer("http.event_stream_frames", "1000",
              "events one stream may have waiting to be sent; past it the "
              "stream is closed (the client resumes with Last-Event-ID)",
              1, 1000000),
      integer("http.event_streams_per_company", "16",
              "event streams one company may have open (an admin's count "
              "together); more get 429",
              1, 100000),
      integer(
          "http.event_streams_max", "1024",
          "event streams open at most, all companies together; more get 503", 1,
          1000000),
      {"metrics.host", ot::string, "127.0.0.1",
       "address of the metrics listener (metrics.port)"},
      integer(
          "metrics.stats_interval_ms", "10000",
          "how often the minute buckets of GET /api/admin/stats (kept 7 days "
          "in the store) are written; 0: never",
          0, 3600000),
      integer("metrics.port", "0",
              "a port of its own for GET /metrics, open without a token; 0: "
              "none (then /metrics is on the main port for admin tokens)",
              0, 65535),
      {"broadcasting.app_id", ot::string, "",
       "Pusher app id (the HTTP API's /apps/{app_id}); app_id, key and "
       "secret together enable broadcasting, all empty: off"},
      {"broadcasting.key", ot::string, "",
       "Pusher app key: clients connect to ws://host:port/app/{key}"},
      {"broadcasting.secret", ot::string, "",
       "Pusher app secret: signs channel auth and the HTTP API"},
      integer(
          "broadcasting.activity_timeout_s", "30",
          "a connection silent this long gets pusher:ping; one silent as long "
          "again is closed (4201)",
          1, 3600),
      integer("broadcasting.max_message_bytes", "10000",
              "largest message a client may send; larger ones close it (1009)",
              256, 1 << 20),
      integer(
          "broadcasting.max_connections", "10000",
          "WebSocket connections at most; more get pusher:error 4004 and are "
          "closed",
          1, 1000000),
      {"broadcasting.allowed_origins", ot::string, "*",
       "comma-separated hosts allowed as the Origin of a connection (* "
       "matches any run of characters); *: any"},
      choice(
          "broadcasting.client_events", "members",
          "client- events: off, or members (only from subscribers of a private "
          "or presence channel)",
          {"off", "members"}),
      integer("broadcasting.client_events_per_s", "10",
              "client events one connection may send per second; more get "
              "pusher:error 4301 and are dropped",
              1, 10000),
      integer(
          "broadcasting.send_queue_frames", "1000",
          "frames waiting to be written to one connection at most; past it the "
          "connection is closed (4100) as a slow consumer",
          1, 1000000),
      {"cluster.node", ot::string, "",
       "this node's name among cluster.peers (when peers is set)"},
      integer("cluster.port", "0",
              "the cluster (CAF middleman) port of this node; 0: the one "
              "cluster.peers gives it",
              0, 65535),
      {"cluster.peers", ot::string, "",
       "every member, this node included, comma-separated name@host:port; "
       "empty: a single node"},
      {"cluster.secret", ot::string, "",
       "shared by the members; proves a joining node (HMAC-SHA256 "
       "challenge), at least 16 bytes"},
      integer(
          "cluster.forward_timeout_ms", "30000",
          "how long a request sent to its company's owner may take before it "
          "answers 504",
          100, 3600000),
      integer("scheduler.max_threads", "2",
              "CAF scheduler worker threads (0 = one per core)", 0, 256),
      integer("scheduler.sleeping_polls", "0",
              "times an idle worker polls its queue with a 50 us sleep "
              "between before it blocks until a message arrives (CAF's "
              "default is 500; each sleep is a timer wake-up that costs CPU)",
              0, 1000000),
      {"providers.calcom_base_url", ot::string, "",
       "Cal.com API base URL (bookings go to {base}/v2/bookings); empty: "
       "Cal.com calls go to the outbox"},
      {"providers.calcom_api_key", ot::string, "",
       "Cal.com API key, sent as Authorization: Bearer"},
      {"providers.calcom_api_version", ot::string, "2024-08-13",
       "value of the cal-api-version header"},
      integer("providers.calcom_timeout_ms", "10000",
              "timeout of one Cal.com call in ms", 1, 25000),
      {"providers.crm_webhook_url", ot::string, "",
       "CRM webhook URL (POST JSON); empty: CRM calls go to the outbox"},
      {"providers.crm_secret", ot::string, "",
       "HMAC-SHA256 key signing each CRM webhook body; empty: unsigned"},
      {"providers.crm_token", ot::string, "",
       "bearer token for the CRM webhook; empty: none"},
      integer("providers.crm_timeout_ms", "10000",
              "timeout of one CRM call in ms", 1, 25000),
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
      integer("providers.messaging_timeout_ms", "10000",
              "timeout of one SMS or WhatsApp call in ms", 1, 25000),
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
      integer("providers.smtp_port", "25", "SMTP server port", 1, 65535),
      choice("providers.smtp_tls", "none",
             "none, starttls (required) or tls (implicit, smtps)",
             {"none", "starttls", "tls"}),
      {"providers.smtp_ca_file", ot::string, "",
       "PEM file of the CA certificates that verify the SMTP server's "
       "certificate; empty: the system's"},
      choice("providers.smtp_auth", "any",
             "SMTP AUTH mechanism: any (the strongest offered), PLAIN or LOGIN",
             {"any", "PLAIN", "LOGIN"}),
      {"providers.smtp_from", ot::string, "",
       "sender address (MAIL FROM and From:)"},
      {"providers.smtp_user", ot::string, "", "SMTP AUTH user; empty: no AUTH"},
      {"providers.smtp_password", ot::string, "", "SMTP AUTH password"},
      integer("providers.smtp_timeout_ms", "10000",
              "timeout of one SMTP delivery in ms", 1, 25000),
      integer("providers.workers", "4",
              "provider calls that run at once (blocking workers off the "
              "scheduler)",
              1, 64),
      {"webhooks.call_provider_secret", ot::string, "",
       "HMAC-SHA256 key of the call provider's webhooks; empty: refused "
       "(503)"},
      {"webhooks.calcom_secret", ot::string, "",
       "X-Cal-Signature-256 key of the Cal.com webhooks of companies "
       "without a secret of their own; empty: those are refused (401)"},
      {"webhooks.retell_api_key", ot::string, "",
       "Retell API key: checks x-retell-signature of the Retell webhooks; "
       "empty: refused (503)"},
      integer("webhooks.tolerance_s", "300",
              "how far a webhook's timestamp may be from now, in seconds", 1,
              86400),
  };
  return specs;
}

} // namespace switchboard::app
