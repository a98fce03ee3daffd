// The causation trace: GET /api/traces/{correlation_id}.

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <actors/node.hpp>
#include <app/http/routes.hpp>
#include <app/job_json.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/outbox.hpp>
#include <store/traces.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

namespace {

/// Most events, jobs and messages one trace answers with (of each).
constexpr std::size_t max_trace_entries = 1000;

/// The trace as a tree: root events (caused by nothing in the trace),
/// each with the events it caused, its jobs and their messages.
struct trace_tree {
  std::vector<envelope> events;
  std::vector<store::traced_job> jobs;
  std::vector<store::outbound_message> messages;
  timestamp_ms now = 0;

  json::object render() const {
    std::set<std::string> ids;
    for (const auto& e : events)
      ids.insert(e.id);
    std::map<std::string, std::vector<const envelope*>> caused;
    std::vector<const envelope*> roots;
    for (const auto& e : events) {
      const auto& by = e.metadata.causation_id;
      if (!by.empty() && by != e.id && ids.count(by) > 0)
        caused[by].push_back(&e);
      else
        roots.push_back(&e);
    }
    std::map<std::string, std::vector<const store::traced_job*>> jobs_of;
    std::set<std::uint64_t> job_ids;
    for (const auto& j : jobs) {
      jobs_of[j.record.event_id].push_back(&j);
      job_ids.insert(j.record.id);
    }
    std::map<std::string, std::vector<const store::outbound_message*>> sent;
    for (const auto& m : messages) {
      // "job:<id>" when a job of the trace sent it, else under its event.
      auto key = m.causation_id;
      if (key.rfind("job:", 0) != 0
          || job_ids.count(std::strtoull(key.c_str() + 4, nullptr, 10)) == 0)
        key = "event:" + m.event_id;
      sent[key].push_back(&m);
    }
    timestamp_ms first = 0, last = 0;
    auto seen = [&](timestamp_ms t) {
      if (t == 0)
        return;
      first = first == 0 ? t : std::min(first, t);
      last = std::max(last, t);
    };
    std::function<json::object(const envelope&)> event_json
        = [&](const envelope& e) {
            seen(e.occurred_at);
            json::object o = to_json(e).as_object();
            json::array js;
            if (auto it = jobs_of.find(e.id); it != jobs_of.end())
              for (const auto* t : it->second) {
                auto jo = job_to_json(t->record, now);
                jo["state"] = store::to_string(t->outcome);
                jo["finished_at"] = time_or_null(t->finished_at);
                jo["causation_id"] = t->record.event_id;
                seen(t->record.created_at);
                seen(t->finished_at);
                json::array ms;
                auto k = "job:" + std::to_string(t->record.id);
                if (auto m = sent.find(k); m != sent.end())
                  for (const auto* msg : m->second) {
                    seen(msg->created_at);
                    ms.push_back(message_to_json(*msg));
                  }
                jo["messages"] = std::move(ms);
                js.push_back(std::move(jo));
              }
            o["jobs"] = std::move(js);
            json::array loose;
            if (auto m = sent.find("event:" + e.id); m != sent.end())
              for (const auto* msg : m->second) {
                seen(msg->created_at);
                loose.push_back(message_to_json(*msg));
              }
            o["messages"] = std::move(loose);
            json::array kids;
            if (auto c = caused.find(e.id); c != caused.end())
              for (const auto* k : c->second)
                kids.push_back(event_json(*k));
            o["caused"] = std::move(kids);
            return o;
          };
    json::array out;
    for (const auto* r : roots)
      out.push_back(event_json(*r));
    json::object o;
    o["events"] = std::move(out);
    o["event_count"] = events.size();
    o["job_count"] = jobs.size();
    o["message_count"] = messages.size();
    o["started_at"] = time_or_null(first);
    o["ended_at"] = time_or_null(last);
    return o;
  }
};

void get_trace(const context_ptr& ctx) {
  const auto& id = ctx->param("correlation_id");
  if (!store::valid_correlation_id(id)) {
    ctx->fail_fields({{"correlation_id", "invalid"}});
    return;
  }
  auto& n = ctx->node();
  auto visible = [ctx](std::string_view company) {
    return ctx->may_see(company);
  };
  auto entries = n.store().traces->read(id, visible, max_trace_entries);
  if (!entries) {
    ctx->fail_store(entries.error());
    return;
  }
  // Reads the record of each key into `out`; false after answering the
  // store's error.
  auto read_all = [&ctx](const auto& keys, auto read, auto& out) {
    for (auto key : keys) {
      auto r = read(key);
      if (!r) {
        ctx->fail_store(r.error());
        return false;
      }
      out.push_back(std::move(*r));
    }
    return true;
  };
  trace_tree t;
  t.now = n.clock()();
  t.jobs = std::move(entries->jobs);
  auto read_event = [&n](auto seq) {
    return n.store().events->read_event(seq);
  };
  auto read_message = [&n](auto id) {
    return n.store().outbox->get(id);
  };
  if (!read_all(entries->event_seqs, read_event, t.events)
      || !read_all(entries->message_ids, read_message, t.messages))
    return;
  // Another company's trace answers as an unknown one does.
  if (t.events.empty() && t.jobs.empty() && t.messages.empty()) {
    ctx->fail(404, "not_found", "no trace " + id);
    return;
  }
  auto o = t.render();
  o["correlation_id"] = id;
  ctx->respond(200, o);
}

} // namespace

void add_trace_routes(router& r) {
  r.add("GET", "/api/traces/{correlation_id}", access::company, get_trace,
        "The causation trace of a correlation id: its events (each with the "
        "events it caused), their queued jobs with attempts and outcomes, "
        "and the messages those sent (company tokens: their own)");
}

} // namespace switchboard::app::http
