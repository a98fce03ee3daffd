// The store tools of the command line, run as the real binary on a store
// the test fills through a real node: events, outbox, jobs, replay, check;
// and a CLI write while `switchboard serve` holds the same store.

#include <fstream>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <caf/scoped_actor.hpp>

#include <actors/interfaces.hpp>
#include <actors/listeners.hpp>
#include <actors/listeners/catch_up.hpp>
#include <actors/node.hpp>
#include <actors/runtime.hpp>
#include <app/config.hpp>
#include <messages/json.hpp>
#include <store/codec.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>
#include <store/writer.hpp>

#include "tests/store/job_queue_blocking.hpp"
#include "tests/support/process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::child_process;
using switchboard::test::temp_dir;

namespace {

using counters = std::vector<std::pair<std::string, std::int64_t>>;

struct cli_result {
  int rc = -1;
  std::string out;        ///< Output without the store line.
  std::string store_line; ///< "switchboard CMD: store PATH (config ...)".
};

/// Runs `switchboard <args...> --set store.path=<data>`.
cli_result cli(const std::string& data, std::vector<std::string> args) {
  std::vector<std::string> argv{SWITCHBOARD_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--set");
  argv.push_back("store.path=" + data);
  child_process p(argv);
  cli_result r;
  r.rc = p.wait(60s);
  // Every tool names the store it opens in one line on stderr.
  std::istringstream lines{p.output()};
  std::string line;
  while (std::getline(lines, line)) {
    if (r.store_line.empty() && line.rfind("switchboard ", 0) == 0
        && line.find(": store /") != std::string::npos)
      r.store_line = line;
    else
      r.out += line + '\n';
  }
  return r;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

store::options store_at(const std::string& data) {
  store::options o;
  o.path = data;
  o.sync = store::options::sync_mode::none;
  return o;
}

customer make_customer(const std::string& id, bool sms) {
  customer c;
  c.id = id;
  c.company_id = "c1";
  c.name = "Customer " + id;
  c.phone = "+49301234" + id;
  c.email = id + "@example.com";
  c.prefers_sms = sms;
  c.prefers_email = true;
  return c;
}

/// Fills a store at `data` through a real node: customers, appointments
/// and a call, and waits until the analytics queue has counted them.
/// Returns the live analytics counters.
counters populate(const std::string& data,
                  std::size_t stream_index_batch = 65536) {
  runtime_config cfg{1};
  caf::actor_system sys{cfg};
  node_options o;
  o.store = store_at(data);
  o.store.stream_index_batch = stream_index_batch;
  auto started = node::start(sys, o);
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error()));
  auto& n = *started;
  caf::scoped_actor self{sys};
  auto now = now_ms();
  std::vector<envelope> evs;
  customer_source sources[]
      = {customer_source::phone, customer_source::web, customer_source::phone};
  for (int i = 0; i < 3; ++i) {
    auto c = make_customer("cu" + std::to_string(i), i != 1);
    evs.push_back(
        make_envelope(customer_created{c, sources[i]}, c.id, 0, "c1", now, {}));
  }
  for (int i = 0; i < 4; ++i) {
    appointment a;
    a.id = "a" + std::to_string(i);
    a.company_id = "c1";
    a.branch_id = i % 2 == 0 ? "b1" : "b2";
    a.service_id = "s1";
    a.staff_id = "st" + std::to_string(i);
    a.customer_id = "cu" + std::to_string(i % 3);
    a.start_time = now + (48 + i) * 3600 * 1000;
    a.end_time = a.start_time + 1800 * 1000;
    a.price_cents = 1000 * (i + 1);
    evs.push_back(
        make_envelope(appointment_created{a, i == 0 ? "phone" : "web", {}},
                      a.id, 0, "c1", now, {}));
  }
  call_completed cc;
  cc.call.id = "call1";
  cc.call.company_id = "c1";
  cc.call.from_number = "+4930123";
  cc.analysis.sentiment = "positive";
  evs.push_back(make_envelope(cc, "call1", 0, "c1", now, {}));
  for (auto& e : evs) {
    dispatch_request req;
    req.events.push_back(e);
    bool ok = false;
    self->request(n->dispatcher(), 10s, dispatch_atom::value, req)
        .receive(
            [&](const dispatch_result&) {
              ok = true;
            },
            [&](caf::error& err) {
              BOOST_FAIL("dispatch failed: " << sys.render(err));
            });
    BOOST_REQUIRE(ok);
  }
  auto& st = n->store();
  // UpdateAnalytics reads the log at once: wait until its checkpoint is
  // the last event. The external sync runs at once: wait until its
  // queue is empty.
  for (int i = 0; i < 400; ++i) {
    auto cp
        = read_checkpoint(*st.projections, listener_names::update_analytics);
    BOOST_REQUIRE(cp);
    if (cp->value_or(0) == *st.events->last_sequence())
      break;
    std::this_thread::sleep_for(25ms);
  }
  for (const char* q : {"analytics", "default"}) {
    for (int i = 0; i < 400; ++i) {
      auto c = st.jobs->counts(q, now_ms());
      BOOST_REQUIRE(c);
      if (c->ready + c->delayed + c->leased == 0)
        break;
      std::this_thread::sleep_for(25ms);
    }
  }
  auto live = st.projections->counters("analytics/");
  BOOST_REQUIRE(live);
  BOOST_REQUIRE(!live->empty());
  auto out = *live;
  n->stop();
  return out;
}

/// Opens the store in this process (while no daemon writes, or as another
/// reader while one does).
std::unique_ptr<node_store> open_store(const std::string& data) {
  auto st = node_store::open(store_at(data));
  BOOST_REQUIRE_MESSAGE(st, (st ? "" : st.error()));
  return std::move(*st);
}

/// Adds a failed job of `listener` for the event with sequence `seq`.
std::uint64_t add_failed_job(node_store& st, std::uint64_t seq,
                             const std::string& queue,
                             const std::string& listener) {
  auto ev = st.events->read_event(seq);
  BOOST_REQUIRE(ev);
  store::job j;
  j.queue = queue;
  j.listener = listener;
  j.event_id = ev->id;
  j.event_seq = seq;
  j.max_tries = 1;
  j.timeout_ms = 5000;
  j.created_at = now_ms();
  j.due_at = j.created_at;
  auto e = store::test::enqueue(*st.jobs, j);
  BOOST_REQUIRE(e);
  BOOST_REQUIRE(
      store::test::fail(*st.jobs, e->id, "provider said no", now_ms()));
  return e->id;
}

/// Deletes the first entry of the named database with a raw LMDB write.
/// Runs `fn` on a cursor over `db` in a write transaction of its own.
template <class F>
void edit_db(const std::string& data, const char* db, F fn) {
  auto env = store::environment::open(store_at(data));
  BOOST_REQUIRE(env);
  auto dbi = (*env)->open_db(db);
  BOOST_REQUIRE(dbi);
  auto txn = (*env)->begin_write();
  BOOST_REQUIRE(txn);
  MDB_cursor* c = nullptr;
  BOOST_REQUIRE(mdb_cursor_open(txn->handle(), *dbi, &c) == 0);
  fn(c);
  mdb_cursor_close(c);
  BOOST_REQUIRE(txn->commit());
}

void delete_first_entry(const std::string& data, const char* db) {
  edit_db(data, db, [](MDB_cursor* c) {
    MDB_val k, v;
    BOOST_REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
    BOOST_REQUIRE(mdb_cursor_del(c, 0) == 0);
  });
}

/// Overwrites the value of the last entry of `db` with bytes that do not
/// decode.
void garble_last_entry(const std::string& data, const char* db) {
  edit_db(data, db, [](MDB_cursor* c) {
    MDB_val k, v;
    BOOST_REQUIRE(mdb_cursor_get(c, &k, &v, MDB_LAST) == 0);
    char junk[3] = {'\x7f', '\x7f', '\x7f'};
    MDB_val garbage{sizeof junk, junk};
    BOOST_REQUIRE(mdb_cursor_put(c, &k, &garbage, MDB_CURRENT) == 0);
  });
}

bool option_exists(std::string_view key) {
  for (const auto& spec : app::option_specs())
    if (spec.key == key)
      return true;
  return false;
}

/// Runs `switchboard check` on the store at `data` and checks that it
/// exits with `rc` and says each of `says`.
void check_says(const std::string& data, int rc,
                std::initializer_list<std::string> says) {
  auto r = cli(data, {"check"});
  BOOST_TEST_CONTEXT(r.out) {
    BOOST_TEST(r.rc == rc);
    for (const auto& s : says)
      BOOST_TEST(r.out.find(s) != std::string::npos, "says " << s);
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli_suite)

BOOST_AUTO_TEST_CASE(every_tool_has_help) {
  for (const char* cmd : {"events", "jobs", "replay", "check", "outbox"}) {
    child_process p({SWITCHBOARD_BINARY, cmd, "--help"});
    BOOST_TEST_INFO(cmd);
    BOOST_TEST(p.wait(10s) == 0);
    BOOST_TEST(p.output().find(std::string{"usage: switchboard "} + cmd)
               != std::string::npos);
  }
  // A store that does not exist is an error, not a new store.
  temp_dir dir;
  auto r = cli(dir.path() + "/nothing", {"events"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.out.find("no store at") != std::string::npos);
  auto bad = cli(dir.path(), {"events", "--limit", "many"});
  BOOST_TEST(bad.rc == 2);
  BOOST_TEST(bad.out.find("--limit expects") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(events_are_listed_by_type_aggregate_and_sequence) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  populate(data);
  auto all = cli(data, {"events"});
  BOOST_TEST_INFO(all.out);
  BOOST_REQUIRE(all.rc == 0);
  BOOST_TEST(all.out.find("8 event(s)") != std::string::npos);
  auto created = cli(data, {"events", "--type", "customer.created"});
  BOOST_TEST(created.rc == 0);
  BOOST_TEST(count_of(created.out, "customer.created") == 3u);
  BOOST_TEST(created.out.find("appointment.created") == std::string::npos);
  // Ids are per company: a stream is named with its company.
  auto stream = cli(
      data, {"events", "--aggregate", "appointment/a2", "--company", "c1"});
  BOOST_TEST(stream.rc == 0);
  BOOST_TEST(stream.out.find("appointment/a2 v1") != std::string::npos);
  BOOST_TEST(stream.out.find("1 event(s)") != std::string::npos);
  auto page = cli(data, {"events", "--after", "2", "--limit", "2"});
  BOOST_TEST(page.rc == 0);
  BOOST_TEST(page.out.rfind("3  ", 0) == 0u); // starts at sequence 3
  BOOST_TEST(page.out.find("2 event(s)") != std::string::npos);
  auto json = cli(data, {"events", "--json", "--type", "call.completed"});
  BOOST_TEST(json.rc == 0);
  auto v = boost::json::parse(json.out.substr(0, json.out.find('\n')));
  BOOST_TEST(v.as_object().at("type").as_string() == "call.completed");
  BOOST_TEST(v.as_object().at("specversion").as_string() == "1.0");
  // The default endpoint wrote the Cal.com and CRM calls to the outbox.
  auto crm = cli(data, {"outbox", "--channel", "crm"});
  BOOST_TEST_INFO(crm.out);
  BOOST_TEST(crm.rc == 0);
  BOOST_TEST(crm.out.find("4 message(s)") != std::string::npos);
  BOOST_TEST(crm.out.find("calcom") == std::string::npos);
  // --json: one message a line, as the API renders it, with its delivery.
  auto crm_json = cli(data, {"outbox", "--channel", "crm", "--json"});
  BOOST_TEST(crm_json.rc == 0);
  auto m = boost::json::parse(crm_json.out.substr(0, crm_json.out.find('\n')))
               .as_object();
  BOOST_TEST(m.at("channel").as_string() == "crm");
  BOOST_TEST(m.at("created_at").as_string().size() == 24u); // RFC 3339, ms
  BOOST_TEST(m.contains("idempotency_key"));
  BOOST_TEST(m.contains("status"));
  BOOST_TEST(m.contains("status_at"));
  BOOST_TEST(m.at("correlation_id").is_string());
}

BOOST_AUTO_TEST_CASE(replay_analytics_gives_the_live_counters) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  auto live = populate(data);
  {
    // Damage the projection: a wrong counter and a stray key.
    auto st = open_store(data);
    auto* proj = st->projections.get();
    auto key = live.front().first;
    BOOST_REQUIRE(st->writer->execute([&](store::write_txn& txn) {
      if (auto r = proj->add_in(txn, key, 1000); !r)
        return r;
      return proj->add_in(txn, "analytics/stray/company=c9/count", 7);
    }));
  }
  auto r = cli(data, {"replay", "analytics"});
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE(r.rc == 0);
  BOOST_TEST(r.out.find("replay analytics: 8 event(s) in the log")
             != std::string::npos);
  BOOST_TEST(r.out.find("scanned 8 event(s) in 1 chunk(s) and 0 appended "
                        "meanwhile, counted 8")
             != std::string::npos);
  auto st = open_store(data);
  auto rebuilt = st->projections->counters("analytics/");
  BOOST_REQUIRE(rebuilt);
  auto lines = [](const counters& cs) {
    std::vector<std::string> out;
    for (const auto& [k, v] : cs)
      out.push_back(k + " = " + std::to_string(v));
    return out;
  };
  BOOST_TEST(lines(*rebuilt) == lines(live), boost::test_tools::per_element());
  // The daemon's UpdateAnalytics goes on after the last event counted.
  auto cp = read_checkpoint(*st->projections, listener_names::update_analytics);
  BOOST_REQUIRE((cp && cp->has_value()));
  BOOST_TEST(**cp == 8u);
  auto unknown = cli(data, {"replay", "nonsense"});
  BOOST_TEST(unknown.rc == 2);
}

BOOST_AUTO_TEST_CASE(check_passes_on_a_good_store_and_fails_on_a_corrupt_one) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  populate(data);
  {
    auto st = open_store(data);
    add_failed_job(*st, 1, "analytics", listener_names::update_analytics);
  }
  check_says(data, 0, {"store is consistent: 8 event(s)"});
  delete_first_entry(data, "event_ids");
  check_says(data, 1,
             {"event_ids: event ", "is not indexed", "1 problem(s) found"});
  delete_first_entry(data, "jobs_failed");
  check_says(data, 1, {"has no index entry", "2 problem(s) found"});
  // A log record that does not decode: the daemon refuses to open the
  // store (it cannot rebuild its stream index), check opens it and says
  // where the damage is.
  garble_last_entry(data, "events");
  check_says(data, 1, {"events: record 8 does not decode"});
  auto events = cli(data, {"events"});
  BOOST_TEST(events.rc != 0);
}

BOOST_AUTO_TEST_CASE(check_finds_a_removed_stream_entry) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  // Flush cycles of one entry: the streams database holds the entries.
  populate(data, 1);
  check_says(data, 0, {});
  std::string removed;
  edit_db(data, "streams", [&](MDB_cursor* c) {
    MDB_val k, v;
    BOOST_REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
    BOOST_REQUIRE(v.mv_size == 8u);
    removed = std::to_string(store::get_be64(v.mv_data));
    BOOST_REQUIRE(mdb_cursor_del(c, 0) == 0);
  });
  check_says(data, 1, {"streams: event " + removed + " (", "is in no stream"});
}

BOOST_AUTO_TEST_CASE(
    check_finds_an_acknowledged_event_missing_from_its_stream) {
  // What a second daemon on the same data directory did: it decided the
  // next version from its own memory, which had not seen the stream, and
  // appended customer cu0 at version 1 again. Its append succeeded (it
  // was acknowledged), and the stream shows only one of the two.
  temp_dir dir;
  auto data = dir.path() + "/data";
  populate(data);
  {
    // A writer that did not rebuild its memory of the streams.
    auto st = node_store::open(store_at(data), false);
    BOOST_REQUIRE_MESSAGE(st, (st ? "" : st.error()));
    auto c = make_customer("cu0", true);
    c.name = "Second daemon's Ada";
    auto e = make_envelope(customer_created{c, customer_source::web}, c.id, 0,
                           "c1", now_ms(), {});
    auto seqs
        = (*st)->events->append({e}, store::expected_version::no_stream());
    BOOST_REQUIRE(seqs);
    BOOST_REQUIRE(seqs->front() == 9u);
  }
  check_says(data, 1,
             {"streams: event 9 (customer/cu0 v1) repeats a "
              "version its stream has already (event 1 is at v1)",
              "1 problem(s) found"});
}

// What stores of earlier versions allowed when two companies raced for one
// id: an event of company c2 appended to c1's stream cu0 as its version 2.
// The store cannot make it any more (streams are per company), so it is
// made by hand: c2's own event, its record then rewritten to say v2.
BOOST_AUTO_TEST_CASE(check_finds_a_stream_of_two_companies) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  populate(data);
  {
    auto st = open_store(data);
    auto c = make_customer("cu0", true);
    c.company_id = "c2";
    c.name = "Globex's Ada";
    auto e
        = make_envelope(customer_updated{c, {}}, c.id, 0, "c2", now_ms(), {});
    auto seqs = st->events->append({e}, store::expected_version::any());
    BOOST_REQUIRE(seqs);
    BOOST_REQUIRE(seqs->front() == 9u);
  }
  check_says(data, 0, {}); // two streams of one id: as it should be
  edit_db(data, "events", [](MDB_cursor* c) {
    MDB_val k, v;
    BOOST_REQUIRE(mdb_cursor_get(c, &k, &v, MDB_LAST) == 0);
    auto view = store::decode_record(v.mv_data, v.mv_size);
    BOOST_REQUIRE(view);
    auto e = view->to_envelope();
    e.version = 2;
    std::string rec(store::record_size(e), '\0');
    store::encode_record(e, rec.data());
    MDB_val nv{rec.size(), rec.data()};
    BOOST_REQUIRE(mdb_cursor_put(c, &k, &nv, MDB_CURRENT) == 0);
  });
  check_says(data, 1,
             {"tenancy: stream customer/cu0 holds events of more "
              "than one company (c1 at event 1, then c2 at event "
              "9 v2)"});
}

BOOST_AUTO_TEST_CASE(jobs_are_listed_retried_and_forgotten_while_serving) {
  temp_dir dir;
  auto data = dir.path() + "/data";
  populate(data);
  std::uint64_t keep = 0, drop = 0;
  {
    auto st = open_store(data);
    // Its event was counted already (by the log reader): run again, the
    // job succeeds at once and adds nothing.
    keep
        = add_failed_job(*st, 1, "analytics", listener_names::update_analytics);
    drop
        = add_failed_job(*st, 2, "analytics", listener_names::update_analytics);
  }
  std::vector<std::string> argv{SWITCHBOARD_BINARY,
                                "serve",
                                "--config",
                                std::string{SWITCHBOARD_SOURCE_DIR}
                                    + "/config.ini",
                                "--set",
                                "store.path=" + data};
  if (option_exists("http.port")) {
    argv.push_back("--set");
    argv.push_back("http.port=0");
  }
  child_process daemon(argv);
  BOOST_TEST_INFO(daemon.output());
  BOOST_REQUIRE(!daemon.wait_for("serving", 30s).empty());
  auto listed = cli(data, {"jobs", "failed"});
  BOOST_TEST_INFO(listed.out);
  BOOST_TEST(listed.rc == 0);
  BOOST_TEST(listed.out.find("2 failed job(s)") != std::string::npos);
  BOOST_TEST(listed.out.find("provider said no") != std::string::npos);
  // Writes from the CLI while the daemon holds the store.
  auto forget = cli(data, {"jobs", "forget", std::to_string(drop)});
  BOOST_TEST_INFO(forget.out);
  BOOST_TEST(forget.rc == 0);
  auto again = cli(data, {"jobs", "forget", std::to_string(drop)});
  BOOST_TEST(again.rc == 1);
  BOOST_TEST(again.out.find("no failed job with id") != std::string::npos);
  auto retry = cli(data, {"jobs", "retry", std::to_string(keep)});
  BOOST_TEST_INFO(retry.out);
  BOOST_TEST(retry.rc == 0);
  // The tool names the store it wrote to and the daemon that holds it.
  BOOST_TEST_INFO(retry.store_line);
  BOOST_TEST(
      retry.store_line.rfind("switchboard jobs: store " + data + " (config ", 0)
      == 0u);
  auto held = "; daemon pid " + std::to_string(daemon.pid()) + " holds it";
  BOOST_TEST(retry.store_line.size() > held.size());
  BOOST_TEST(retry.store_line.substr(retry.store_line.size() - held.size())
             == held);
  // The daemon picks the retried job up and runs it to success.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto st = open_store(data);
    auto j = st->jobs->get(keep);
    gone = !j && j.error().code == store::errc::not_found;
    if (!gone)
      std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(gone);
  auto none = cli(data, {"jobs", "failed", "--json"});
  BOOST_TEST(none.rc == 0);
  BOOST_TEST(none.out.find("\"id\"") == std::string::npos);
  // So does a replay: one write transaction, and the daemon's analytics
  // goes on after the last event it counted.
  auto replay = cli(data, {"replay", "analytics"});
  BOOST_TEST_INFO(replay.out);
  BOOST_TEST(replay.rc == 0);
  // Readers and the consistency check run beside the daemon too.
  check_says(data, 0, {});
  auto events = cli(data, {"events", "--type", "appointment.created"});
  BOOST_TEST(count_of(events.out, "appointment.created") == 4u);
  daemon.signal(SIGTERM);
  BOOST_TEST(daemon.wait(30s) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
