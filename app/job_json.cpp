#include "app/job_json.hpp"

#include <map>
#include <string>

#include <boost/json/array.hpp>

#include <messages/time.hpp>

namespace switchboard::app {

namespace json = boost::json;

json::value time_or_null(timestamp_ms t) {
  if (t == 0)
    return nullptr;
  return json::value(format_rfc3339(t));
}

json::object message_to_json(const store::outbound_message& m) {
  json::object o;
  o["id"] = m.id;
  o["channel"] = m.channel;
  o["recipient"] = m.recipient;
  o["subject"] = m.subject;
  o["body"] = m.body;
  o["company_id"] = m.company_id;
  o["event_id"] = m.event_id;
  o["correlation_id"] = m.correlation_id;
  o["causation_id"] = m.causation_id;
  o["created_at"] = time_or_null(m.created_at);
  return o;
}

json::object outbox_entry_to_json(const store::outbound_message& m) {
  auto o = message_to_json(m);
  o["idempotency_key"] = m.idempotency_key;
  o["provider"] = m.provider;
  o["provider_id"] = m.provider_id;
  o["status"] = m.status;
  o["status_at"] = time_or_null(m.status_at);
  o["status_error"] = m.status_error;
  return o;
}

json::object job_to_json(const store::job& j, timestamp_ms now) {
  json::object o;
  o["id"] = j.id;
  o["queue"] = j.queue;
  o["listener"] = j.listener;
  o["company_id"] = j.company_id;
  o["event_id"] = j.event_id;
  o["event_type"] = j.event_type;
  o["correlation_id"] = j.correlation_id;
  o["event_sequence"] = j.event_seq;
  bool pending = j.state == store::job_state::pending;
  o["state"] = pending && j.due_at > now ? "delayed" : to_string(j.state);
  o["attempts"] = j.attempts;
  o["max_tries"] = j.max_tries;
  o["last_error"] = j.last_error;
  o["created_at"] = time_or_null(j.created_at);
  o["due_at"] = pending ? time_or_null(j.due_at) : json::value(nullptr);
  o["failed_at"] = time_or_null(j.failed_at);
  json::array history;
  for (const auto& a : j.history)
    history.push_back(json::object{{"started_at", time_or_null(a.started_at)},
                                   {"duration_ms", a.duration_ms},
                                   {"error", a.error}});
  o["history"] = std::move(history);
  o["payload"] = j.payload;
  return o;
}

void add_job_counters(json::object& o,
                      const std::vector<store::job_counters>& rows) {
  std::map<std::string, store::job_counters> by_listener;
  store::job_counters total;
  for (const auto& r : rows) {
    for (auto* c : {&by_listener[r.listener], &total}) {
      c->processed += r.processed;
      c->failed += r.failed;
      c->retried += r.retried;
    }
  }
  o["processed"] = total.processed;
  o["retried"] = total.retried;
  o["failed_total"] = total.failed;
  json::array ls;
  for (const auto& [name, c] : by_listener)
    ls.push_back(json::object{{"listener", name},
                              {"processed", c.processed},
                              {"retried", c.retried},
                              {"failed_total", c.failed}});
  o["listeners"] = std::move(ls);
}

} // namespace switchboard::app
