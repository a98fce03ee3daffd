// The queues through the real daemon and the real CLI: jobs by state and
// filter, every attempt's error, retry and flush by filter, per-listener
// settings from the configuration, counters that survive a restart, the
// company scope of every route, fair shares between companies, and the
// pause of every queued listener.

#include <optional>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <actors/node.hpp>
#include <store/job_queue.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/store/job_queue_blocking.hpp"

namespace {

/// The CRM refuses every connection: each external sync attempt fails.
/// Two tries, 10 ms apart (config.ini's [listener.NAME] via --set).
std::vector<std::string> failing_sync() {
  return {"providers.crm_webhook_url=http://127.0.0.1:1/hook",
          "listener.sync_with_external_services.tries=2",
          "listener.sync_with_external_services.backoff_ms=10"};
}

/// Runs `switchboard jobs <args>` on the fixture's store.
switchboard::test::command_run jobs_cli(daemon_fixture& d,
                                        std::vector<std::string> args) {
  args.insert(args.begin(), "jobs");
  return d.command(std::move(args), 60s);
}

/// The JSON lines of a `--json` listing.
std::vector<json::object> json_lines(const std::string& out) {
  std::vector<json::object> v;
  std::istringstream in{out};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.front() == '{')
      v.push_back(json::parse(line).as_object());
  return v;
}

/// GET `path` until `done(reply)` holds (at most a minute); returns the
/// last reply. Waits for the queues, asserts nothing about time.
template <class Pred>
http_reply poll(http_client& c, const std::string& path,
                const std::string& token, Pred done) {
  http_reply r;
  for (int i = 0; i < 1200; ++i) {
    r = c.request("GET", path, "", token);
    if (r.status == 200 && done(r))
      return r;
    std::this_thread::sleep_for(50ms);
  }
  return r;
}

std::size_t job_count(const http_reply& r) {
  return r.json().at("jobs").as_array().size();
}

/// A customer, changed once: its customer.updated event has an external
/// sync job (on the default queue).
void customer_changed(http_client& c, const std::string& token,
                      const std::string& id) {
  auto made = c.request("POST", "/api/customers",
                        R"({"id":")" + id + R"(","name":"Ada"})", token);
  BOOST_TEST_INFO(made.body);
  BOOST_REQUIRE(made.status == 201);
  auto changed = c.request("PATCH", "/api/customers/" + id,
                           R"({"name":"Ada B"})", token);
  BOOST_TEST_INFO(changed.body);
  BOOST_REQUIRE(changed.status == 200);
}

std::optional<json::object> queue_named(const http_reply& r, const char* name) {
  auto body = r.json();
  for (const auto& q : body.at("queues").as_array())
    if (q.as_object().at("name").as_string() == name)
      return q.as_object();
  return std::nullopt;
}

std::uint64_t listener_counter(const json::object& q, const char* listener,
                               const char* counter) {
  for (const auto& l : q.at("listeners").as_array())
    if (l.as_object().at("listener").as_string() == listener)
      return l.as_object().at(counter).to_number<std::uint64_t>();
  return 0;
}

constexpr const char* sync_listener = "sync_with_external_services";

} // namespace

BOOST_AUTO_TEST_SUITE(queues_suite)

BOOST_AUTO_TEST_CASE(failed_jobs_keep_every_attempt_and_stay_in_company) {
  daemon_fixture d{failing_sync()};
  http_client c{d.port};
  customer_changed(c, d.acme, "qa1");
  customer_changed(c, d.globex, "qg1");
  auto failed_sync = "/api/jobs/failed?listener=" + std::string{sync_listener};
  auto all = poll(c, failed_sync, d.admin, [](const http_reply& r) {
    return job_count(r) == 2;
  });
  BOOST_TEST_INFO(all.body);
  BOOST_REQUIRE(job_count(all) == 2u);

  // A company token sees its own failed job, with both attempts.
  auto mine = c.request("GET", failed_sync, "", d.acme);
  BOOST_TEST_INFO(mine.body);
  BOOST_REQUIRE(mine.status == 200);
  BOOST_REQUIRE(job_count(mine) == 1u);
  auto job = mine.json().at("jobs").at(0).as_object();
  BOOST_TEST(job.at("company_id").as_string() == "acme");
  BOOST_TEST(job.at("event_type").as_string() == "customer.updated");
  BOOST_TEST(job.at("state").as_string() == "failed");
  BOOST_TEST(job.at("attempts").to_number<std::uint64_t>() == 2u);
  const auto& history = job.at("history").as_array();
  BOOST_REQUIRE(history.size() == 2u);
  for (const auto& a : history) {
    BOOST_TEST(!a.at("error").as_string().empty());
    BOOST_TEST(a.at("started_at").is_string());
    BOOST_TEST(a.at("duration_ms").is_number());
  }
  auto acme_id = job.at("id").to_number<std::uint64_t>();
  std::uint64_t globex_id = 0;
  auto all_body = all.json();
  for (const auto& j : all_body.at("jobs").as_array())
    if (j.at("company_id").as_string() == "globex")
      globex_id = j.at("id").to_number<std::uint64_t>();
  BOOST_REQUIRE(globex_id != 0u);
  auto gid = std::to_string(globex_id);

  // Another company's job answers as a missing one, on every door.
  BOOST_TEST(c.request("GET", "/api/jobs/" + gid, "", d.acme).status == 404);
  BOOST_TEST(c.request("GET", "/api/jobs/" + gid, "", d.globex).status == 200);
  BOOST_TEST(
      c.request("POST", "/api/jobs/failed/" + gid + "/retry", "", d.acme).status
      == 404);
  BOOST_TEST(c.request("DELETE", "/api/jobs/failed/" + gid, "", d.acme).status
             == 404);
  // A company token's company_id is its own, whatever it asks.
  auto sneaky
      = c.request("GET", failed_sync + "&company_id=globex", "", d.acme);
  BOOST_REQUIRE(sneaky.status == 200);
  BOOST_REQUIRE(job_count(sneaky) == 1u);
  BOOST_TEST(sneaky.json().at("jobs").at(0).at("id").to_number<std::uint64_t>()
             == acme_id);
  // An admin filters by company.
  auto admin_globex
      = c.request("GET", failed_sync + "&company_id=globex", "", d.admin);
  BOOST_REQUIRE(job_count(admin_globex) == 1u);
  BOOST_TEST(
      admin_globex.json().at("jobs").at(0).at("id").to_number<std::uint64_t>()
      == globex_id);

  // Bad filters name the field.
  auto bad_state = c.request("GET", "/api/jobs?state=bogus", "", d.acme);
  BOOST_TEST(bad_state.status == 422);
  BOOST_TEST(bad_state.body.find("state") != std::string::npos);
  BOOST_TEST(bad_state.body.find("delayed") != std::string::npos);
  auto bad_body = c.request("POST", "/api/jobs/failed/retry",
                            R"({"colour":"red"})", d.acme);
  BOOST_TEST(bad_body.status == 422);
  BOOST_TEST(bad_body.body.find("colour") != std::string::npos);
  BOOST_TEST(c.request("GET", "/api/jobs/abc", "", d.acme).status == 422);

  // The queues, as each company sees them.
  auto qa = c.request("GET", "/api/queues", "", d.acme);
  BOOST_TEST_INFO(qa.body);
  BOOST_REQUIRE(qa.status == 200);
  auto def = queue_named(qa, "default");
  BOOST_REQUIRE(def.has_value());
  BOOST_TEST(def->at("failed").to_number<std::uint64_t>() == 1u);
  BOOST_TEST(listener_counter(*def, sync_listener, "failed_total") == 1u);
  BOOST_TEST(listener_counter(*def, sync_listener, "retried") == 1u);
  BOOST_TEST(def->at("company_id").as_string() == "acme");
  auto qall = c.request("GET", "/api/queues", "", d.admin);
  auto def_all = queue_named(qall, "default");
  BOOST_REQUIRE(def_all.has_value());
  BOOST_TEST(def_all->at("failed").to_number<std::uint64_t>() == 2u);
  BOOST_TEST(listener_counter(*def_all, sync_listener, "failed_total") == 2u);

  // Retry by filter: only acme's job runs again; it fails again and its
  // history now holds all four attempts.
  auto retried = c.request(
      "POST", "/api/jobs/failed/retry",
      R"({"listener":")" + std::string{sync_listener} + R"("})", d.acme);
  BOOST_TEST_INFO(retried.body);
  BOOST_REQUIRE(retried.status == 200);
  BOOST_TEST(retried.json().at("retried").to_number<std::uint64_t>() == 1u);
  auto again = poll(c, "/api/jobs/" + std::to_string(acme_id), d.acme,
                    [](const http_reply& r) {
                      return r.json().at("state").as_string() == "failed"
                             && r.json().at("history").as_array().size() == 4;
                    });
  BOOST_TEST_INFO(again.body);
  BOOST_TEST(again.json().at("history").as_array().size() == 4u);

  // The CLI: the same fields, the same scope by --company.
  auto listed = jobs_cli(d, {"failed", "--company", "globex", "--json"});
  BOOST_TEST_INFO(listed.out);
  BOOST_REQUIRE(listed.rc == 0);
  auto lines = json_lines(listed.out);
  std::size_t globex_sync = 0;
  for (const auto& l : lines) {
    BOOST_TEST(l.at("company_id").as_string() == "globex");
    if (l.at("id").to_number<std::uint64_t>() == globex_id) {
      ++globex_sync;
      for (const auto& [k, v] : all_body.at("jobs").at(0).as_object())
        BOOST_TEST(l.contains(k), "CLI field " << k);
    }
  }
  BOOST_TEST(globex_sync == 1u);
  auto bad = jobs_cli(d, {"list", "--state", "bogus"});
  BOOST_TEST(bad.rc == 2);
  BOOST_TEST(bad.out.find("bogus") != std::string::npos);
  auto shown = jobs_cli(d, {"show", std::to_string(acme_id)});
  BOOST_TEST_INFO(shown.out);
  BOOST_TEST(shown.rc == 0);
  BOOST_TEST(shown.out.find("attempt at") != std::string::npos);

  // Flush: acme's token deletes only acme's failed jobs.
  auto flushed = c.request("DELETE", "/api/jobs/failed", "", d.acme);
  BOOST_TEST_INFO(flushed.body);
  BOOST_REQUIRE(flushed.status == 200);
  BOOST_TEST(flushed.json().at("deleted").to_number<std::uint64_t>() >= 1u);
  BOOST_TEST(job_count(c.request("GET", "/api/jobs/failed", "", d.acme)) == 0u);
  auto left = c.request("GET", failed_sync, "", d.admin);
  BOOST_REQUIRE(job_count(left) == 1u);
  BOOST_TEST(left.json().at("jobs").at(0).at("id").to_number<std::uint64_t>()
             == globex_id);
  auto cli_flush = jobs_cli(
      d, {"flush", "--company", "globex", "--listener", sync_listener});
  BOOST_TEST_INFO(cli_flush.out);
  BOOST_TEST(cli_flush.rc == 0);
  BOOST_TEST(cli_flush.out.find("1 failed job(s) deleted")
             != std::string::npos);

  // The counters are in LMDB: a restarted daemon still has them.
  d.restart_with(failing_sync());
  http_client c2{d.port};
  auto after = c2.request("GET", "/api/queues", "", d.admin);
  BOOST_TEST_INFO(after.body);
  auto def_after = queue_named(after, "default");
  BOOST_REQUIRE(def_after.has_value());
  BOOST_TEST(listener_counter(*def_after, sync_listener, "failed_total") == 3u);
  BOOST_TEST(listener_counter(*def_after, sync_listener, "retried") == 3u);
  BOOST_TEST(def_after->at("failed").to_number<std::uint64_t>() == 0u);
  auto stats = jobs_cli(d, {"stats", "--company", "acme", "--json"});
  BOOST_TEST_INFO(stats.out);
  BOOST_REQUIRE(stats.rc == 0);
  BOOST_TEST(stats.out.find("\"failed_total\":2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_unknown_listener_in_the_configuration_stops_the_start) {
  daemon_fixture d;
  auto args = d.base_args();
  args.insert(args.begin(), {SWITCHBOARD_BINARY, "serve"});
  args.insert(args.end(), {"--set", "http.port=0", "--set",
                           "listener.no_such_listener.tries=3", "--set",
                           "store.path=" + d.dir.path() + "/other"});
  child_process p(args);
  BOOST_TEST(p.wait(30s) != 0);
  BOOST_TEST(p.output().find("no_such_listener") != std::string::npos);
  child_process bad({SWITCHBOARD_BINARY, "serve", "--config",
                     std::string{SWITCHBOARD_SOURCE_DIR} + "/config.ini",
                     "--set", "listener.x.backoff_ms=10,soon"});
  BOOST_TEST(bad.wait(30s) != 0);
  BOOST_TEST(bad.output().find("listener.x.backoff_ms") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(one_companys_burst_does_not_delay_anothers_notification) {
  // acme books a burst and globex once, later than all of acme's; their
  // day-before reminders wait in the queue. Then the days "pass" (the
  // reminders' due time is moved to now in the store, the daemon
  // stopped) and a daemon starts with all of them ready at once.
  // globex's reminder, due last, goes out among the first, not after
  // acme's burst. (The confirmations wait an hour in their reader,
  // from config.ini, so that only reminders go out.)
  constexpr int burst = 600;
  const std::vector<std::string> held
      = {"listener.send_appointment_notification.delay_ms=3600000"};
  daemon_fixture d{held};
  {
    http_client c{d.port};
    // Ids are global: each company has its own.
    for (const auto& [token, k] :
         {std::pair{d.acme, "a"}, std::pair{d.globex, "g"}}) {
      std::string sfx = k;
      auto made = [&](const char* path, const std::string& body) {
        auto r = c.request("POST", path, body, token);
        BOOST_TEST_INFO(r.body);
        BOOST_REQUIRE(r.status == 201);
      };
      made("/api/customers",
           R"({"id":"cu-)" + sfx + R"(","name":"Ada","phone":"+4930123",
                                  "prefers_sms":true})");
      made("/api/services",
           R"({"id":"s-)" + sfx + R"(","name":"Cut","price_cents":100,
                                  "duration_minutes":30})");
      made("/api/staff", R"({"id":"st-)" + sfx + R"(","name":"Bo"})");
    }
    auto book = [&](const std::string& token, int i) {
      std::string sfx = token == d.acme ? "a" : "g";
      json::object b{
          {"customer_id", "cu-" + sfx},
          {"service_id", "s-" + sfx},
          {"staff_id", "st-" + sfx},
          {"start_time",
           switchboard::test::utc_at(2 + i / 40, (i % 40) / 2, (i % 2) * 30)}};
      auto r
          = c.request("POST", "/api/appointments", json::serialize(b), token);
      BOOST_TEST_INFO(r.body);
      BOOST_REQUIRE(r.status == 201);
    };
    for (int i = 0; i < burst; ++i)
      book(d.acme, i);
    book(d.globex, burst);
    // Until the subscriber's reader has enqueued every reminder.
    for (int i = 0; i < 600; ++i) {
      auto q = c.request("GET", "/api/queues", "", d.admin);
      BOOST_REQUIRE(q.status == 200);
      std::int64_t behind = 0;
      auto body = q.json();
      for (const auto& e : body.at("catch_up").as_array())
        behind += e.at("events_behind").to_number<std::int64_t>();
      if (behind == 0)
        break;
      std::this_thread::sleep_for(50ms);
    }
  }
  d.proc->signal(SIGTERM);
  d.proc->wait(30s);
  {
    switchboard::store::options opts;
    opts.path = d.dir.path() + "/data";
    auto st = switchboard::node_store::open(opts);
    BOOST_REQUIRE(st);
    auto& jobs = *(*st)->jobs;
    switchboard::store::job_filter f;
    f.queue = "notifications";
    f.listener = "reminder.24h";
    auto pending = jobs.list(f, switchboard::store::job_list_state::delayed, 0,
                             0, 100000);
    BOOST_REQUIRE(pending);
    BOOST_REQUIRE(pending->jobs.size() == std::size_t{burst} + 1);
    // globex's job is the last due: a queue in due order serves it last.
    BOOST_TEST(pending->jobs.back().company_id == "globex");
    auto now = unix_time<std::chrono::milliseconds>();
    for (const auto& j : pending->jobs)
      BOOST_REQUIRE(
          switchboard::store::test::retry(jobs, j.id, now, "", false));
  }
  d.restart_with(held);
  http_client c{d.port};
  // Wait until globex's message is in the outbox; count acme's before it.
  std::size_t before = 0;
  bool seen = false;
  for (int round = 0; round < 1200 && !seen; ++round) {
    before = 0;
    std::uint64_t after = 0;
    for (;;) {
      auto r = c.request("GET",
                         "/api/outbox?channel=sms&limit=1000&after="
                             + std::to_string(after),
                         "", d.admin);
      BOOST_REQUIRE(r.status == 200);
      auto body = r.json();
      for (const auto& m : body.at("messages").as_array()) {
        if (m.at("company_id").as_string() == "globex") {
          seen = true;
          break;
        }
        ++before;
      }
      if (seen || r.json().at("next_after").is_null())
        break;
      after = r.json().at("next_after").to_number<std::uint64_t>();
    }
    if (!seen)
      std::this_thread::sleep_for(50ms);
  }
  BOOST_REQUIRE(seen);
  BOOST_TEST_MESSAGE("acme messages before globex's: " << before);
  // Round-robin leases: at most a lease or two of acme's jobs go first
  // (each of the queue's 64 slots), far from the burst of 600.
  BOOST_TEST(before < std::size_t{burst} / 2);
}

/// The events the catch-up listeners have not applied, as `token` sees them.
std::int64_t events_behind(const http_reply& q) {
  std::int64_t n = 0;
  auto body = q.json();
  for (const auto& e : body.at("catch_up").as_array())
    n += e.at("events_behind").to_number<std::int64_t>();
  return n;
}

BOOST_AUTO_TEST_CASE(paused_listeners_leave_their_work_until_continued) {
  // As horizon:pause: while paused, a retried job is not leased and a new
  // event is applied by no catch-up listener; a restart stays paused; the
  // CLI continues the running daemon, and both go on. (Without the
  // pause, the job fails again and the event is applied within
  // milliseconds, long before the waits below end.)
  daemon_fixture d{failing_sync()};
  http_client c{d.port};
  customer_changed(c, d.acme, "qp1");
  auto failed_sync = "/api/jobs/failed?listener=" + std::string{sync_listener};
  auto failed = poll(c, failed_sync, d.acme, [](const http_reply& r) {
    return job_count(r) == 1;
  });
  BOOST_REQUIRE(job_count(failed) == 1u);
  auto id = std::to_string(
      failed.json().at("jobs").at(0).at("id").to_number<std::uint64_t>());
  auto job_path = "/api/jobs/" + id;
  auto history = [&](http_client& cl) {
    auto j = cl.request("GET", job_path, "", d.acme);
    BOOST_REQUIRE(j.status == 200);
    return std::pair{std::string{j.json().at("state").as_string()},
                     j.json().at("history").as_array().size()};
  };
  BOOST_REQUIRE(history(c).second == 2u);

  // Only an admin pauses or continues.
  BOOST_TEST(c.request("POST", "/api/admin/queues/pause", "", d.acme).status
             == 403);
  BOOST_TEST(
      c.request("POST", "/api/admin/queues/continue", "", d.globex).status
      == 403);
  auto paused = c.request("POST", "/api/admin/queues/pause", "", d.admin);
  BOOST_TEST_INFO(paused.body);
  BOOST_REQUIRE(paused.status == 200);
  BOOST_TEST(paused.json().at("paused").as_bool());

  auto retried
      = c.request("POST", "/api/jobs/failed/" + id + "/retry", "", d.acme);
  BOOST_REQUIRE(retried.status == 202);
  auto changed
      = c.request("PATCH", "/api/customers/qp1", R"({"name":"Ada C"})", d.acme);
  BOOST_REQUIRE(changed.status == 200);
  auto still_waiting = [&](http_client& cl) {
    std::this_thread::sleep_for(1500ms);
    auto q = cl.request("GET", "/api/queues", "", d.acme);
    BOOST_TEST_INFO(q.body);
    BOOST_REQUIRE(q.status == 200);
    BOOST_TEST(q.json().at("paused").as_bool());
    BOOST_TEST(events_behind(q) > 0);
    auto [state, attempts] = history(cl);
    BOOST_TEST(state != "failed");
    BOOST_TEST(attempts == 2u);
  };
  still_waiting(c);

  d.restart_with(failing_sync());
  http_client c2{d.port};
  still_waiting(c2);

  auto run = jobs_cli(d, {"continue"});
  BOOST_TEST_INFO(run.out);
  BOOST_REQUIRE(run.rc == 0);
  auto caught_up = poll(c2, "/api/queues", d.acme, [](const http_reply& r) {
    return !r.json().at("paused").as_bool() && events_behind(r) == 0;
  });
  BOOST_TEST_INFO(caught_up.body);
  BOOST_TEST(!caught_up.json().at("paused").as_bool());
  BOOST_TEST(events_behind(caught_up) == 0);
  auto ran = poll(c2, job_path, d.acme, [](const http_reply& r) {
    return r.json().at("state").as_string() == "failed"
           && r.json().at("history").as_array().size() == 4;
  });
  BOOST_TEST_INFO(ran.body);
  BOOST_TEST(ran.json().at("history").as_array().size() == 4u);

  // The CLI pauses a running daemon too, and names a stray argument.
  BOOST_TEST(jobs_cli(d, {"pause", "now"}).rc == 2);
  auto again = jobs_cli(d, {"pause"});
  BOOST_TEST_INFO(again.out);
  BOOST_REQUIRE(again.rc == 0);
  auto shown = poll(c2, "/api/queues", d.admin, [](const http_reply& r) {
    return r.json().at("paused").as_bool();
  });
  BOOST_TEST(shown.json().at("paused").as_bool());
}

/// The events `listener` has not applied, in a GET /api/queues reply.
std::int64_t behind_of(const http_reply& q, const char* listener) {
  auto body = q.json();
  for (const auto& e : body.at("catch_up").as_array())
    if (e.at("listener").as_string() == listener)
      return e.at("events_behind").to_number<std::int64_t>();
  return -1;
}

BOOST_AUTO_TEST_CASE(a_queue_paused_by_name_waits_while_the_others_go_on) {
  // Analytics paused by name: a booking's event waits for its reader,
  // while the appointment subscriber (notifications) and the external
  // sync (default) apply it, and bookings go on past the backpressure
  // lag (the wait is the operator's choice); a continue of that queue
  // lets it catch up.
  daemon_fixture d{{"queues.max_lag_ms=500"}};
  http_client c{d.port};
  auto made = [&](const char* path, const std::string& body) {
    auto r = c.request("POST", path, body, d.acme);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 201);
  };
  made("/api/customers", R"({"id":"cu-p","name":"Ada","phone":"+4930123"})");
  made("/api/services",
       R"({"id":"s-p","name":"Cut","price_cents":100,"duration_minutes":30})");
  made("/api/staff", R"({"id":"st-p","name":"Bo"})");

  auto bogus
      = c.request("POST", "/api/admin/queues/pause?queue=bogus", "", d.admin);
  BOOST_TEST(bogus.status == 422);
  BOOST_TEST(bogus.body.find("queue") != std::string::npos);
  BOOST_TEST(bogus.body.find("analytics") != std::string::npos);
  auto paused = c.request("POST", "/api/admin/queues/pause?queue=analytics", "",
                          d.admin);
  BOOST_TEST_INFO(paused.body);
  BOOST_REQUIRE(paused.status == 200);
  BOOST_TEST(!paused.json().at("paused").as_bool());
  BOOST_TEST(paused.json().at("paused_queues").as_array().size() == 1u);

  made("/api/appointments",
       R"({"customer_id":"cu-p","service_id":"s-p","staff_id":"st-p",
           "start_time":")"
           + switchboard::test::utc_at(2, 10, 0) + "\"}");
  poll(c, "/api/queues", d.admin, [](const http_reply& r) {
    return behind_of(r, "appointment_event_subscriber") == 0
           && behind_of(r, sync_listener) == 0;
  });
  std::this_thread::sleep_for(1500ms);
  auto q = c.request("GET", "/api/queues", "", d.admin);
  BOOST_TEST_INFO(q.body);
  BOOST_TEST(behind_of(q, "appointment_event_subscriber") == 0);
  BOOST_TEST(behind_of(q, sync_listener) == 0);
  BOOST_TEST(behind_of(q, "update_analytics") > 0);
  BOOST_TEST(q.json().at("paused_queues").at(0).as_string() == "analytics");
  auto later
      = c.request("POST", "/api/appointments",
                  R"({"customer_id":"cu-p","service_id":"s-p","staff_id":"st-p",
          "start_time":")"
                      + switchboard::test::utc_at(2, 11, 0) + "\"}",
                  d.acme);
  BOOST_TEST_INFO(later.body);
  BOOST_TEST(later.status == 201);

  // The CLI names a queue it does not know.
  BOOST_TEST(jobs_cli(d, {"continue", "--queue", "bogus"}).rc == 2);
  auto resumed = c.request("POST", "/api/admin/queues/continue?queue=analytics",
                           "", d.admin);
  BOOST_REQUIRE(resumed.status == 200);
  BOOST_TEST(resumed.json().at("paused_queues").as_array().empty());
  auto caught_up = poll(c, "/api/queues", d.admin, [](const http_reply& r) {
    return behind_of(r, "update_analytics") == 0;
  });
  BOOST_TEST(behind_of(caught_up, "update_analytics") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
