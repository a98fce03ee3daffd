// Health, readiness and operations: queues, failed jobs, the message
// outbox.

#include <cctype>
#include <charconv>
#include <chrono>
#include <memory>
#include <mutex>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/analytics.hpp>
#include <app/http/bridge.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/routes.hpp>
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

json::value rfc3339_or_null(timestamp_ms t) {
  if (t == 0)
    return nullptr;
  return json::value(format_rfc3339(t));
}

json::object to_json(const store::job& j) {
  json::object o;
  o["id"] = j.id;
  o["queue"] = j.queue;
  o["listener"] = j.listener;
  o["event_id"] = j.event_id;
  o["event_sequence"] = j.event_seq;
  o["state"] = store::to_string(j.state);
  o["attempts"] = j.attempts;
  o["max_tries"] = j.max_tries;
  o["last_error"] = j.last_error;
  o["created_at"] = rfc3339_or_null(j.created_at);
  o["failed_at"] = rfc3339_or_null(j.failed_at);
  o["payload"] = j.payload;
  return o;
}

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

/// The company of the event a job handles ("" when unknown).
std::string job_company(switchboard::node& n, const store::job& j) {
  auto ev = n.store().events->read_event(j.event_seq);
  return ev ? ev->company_id : std::string{};
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

void add_ops_routes(router& r) {
  r.add(
      "GET", "/api/queues", access::admin,
      [](const context_ptr& ctx) {
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
                for (const auto& s : stats)
                  qs.push_back(to_json(s));
                json::object o;
                o["queues"] = std::move(qs);
                ctx->respond(200, o);
              });
        });
      },
      "Counts per queue: ready, delayed, leased, failed (admin)");

  r.add(
      "GET", "/api/jobs/failed", access::company,
      [](const context_ptr& ctx) {
        field_errors errs;
        auto after = ctx->query_uint("after", 0, 0, UINT64_MAX, errs);
        auto limit = ctx->query_uint("limit", 100, 1, 1000, errs);
        if (!errs.empty()) {
          ctx->fail_fields(errs);
          return;
        }
        auto queue = ctx->query("queue");
        const auto& who = ctx->who();
        auto reader = who.admin ? std::string{} : who.company_id;
        run_read(ctx, reader,
                 [ctx, queue, after, limit](const read_deadline& deadline) {
                   auto& n = ctx->node();
                   json::array out;
                   std::uint64_t last = after;
                   bool more = false;
                   // Company tokens see the jobs of their own events: a page
                   // scans at most max_pages batches, and when it stops before
                   // the end its cursor says where to go on.
                   for (int page = 0;; ++page) {
                     if (page == max_pages || deadline.passed()) {
                       more = true;
                       break;
                     }
                     auto jobs = n.store().jobs->list_failed(queue, last, 256);
                     if (!jobs) {
                       ctx->fail_store(jobs.error());
                       return;
                     }
                     for (const auto& j : *jobs) {
                       if (out.size() >= limit) {
                         more = true;
                         break;
                       }
                       last = j.id;
                       if (ctx->who().admin
                           || job_company(n, j) == ctx->who().company_id)
                         out.push_back(to_json(j));
                     }
                     if (more || jobs->size() < 256)
                       break;
                   }
                   json::object o;
                   o["jobs"] = std::move(out);
                   o["next_after"]
                       = more ? json::value(last) : json::value(nullptr);
                   ctx->respond(200, o);
                 });
      },
      "Failed jobs, by id (company tokens: jobs of their events)");

  r.add(
      "POST", "/api/jobs/failed/{id}/retry", access::company,
      [](const context_ptr& ctx) {
        field_errors errs;
        std::uint64_t id = 0;
        const auto& text = ctx->param("id");
        auto [p, ec]
            = std::from_chars(text.data(), text.data() + text.size(), id);
        if (ec != std::errc{} || p != text.data() + text.size()) {
          ctx->fail_fields({{"id", "invalid: expects a job id"}});
          return;
        }
        auto& n = ctx->node();
        auto j = n.store().jobs->get(id);
        if (!j || j->state != store::job_state::failed
            || !ctx->may_see(job_company(n, *j))) {
          ctx->fail(404, "not_found", "no failed job " + text);
          return;
        }
        auto* jobs = n.store().jobs.get();
        auto now = n.clock()();
        auto queue = j->queue;
        ctx->with_actor([ctx, jobs, id, now,
                         queue](caf::event_based_actor* self) {
          auto& n = ctx->node();
          self->request(n.writer(), actor_timeout, write_atom::value,
                        make_write_op([jobs, id, now](store::write_txn& txn) {
                          return jobs->retry_failed_in(txn, id, now);
                        }))
              .then(
                  [ctx, id, queue, self](ok_atom) {
                    auto& qs = ctx->node().queues();
                    if (auto q = qs.find(queue); q != qs.end())
                      self->send(q->second, wake_atom::value);
                    json::object o;
                    o["id"] = id;
                    o["state"] = "pending";
                    ctx->respond(202, o);
                  },
                  [ctx](caf::error& e) {
                    fail_with(*ctx, e);
                  });
        });
      },
      "Puts a failed job back on its queue");

  r.add(
      "DELETE", "/api/jobs/failed/{id}", access::admin,
      [](const context_ptr& ctx) {
        std::uint64_t id = 0;
        const auto& text = ctx->param("id");
        auto [p, ec]
            = std::from_chars(text.data(), text.data() + text.size(), id);
        if (ec != std::errc{} || p != text.data() + text.size()) {
          ctx->fail_fields({{"id", "invalid: expects a job id"}});
          return;
        }
        auto* jobs = ctx->node().store().jobs.get();
        ctx->with_actor([ctx, jobs, id](caf::event_based_actor* self) {
          self->request(ctx->node().writer(), actor_timeout, write_atom::value,
                        make_write_op([jobs, id](store::write_txn& txn) {
                          return jobs->delete_failed_in(txn, id);
                        }))
              .then(
                  [ctx](ok_atom) {
                    ctx->respond_empty(204);
                  },
                  [ctx](caf::error& e) {
                    fail_with(*ctx, e);
                  });
        });
      },
      "Deletes a failed job (admin)");

  r.add(
      "GET", "/api/outbox", access::company,
      [](const context_ptr& ctx) {
        field_errors errs;
        auto after = ctx->query_uint("after", 0, 0, UINT64_MAX, errs);
        auto limit = ctx->query_uint("limit", 100, 1, 1000, errs);
        if (!errs.empty()) {
          ctx->fail_fields(errs);
          return;
        }
        auto channel = ctx->query("channel");
        const auto& who = ctx->who();
        auto reader = who.admin ? std::string{} : who.company_id;
        run_read(ctx, reader,
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
                       json::object o;
                       o["id"] = m.id;
                       o["channel"] = m.channel;
                       o["recipient"] = m.recipient;
                       o["subject"] = m.subject;
                       o["body"] = m.body;
                       o["company_id"] = m.company_id;
                       o["event_id"] = m.event_id;
                       o["idempotency_key"] = m.idempotency_key;
                       o["created_at"] = rfc3339_or_null(m.created_at);
                       out.push_back(std::move(o));
                     }
                     if (more || msgs->size() < 256)
                       break;
                   }
                   json::object o;
                   o["messages"] = std::move(out);
                   o["next_after"]
                       = more ? json::value(last) : json::value(nullptr);
                   ctx->respond(200, o);
                 });
      },
      "Messages written to the outbox (SMS, email, WhatsApp, external "
      "calls)");

  r.add(
      "GET", "/api/company", access::company,
      [](const context_ptr& ctx) {
        const auto& who = ctx->who();
        auto id = who.admin ? ctx->query("company_id") : who.company_id;
        if (id.empty()) {
          ctx->fail_fields(
              {{"company_id", "admin tokens must name the company"}});
          return;
        }
        auto c = ctx->tenants().company(id);
        if (!c) {
          ctx->fail_store(c.error());
          return;
        }
        json::object o{{"id", c->id},
                       {"name", c->name},
                       {"time_zone", c->time_zone.empty() ? std::string{"UTC"}
                                                          : c->time_zone},
                       {"created_at", rfc3339_or_null(c->created_at)}};
        ctx->respond(200, o);
      },
      "The company the token acts for: name and time zone");
  r.add(
      "GET", "/api/analytics", access::company,
      [](const context_ptr& ctx) {
        const auto& who = ctx->who();
        auto company = who.admin ? ctx->query("company_id") : who.company_id;
        if (company.empty()) {
          ctx->fail_fields(
              {{"company_id", "admin tokens must name the company"}});
          return;
        }
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
      },
      "The company's analytics: appointments by day, service, staff, "
      "branch and source with value and lead time; calls by sentiment; "
      "customers by source");
}

} // namespace switchboard::app::http
