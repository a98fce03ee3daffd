// Health, readiness and operations: queues, failed jobs, the message
// outbox.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/interfaces.hpp>
#include <actors/listeners/catch_up.hpp>
#include <actors/listeners/pause.hpp>
#include <actors/log.hpp>
#include <actors/node.hpp>
#include <app/analytics.hpp>
#include <app/http/bridge.hpp>
#include <app/http/limits.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/route_helpers.hpp>
#include <app/http/routes.hpp>
#include <app/job_json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/projections.hpp>
#include <store/writer.hpp>

namespace switchboard::app::http {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

/// How long a read route waits for an actor.
constexpr auto actor_timeout = 5s;

/// Most batches of 256 records one page of a filtered listing scans.
constexpr int max_pages = 64;

json::object to_json(const queue_stats& s) {
  json::object o;
  o["name"] = s.queue;
  o["ready"] = s.ready;
  o["delayed"] = s.delayed;
  o["leased"] = s.leased;
  o["failed"] = s.failed;
  o["processed"] = s.processed;
  o["retried"] = s.retried;
  o["in_flight"] = s.in_flight;
  o["concurrency"] = s.concurrency;
  return o;
}

/// The company of a job: its own, or for a job that has none (format v1,
/// not attributed at migration) that of its event ("" when unknown).
std::string job_company(switchboard::node& n, const store::job& j) {
  if (!j.company_id.empty())
    return j.company_id;
  auto ev = n.store().events->read_event(j.event_seq);
  return ev ? ev->company_id : std::string{};
}

/// Failed jobs one bulk retry or flush changes per transaction.
constexpr std::size_t bulk_batch = 500;

/// The job id of the path; answers 422 and returns nothing when malformed.
std::optional<std::uint64_t> job_id_param(const context_ptr& ctx) {
  std::uint64_t id = 0;
  const auto& text = ctx->param("id");
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || p != text.data() + text.size()) {
    ctx->fail_fields({{"id", "invalid: expects a job id"}});
    return std::nullopt;
  }
  return id;
}

/// The failed job of the path's id, when the token may see it; answers
/// (422, 404) and returns nothing otherwise.
std::optional<store::job> failed_job_param(const context_ptr& ctx) {
  auto id = job_id_param(ctx);
  if (!id)
    return std::nullopt;
  auto& n = ctx->node();
  auto j = n.store().jobs->get(*id);
  if (!j || j->state != store::job_state::failed
      || !ctx->may_see(job_company(n, *j))) {
    ctx->fail(404, "not_found", "no failed job " + ctx->param("id"));
    return std::nullopt;
  }
  return std::move(*j);
}

/// Reads the filter fields from `get(name)`; a company token's company is
/// always its own (an admin may name one with company_id).
template <class Get>
store::job_filter read_filter(const context_ptr& ctx, Get get) {
  store::job_filter f;
  f.queue = get("queue");
  f.listener = get("listener");
  f.event_type = get("event_type");
  f.event_id = get("event_id");
  f.company_id = ctx->who().admin ? get("company_id") : ctx->who().company_id;
  return f;
}

/// The filter of a bulk change: the JSON body of a POST (an object of
/// strings, or no body), the query of a DELETE. Answers 422 and returns
/// nothing when a field is not a string.
std::optional<store::job_filter> bulk_filter(const context_ptr& ctx) {
  if (ctx->req().method != "POST")
    return read_filter(ctx, [&](const char* k) {
      return ctx->query(k);
    });
  if (ctx->req().body.empty())
    return read_filter(ctx, [](const char*) {
      return std::string{};
    });
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return std::nullopt; // answered
  if (!body->is_object()) {
    ctx->fail_fields({{"body", "expects a JSON object"}});
    return std::nullopt;
  }
  field_errors errs;
  const auto& obj = body->get_object();
  static const char* const known[]
      = {"queue", "listener", "event_type", "event_id", "company_id"};
  for (const auto& kv : obj) {
    bool ok = false;
    for (const char* k : known)
      ok = ok || kv.key() == k;
    if (!ok)
      errs[std::string{kv.key()}]
          = "unknown field; expects queue, listener, event_type, event_id "
            "or company_id";
    else if (!kv.value().is_string())
      errs[std::string{kv.key()}] = "expects a string";
  }
  if (ctx->fail_fields_if_any(errs))
    return std::nullopt;
  return read_filter(ctx, [&](const char* k) {
    auto* v = obj.if_contains(k);
    return v != nullptr ? std::string{v->get_string()} : std::string{};
  });
}

/// Runs `op` (a bulk change of at most bulk_batch jobs returning how many
/// it changed) in writer transactions until one changes fewer; answers
/// `{<what>: total}` and wakes the queues.
void run_bulk(const context_ptr& ctx, const char* what,
              std::function<store::result<std::size_t>(store::write_txn&)> op) {
  ctx->with_actor([ctx, what, op](caf::event_based_actor* self) {
    auto total = std::make_shared<std::size_t>(0);
    auto step = std::make_shared<std::function<void()>>();
    *step = [ctx, what, op, self, total, step] {
      auto n = std::make_shared<std::size_t>(0);
      self->request(ctx->node().writer(), actor_timeout, write_atom::value,
                    make_write_op(
                        [op, n](store::write_txn& txn) -> store::result<void> {
                          auto r = op(txn);
                          if (!r)
                            return make_unexpected(r.error());
                          *n = *r;
                          return {};
                        }))
          .then(
              [ctx, what, self, total, step, n](ok_atom) {
                *total += *n;
                if (*n >= bulk_batch) {
                  (*step)();
                  return;
                }
                for (const auto& [name, q] : ctx->node().queues())
                  self->send(q, wake_atom::value);
                *step = nullptr; // ends the cycle of shared pointers
                ctx->respond(200, json::object{{what, *total}});
              },
              [ctx, step](caf::error& e) {
                *step = nullptr;
                fail_with(*ctx, e);
              });
    };
    (*step)();
  });
}

/// What a failed-job route does with the jobs it names.
enum class failed_action {
  retry,  ///< Puts them back on their queues, due now.
  remove, ///< Deletes them.
};

/// The handler of a bulk change of the failed jobs that match the
/// request's filter (`bulk_filter`); answers `{"retried": n}` or
/// `{"deleted": n}`.
handler_fn failed_where(failed_action action) {
  return [action](const context_ptr& ctx) {
    auto f = bulk_filter(ctx);
    if (!f)
      return;
    auto* jobs = ctx->node().store().jobs.get();
    auto now = ctx->node().clock()();
    bool retry = action == failed_action::retry;
    run_bulk(ctx, retry ? "retried" : "deleted",
             [jobs, f = *f, now, retry](store::write_txn& txn) {
               return retry
                          ? jobs->retry_failed_where_in(txn, f, now, bulk_batch)
                          : jobs->delete_failed_where_in(txn, f, bulk_batch);
             });
  };
}

/// The handler of a change of the path's failed job (`failed_job_param`):
/// a retry wakes its queue and answers 202 `{"id", "state": "pending"}`, a
/// delete answers 204.
handler_fn failed_one(failed_action action) {
  return [action](const context_ptr& ctx) {
    auto j = failed_job_param(ctx);
    if (!j)
      return;
    auto id = j->id;
    auto* jobs = ctx->node().store().jobs.get();
    auto now = ctx->node().clock()();
    bool retry = action == failed_action::retry;
    run_write(
        ctx, actor_timeout,
        [jobs, id, now, retry](store::write_txn& txn) {
          return retry ? jobs->retry_failed_in(txn, id, now)
                       : jobs->delete_failed_in(txn, id);
        },
        [ctx, id, retry, queue = j->queue](caf::event_based_actor* self) {
          if (!retry) {
            ctx->respond_empty(204);
            return;
          }
          auto& qs = ctx->node().queues();
          if (auto q = qs.find(queue); q != qs.end())
            self->send(q->second, wake_atom::value);
          json::object o;
          o["id"] = id;
          o["state"] = "pending";
          ctx->respond(202, o);
        });
  };
}

/// Adds the routes of `action` on failed jobs: POST .../retry or DELETE,
/// on those that match a filter (/api/jobs/failed, `where_summary`) and on
/// one (/api/jobs/failed/{id}, `one_summary`).
void add_failed_routes(router& r, failed_action action,
                       std::string where_summary, std::string one_summary) {
  bool retry = action == failed_action::retry;
  std::string method = retry ? "POST" : "DELETE";
  std::string suffix = retry ? "/retry" : "";
  r.add(method, "/api/jobs/failed" + suffix, access::company,
        failed_where(action), std::move(where_summary));
  r.add(method, "/api/jobs/failed/{id}" + suffix, access::company,
        failed_one(action), std::move(one_summary));
}

/// Answers a page of jobs: `state` fixed by the route, or from ?state=
/// (pending by default).
void list_jobs(const context_ptr& ctx,
               std::optional<store::job_list_state> state) {
  field_errors errs;
  auto after = ctx->query_uint("after", 0, 0, UINT64_MAX, errs);
  auto limit = query_limit(*ctx, errs);
  auto s = state.value_or(store::job_list_state::pending);
  if (!state) {
    auto text = ctx->query("state", "pending");
    if (!store::parse_job_list_state(text, s))
      errs["state"] = "unknown state \"" + text
                      + "\"; expects pending, ready, delayed, leased or "
                        "failed";
  }
  if (ctx->fail_fields_if_any(errs))
    return;
  auto f = read_filter(ctx, [&](const char* k) {
    return ctx->query(k);
  });
  // Up to 20000 job records: on the read pool, not a gateway thread.
  const auto& who = ctx->who();
  auto reader = who.admin ? std::string{} : who.company_id;
  run_read(
      ctx, reader,
      [ctx, f, s, after, limit](const read_deadline&) {
        auto now = ctx->node().clock()();
        auto page = ctx->node().store().jobs->list(
            f, s, now, after, static_cast<std::size_t>(limit), 20000);
        if (!page) {
          ctx->fail_store(page.error());
          return;
        }
        json::array out;
        for (const auto& j : page->jobs)
          out.push_back(job_to_json(j, now));
        json::object o;
        o["jobs"] = std::move(out);
        o["next_after"] = page->next_after != 0 ? json::value(page->next_after)
                                                : json::value(nullptr);
        ctx->respond(200, o);
      },
      limit);
}

/// The handler of a jobs listing: `list_jobs` with `state`.
handler_fn jobs_lister(std::optional<store::job_list_state> state) {
  return [state](const context_ptr& ctx) {
    list_jobs(ctx, state);
  };
}

/// The handler that calls `fn(ctx, company)` with the company the request
/// names (`named_company`), once it names one.
template <class Fn>
handler_fn of_named_company(Fn fn) {
  return [fn](const context_ptr& ctx) {
    auto company = named_company(ctx);
    if (!company.empty())
      fn(ctx, company);
  };
}

/// Asks every queue supervisor for its stats; calls `done` once with all
/// answers (in queue order) and the names of those that did not answer.
/// Runs on a bridge actor.
void gather_queue_stats(
    caf::event_based_actor* self, switchboard::node& n,
    std::function<void(std::vector<queue_stats>, std::vector<std::string>)>
        done) {
  struct state {
    std::vector<queue_stats> stats;
    std::vector<std::string> missing;
    std::size_t pending = 0;
    std::function<void(std::vector<queue_stats>, std::vector<std::string>)>
        done;
  };
  auto st = std::make_shared<state>();
  st->done = std::move(done);
  st->pending = n.queues().size();
  if (st->pending == 0) {
    st->done({}, {});
    return;
  }
  auto finish = [st] {
    if (--st->pending == 0) {
      std::sort(st->stats.begin(), st->stats.end(),
                [](const auto& a, const auto& b) {
                  return a.queue < b.queue;
                });
      st->done(std::move(st->stats), std::move(st->missing));
    }
  };
  for (const auto& [name, q] : n.queues()) {
    self->request(q, actor_timeout, stats_atom::value)
        .then(
            [st, finish](queue_stats& s) {
              st->stats.push_back(std::move(s));
              finish();
            },
            [st, finish, name = name](caf::error&) {
              st->missing.push_back(name);
              finish();
            });
  }
}

/// Most events counted per catch-up listener when one company's lag is
/// asked for; more reads as this many.
constexpr std::uint64_t max_counted_behind = 100000;

/// The catch-up listeners (a queued listener that reads the log after its
/// checkpoint): each one's queue, checkpoint and the events the log has
/// after it, those of `company` only when it is set (a company learns
/// nothing of another's events), else the sequences past it.
store::result<json::array> catch_up_report(switchboard::node& n,
                                           const std::string& company) {
  auto& st = n.store();
  auto positions = catch_up_positions(n.registry(), *st.projections, *st.events,
                                      n.catch_up_readers());
  if (!positions)
    return make_unexpected(positions.error());
  // A company's own events past each checkpoint: one visit from the
  // lowest, each event counted for every checkpoint it is past.
  std::vector<std::uint64_t> own(positions->size(), 0);
  std::vector<std::uint64_t> own_delayed(positions->size(), 0);
  if (!company.empty() && !positions->empty()) {
    auto lowest = std::min_element(positions->begin(), positions->end(),
                                   [](const auto& a, const auto& b) {
                                     return a.checkpoint < b.checkpoint;
                                   })
                      ->checkpoint;
    auto txn = st.env->begin_read();
    if (!txn)
      return make_unexpected(txn.error());
    std::uint64_t seen = 0;
    auto visited = st.events->visit_company(
        *txn, company, lowest, [&](std::uint64_t seq) {
          for (std::size_t i = 0; i < positions->size(); ++i) {
            const auto& p = (*positions)[i];
            if (p.is_delayed(seq))
              ++own_delayed[i];
            else if (seq > p.checkpoint)
              ++own[i];
          }
          return ++seen < max_counted_behind;
        });
    if (!visited)
      return make_unexpected(visited.error());
  }
  json::array out;
  for (std::size_t i = 0; i < positions->size(); ++i) {
    const auto& p = (*positions)[i];
    json::object o{
        {"listener", p.listener},
        {"queue", p.queue},
        {"events_behind", company.empty() ? p.behind() : own[i]},
        {"events_delayed", company.empty() ? p.delayed() : own_delayed[i]}};
    if (company.empty())
      o["checkpoint"] = p.checkpoint;
    out.push_back(std::move(o));
  }
  return out;
}

} // namespace

void add_health_routes(router& r) {
  r.add(
      "GET", "/health", access::open,
      [](const context_ptr& ctx) {
        json::object o;
        o["status"] = "ok";
        ctx->respond(200, o);
      },
      "Liveness: the process answers");
  r.add(
      "GET", "/ready", access::open,
      [](const context_ptr& ctx) {
        // The details (the log's length, the queues, what is down) only
        // for an admin token; anyone else learns ready or not.
        bool admin = false;
        auto auth = ctx->req().header("authorization");
        if (auth.size() > 7) {
          std::string scheme{auth.substr(0, 7)};
          for (auto& c : scheme)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          auto who = ctx->tenants().resolve(auth.substr(7));
          admin = scheme == "bearer " && who && who->admin;
        }
        auto last = ctx->node().store().events->last_sequence();
        if (!last) {
          ctx->fail(503, "not_ready",
                    admin ? "store not readable: "
                                + store::to_string(last.error())
                          : std::string{"not ready"});
          return;
        }
        auto seq = *last;
        // Nothing can be stored while a write transaction hangs (another
        // process holds LMDB's write lock, the disk does not answer).
        auto stall = std::chrono::duration_cast<std::chrono::milliseconds>(
            ctx->node().store().writer->busy_for());
        if (stall >= ctx->svc().ready_commit_stall) {
          ctx->fail(503, "not_ready",
                    admin ? "the store writer has been in one transaction for "
                                + std::to_string(stall.count())
                                + " ms; nothing can be stored"
                          : std::string{"not ready"});
          return;
        }
        ctx->with_actor([ctx, seq, admin](caf::event_based_actor* self) {
          gather_queue_stats(
              self, ctx->node(),
              [ctx, seq, admin](std::vector<queue_stats> stats,
                                std::vector<std::string> missing) {
                if (!missing.empty()) {
                  field_errors f;
                  for (const auto& m : missing)
                    f["queues." + m] = "not answering";
                  if (admin)
                    ctx->fail(503, "not_ready", "queues not answering", f);
                  else
                    ctx->fail(503, "not_ready", "not ready");
                  return;
                }
                json::object o;
                o["status"] = "ready";
                if (!admin) {
                  ctx->respond(200, o);
                  return;
                }
                o["last_sequence"] = seq;
                o["live_aggregates"] = ctx->node().live_aggregates();
                json::array qs;
                for (const auto& s : stats)
                  qs.push_back(json::value(s.queue));
                o["queues"] = std::move(qs);
                ctx->respond(200, o);
              });
        });
      },
      "Readiness: the store is open and every queue supervisor answers");
}

/// What is paused (pause.hpp): {"paused": every queue, "paused_queues":
/// those paused by name}.
void add_pause_state(const context_ptr& ctx, json::object& o) {
  pause_state st;
  if (const auto& p = ctx->node().listener_ctx().pause)
    st = p->state();
  json::array queues;
  for (const auto& q : st.queues)
    queues.emplace_back(q);
  o["paused"] = st.all;
  o["paused_queues"] = std::move(queues);
}

/// POST /api/admin/queues/pause or /continue, of every queue or of
/// ?queue=: writes the switch, then has the node read it at once (a
/// `switchboard jobs pause` from another process reaches it within half
/// a second); a continue wakes the queues. Answers the pause state.
handler_fn set_paused(bool paused) {
  return [paused](const context_ptr& ctx) {
    auto queue = ctx->query("queue");
    const auto& served = ctx->node().queues();
    if (!queue.empty() && served.count(queue) == 0) {
      std::string names;
      for (const auto& q : served)
        names += (names.empty() ? "" : ", ") + q.first;
      ctx->fail_fields(
          {{"queue", "unknown queue \"" + queue + "\"; expects " + names}});
      return;
    }
    auto* proj = ctx->node().store().projections.get();
    run_write(
        ctx, actor_timeout,
        [proj, queue, paused](store::write_txn& txn) {
          return write_pause_in(txn, *proj, queue, paused);
        },
        [ctx, queue, paused](caf::event_based_actor* self) {
          if (const auto& p = ctx->node().listener_ctx().pause)
            p->reload();
          if (!paused)
            for (const auto& q : ctx->node().queues())
              self->send(q.second, wake_atom::value);
          log::get(log::subsystem::queue)
              ->info("{} {} over HTTP",
                     queue.empty() ? std::string{"every queue"}
                                   : "queue " + queue,
                     paused ? "paused" : "continued");
          json::object o;
          add_pause_state(ctx, o);
          ctx->respond(200, o);
        });
  };
}

void add_ops_routes(router& r) {
  r.add("POST", "/api/admin/queues/pause", access::admin, set_paused(true),
        "Pauses the queued listeners of every queue, or of ?queue=: no job "
        "is leased and no catch-up listener applies an event until "
        "/api/admin/queues/continue; kept across restarts (admin)");
  r.add("POST", "/api/admin/queues/continue", access::admin, set_paused(false),
        "Resumes the queued listeners of every queue (also those paused by "
        "name), or of ?queue= (admin)");
  r.add(
      "GET", "/api/queues", access::company,
      [](const context_ptr& ctx) {
        const auto& who = ctx->who();
        auto company = who.admin ? ctx->query("company_id") : who.company_id;
        if (!company.empty()) {
          // One company's share of each queue, from LMDB.
          auto& jobs = *ctx->node().store().jobs;
          auto stored = jobs.queues();
          if (!stored) {
            ctx->fail_store(stored.error());
            return;
          }
          // The queues served, and any other that has jobs.
          std::set<std::string> names{stored->begin(), stored->end()};
          for (const auto& q : ctx->node().queues())
            names.insert(q.first);
          auto now = ctx->node().clock()();
          json::array qs;
          for (const auto& name : names) {
            queue_stats s;
            s.queue = name;
            auto c = jobs.company_counts(name, company, now);
            if (!c) {
              ctx->fail_store(c.error());
              return;
            }
            s.ready = c->ready;
            s.delayed = c->delayed;
            s.leased = c->leased;
            s.failed = c->failed;
            auto rows = jobs.counters(name, company);
            if (!rows) {
              ctx->fail_store(rows.error());
              return;
            }
            auto o = to_json(s);
            o.erase("in_flight");
            o.erase("concurrency");
            add_job_counters(o, *rows);
            o["company_id"] = company;
            qs.push_back(std::move(o));
          }
          auto readers = catch_up_report(ctx->node(), company);
          if (!readers) {
            ctx->fail_store(readers.error());
            return;
          }
          auto& limits = ctx->limits();
          json::object o{{"queues", std::move(qs)},
                         {"catch_up", std::move(*readers)},
                         {"lag_ms", limits.queue_lag_ms(company)},
                         {"max_lag_ms", limits.max_queue_lag_ms()}};
          add_pause_state(ctx, o);
          ctx->respond(200, o);
          return;
        }
        ctx->with_actor([ctx](caf::event_based_actor* self) {
          gather_queue_stats(
              self, ctx->node(),
              [ctx](std::vector<queue_stats> stats,
                    std::vector<std::string> missing) {
                // A supervisor that does not answer still has its counts
                // in LMDB.
                auto now = ctx->node().clock()();
                for (const auto& name : missing) {
                  queue_stats s;
                  s.queue = name;
                  if (auto c = ctx->node().store().jobs->counts(name, now)) {
                    s.ready = c->ready;
                    s.delayed = c->delayed;
                    s.leased = c->leased;
                    s.failed = c->failed;
                  }
                  stats.push_back(std::move(s));
                }
                json::array qs;
                for (const auto& s : stats) {
                  auto o = to_json(s);
                  auto rows = ctx->node().store().jobs->counters(s.queue, "");
                  if (!rows) {
                    ctx->fail_store(rows.error());
                    return;
                  }
                  add_job_counters(o, *rows);
                  qs.push_back(std::move(o));
                }
                auto readers = catch_up_report(ctx->node(), "");
                if (!readers) {
                  ctx->fail_store(readers.error());
                  return;
                }
                json::object o;
                o["queues"] = std::move(qs);
                o["catch_up"] = std::move(*readers);
                o["lag_ms"] = ctx->limits().largest_queue_lag_ms();
                o["max_lag_ms"] = ctx->limits().max_queue_lag_ms();
                add_pause_state(ctx, o);
                ctx->respond(200, o);
              });
        });
      },
      "Per queue: jobs ready, delayed, leased and failed, and the counters "
      "processed, retried and failed_total by listener; per catch-up "
      "listener (catch_up): the events the log has past its checkpoint "
      "(company tokens: their own jobs and events; admin tokens: all, or "
      "?company_id=)");

  r.add("GET", "/api/jobs", access::company, jobs_lister(std::nullopt),
        "Jobs by state (pending, ready, delayed, leased, failed) and filter "
        "(queue, listener, event_type, event_id; admin: company_id)");

  r.add("GET", "/api/jobs/failed", access::company,
        jobs_lister(store::job_list_state::failed),
        "Failed jobs, by id, with every attempt's error (company tokens: "
        "their own)");

  r.add(
      "GET", "/api/jobs/{id}", access::company,
      [](const context_ptr& ctx) {
        auto id = job_id_param(ctx);
        if (!id)
          return;
        auto j = ctx->node().store().jobs->get(*id);
        if (!j || !ctx->may_see(job_company(ctx->node(), *j))) {
          ctx->fail(404, "not_found", "no job " + ctx->param("id"));
          return;
        }
        ctx->respond(200, job_to_json(*j, ctx->node().clock()()));
      },
      "One job with its attempts (time, duration, error)");

  add_failed_routes(r, failed_action::retry,
                    "Puts every failed job that matches the filter (body: "
                    "queue, listener, event_type, event_id; admin: "
                    "company_id) back on its queue, due now",
                    "Puts a failed job back on its queue");
  add_failed_routes(r, failed_action::remove,
                    "Flushes the failed jobs that match the query (queue, "
                    "listener, event_type, event_id; admin: company_id): all "
                    "of the token's when none is given",
                    "Deletes a failed job (company tokens: their own)");

  r.add(
      "GET", "/api/outbox", access::company,
      [](const context_ptr& ctx) {
        field_errors errs;
        auto after = ctx->query_uint("after", 0, 0, UINT64_MAX, errs);
        auto limit = query_limit(*ctx, errs);
        if (ctx->fail_fields_if_any(errs))
          return;
        auto channel = ctx->query("channel");
        const auto& who = ctx->who();
        auto reader = who.admin ? std::string{} : who.company_id;
        run_read(
            ctx, reader,
            [ctx, channel, after, limit](const read_deadline& deadline) {
              json::array out;
              std::uint64_t last = after;
              bool more = false;
              // A page scans at most max_pages batches (company tokens
              // skip other companies' messages); when it stops before the
              // end its cursor says where to go on.
              for (int page = 0;; ++page) {
                if (page == max_pages || deadline.passed()) {
                  more = true;
                  break;
                }
                auto msgs
                    = ctx->node().store().outbox->list(last, 256, channel);
                if (!msgs) {
                  ctx->fail_store(msgs.error());
                  return;
                }
                for (const auto& m : *msgs) {
                  if (out.size() >= limit) {
                    more = true;
                    break;
                  }
                  last = m.id;
                  if (!ctx->who().admin
                      && m.company_id != ctx->who().company_id)
                    continue;
                  out.push_back(outbox_entry_to_json(m));
                }
                if (more || msgs->size() < 256)
                  break;
              }
              json::object o;
              o["messages"] = std::move(out);
              o["next_after"] = more ? json::value(last) : json::value(nullptr);
              ctx->respond(200, o);
            },
            limit);
      },
      "Messages written to the outbox (SMS, email, WhatsApp, external "
      "calls), and those Twilio took with their SID and delivery status");

  r.add("GET", "/api/company", access::company,
        of_named_company([](const context_ptr& ctx, const std::string& id) {
          auto c = ctx->tenants().company(id);
          if (!c) {
            ctx->fail_store(c.error());
            return;
          }
          json::object o{{"id", c->id},
                         {"name", c->name},
                         {"time_zone", c->time_zone.empty() ? std::string{"UTC"}
                                                            : c->time_zone},
                         {"created_at", time_or_null(c->created_at)}};
          ctx->respond(200, o);
        }),
        "The company the token acts for: name and time zone");
  r.add(
      "GET", "/api/analytics", access::company,
      of_named_company([](const context_ptr& ctx, const std::string& company) {
        const auto& who = ctx->who();
        // Its counters grow with the company's days of history: read on
        // the read pool, off the Asio threads.
        run_read(ctx, who.admin ? std::string{} : who.company_id,
                 [ctx, company](const read_deadline&) {
                   auto report = analytics_report(
                       *ctx->node().store().projections, company);
                   if (!report) {
                     ctx->fail_store(report.error());
                     return;
                   }
                   (*report)["company_id"] = company;
                   ctx->respond(200, *report);
                 });
      }),
      "The company's analytics: appointments by day, service, staff, "
      "branch and source with value and lead time; calls by sentiment; "
      "customers by source");
}

} // namespace switchboard::app::http
