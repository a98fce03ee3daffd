#include "store/codec.hpp"
#include "store/job_queue.hpp"
#include "store/lmdb_util.hpp"
#include "store/outbox.hpp"
#include "store/record.hpp"
#include "store/traces.hpp"

#include "fixture.hpp"

#include "tests/store/job_queue_blocking.hpp"
#include "tests/store/prelude.hpp"
#include <boost/test/unit_test.hpp>

namespace {

constexpr timestamp_ms t0 = 1700000000000;

struct trace_fixture : store_fixture {
  std::unique_ptr<trace_index>& traces = part<trace_index>();
  std::unique_ptr<job_queue>& jobs = part<job_queue>();
  std::unique_ptr<message_outbox>& outbox = part<message_outbox>();

  trace_fixture() {
    jobs->trace_into(traces.get());
    outbox->trace_into(traces.get());
  }

  static job make_job(const std::string& company, const std::string& corr) {
    job j;
    j.queue = "notifications";
    j.listener = "send_confirmation";
    j.event_id = "ev-" + corr;
    j.event_seq = 1;
    j.company_id = company;
    j.correlation_id = corr;
    j.created_at = t0;
    j.due_at = t0;
    j.max_tries = 1;
    return j;
  }

  /// Entries in the database `name` (`traces`, `trace_ends`, `trace_done`).
  std::size_t entries(const char* name) {
    auto dbi = env->open_db(name);
    BOOST_REQUIRE_MESSAGE(dbi, why(dbi));
    auto rtxn = env->begin_read();
    BOOST_REQUIRE_MESSAGE(rtxn, why(rtxn));
    MDB_stat st;
    BOOST_REQUIRE(mdb_stat(rtxn->handle(), *dbi, &st) == 0);
    return st.ms_entries;
  }

  /// The key of job `id`'s entry under correlation id `corr`.
  static std::string entry_key(const std::string& corr, std::uint64_t id) {
    std::string key;
    key.push_back(static_cast<char>(corr.size()));
    key += corr;
    key.push_back('j');
    key.resize(key.size() + 8);
    put_be64(key.data() + key.size() - 8, id);
    return key;
  }

  /// The bytes of job `id`'s entry under `corr` ("" when none).
  std::string raw_entry(const std::string& corr, std::uint64_t id) {
    auto dbi = env->open_db("traces");
    BOOST_REQUIRE_MESSAGE(dbi, why(dbi));
    auto rtxn = env->begin_read();
    BOOST_REQUIRE_MESSAGE(rtxn, why(rtxn));
    auto key = entry_key(corr, id);
    auto k = as_val(key);
    MDB_val v;
    if (mdb_get(rtxn->handle(), *dbi, &k, &v) != 0)
      return {};
    return std::string{static_cast<const char*>(v.mv_data), v.mv_size};
  }

  trace_entries read(const std::string& corr, const std::string& company) {
    auto r = traces->read(
        corr,
        [&](std::string_view c) {
          return company.empty() || c == company;
        },
        100);
    BOOST_REQUIRE_MESSAGE(r, why(r));
    return *r;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(traces_suite)

BOOST_AUTO_TEST_CASE(correlation_ids_follow_the_id_rules) {
  struct example {
    std::string id;
    bool accepted;
  };
  const example examples[] = {
      {"call-123", true},
      {"crm-sync:42", true},
      {"", false},
      {"has space", false},
      {"a/b", false},
      {std::string(129, 'x'), false},
      {std::string(128, 'x'), true},
  };
  for (const auto& e : examples)
    BOOST_TEST_CONTEXT("valid_correlation_id(\"" << e.id << "\") ("
                                                 << e.id.size() << " chars)") {
      BOOST_TEST(valid_correlation_id(e.id) == e.accepted);
    }
}

BOOST_FIXTURE_TEST_CASE(jobs_keep_their_outcome_after_the_queue_deletes_them,
                        trace_fixture) {
  auto ok_job = test::enqueue(*jobs, make_job("acme", "c1"));
  BOOST_REQUIRE_MESSAGE(ok_job, why(ok_job));
  auto bad_job = test::enqueue(*jobs, make_job("acme", "c1"));
  BOOST_REQUIRE_MESSAGE(bad_job, why(bad_job));
  auto e = read("c1", "acme");
  BOOST_REQUIRE(e.jobs.size() == 2u);
  BOOST_TEST(e.jobs[0].outcome == job_outcome::pending);
  auto leased = test::lease(*jobs, "notifications", t0, 10, t0 + 1000);
  BOOST_REQUIRE_MESSAGE(leased, why(leased));
  BOOST_REQUIRE(leased->size() == 2u);
  BOOST_TEST(read("c1", "acme").jobs[1].outcome == job_outcome::leased);
  BOOST_REQUIRE(test::ack(*jobs, ok_job->id));
  BOOST_REQUIRE(test::fail(*jobs, bad_job->id, "provider said no", t0 + 50));
  // The acknowledged job is gone from the queue, not from the trace.
  BOOST_TEST(!jobs->get(ok_job->id));
  e = read("c1", "acme");
  BOOST_REQUIRE(e.jobs.size() == 2u);
  BOOST_TEST(e.jobs[0].record.id == ok_job->id);
  BOOST_TEST(e.jobs[0].outcome == job_outcome::succeeded);
  BOOST_TEST(e.jobs[0].finished_at > 0);
  BOOST_TEST(e.jobs[0].record.attempts == 1u);
  BOOST_TEST(e.jobs[1].outcome == job_outcome::failed);
  BOOST_REQUIRE(e.jobs[1].record.history.size() == 1u);
  BOOST_TEST(e.jobs[1].record.history[0].error == "provider said no");
  BOOST_TEST(e.jobs[1].record.correlation_id == "c1");
  // Forgotten: gone from the failed jobs, kept in the trace as such.
  BOOST_REQUIRE(jobs->delete_failed(bad_job->id));
  BOOST_TEST(read("c1", "acme").jobs[1].outcome == job_outcome::forgotten);
  // The queue's own record kept the correlation id.
  auto again = test::enqueue(*jobs, make_job("acme", "c2"));
  BOOST_REQUIRE(again);
  auto got = jobs->get(again->id);
  BOOST_REQUIRE(got);
  BOOST_TEST(got->correlation_id == "c2");
}

BOOST_FIXTURE_TEST_CASE(entries_are_read_by_company, trace_fixture) {
  BOOST_REQUIRE(test::enqueue(*jobs, make_job("acme", "shared")));
  BOOST_REQUIRE(test::enqueue(*jobs, make_job("globex", "shared")));
  auto prefix = trace_index::event_prefix("shared");
  auto ok = w->execute([&](write_txn& txn) -> result<void> {
    if (auto r = traces->event_in(txn.handle(), prefix, "acme", 5); !r)
      return r;
    auto m = sms_message("globex", "+4930123", "");
    m.correlation_id = "shared";
    m.causation_id = "job:2";
    auto id = outbox->add_in(txn, m);
    if (!id)
      return make_unexpected(id.error());
    return {};
  });
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  auto a = read("shared", "acme");
  BOOST_TEST(a.event_seqs == std::vector<std::uint64_t>{5});
  BOOST_TEST(a.jobs.size() == 1u);
  BOOST_TEST(a.message_ids.empty());
  auto g = read("shared", "globex");
  BOOST_TEST(g.event_seqs.empty());
  BOOST_TEST(g.jobs.size() == 1u);
  BOOST_REQUIRE(g.message_ids.size() == 1u);
  auto m = outbox->get(g.message_ids[0]);
  BOOST_REQUIRE_MESSAGE(m, why(m));
  BOOST_TEST(m->causation_id == "job:2");
  BOOST_TEST(m->correlation_id == "shared");
  // A prefix of another id does not leak into it.
  BOOST_TEST(read("share", "").jobs.empty());
  BOOST_TEST(read("nobody", "").event_seqs.empty());
}

BOOST_FIXTURE_TEST_CASE(a_job_writes_the_trace_when_queued_and_at_its_end,
                        trace_fixture) {
  auto a = test::enqueue(*jobs, make_job("acme", "c1"));
  BOOST_REQUIRE_MESSAGE(a, why(a));
  BOOST_TEST(entries("traces") == 1u);
  // Leases, retries and failures change the queue's record only; the
  // trace reads it from there.
  BOOST_REQUIRE(test::lease(*jobs, "notifications", t0, 10, t0 + 1000));
  BOOST_TEST(read("c1", "acme").jobs.at(0).outcome == job_outcome::leased);
  BOOST_REQUIRE(test::retry(*jobs, a->id, t0 + 10, "busy", false, t0 + 5));
  auto e = read("c1", "acme");
  BOOST_TEST(e.jobs.at(0).outcome == job_outcome::pending);
  BOOST_TEST(e.jobs.at(0).record.last_error == "busy");
  BOOST_TEST(entries("traces") == 1u);
  BOOST_TEST(entries("trace_ends") == 0u);
  // Its end goes to trace_ends under its id; its entry is not written
  // again.
  auto entry_before = raw_entry("c1", a->id);
  BOOST_REQUIRE(test::lease(*jobs, "notifications", t0 + 10, 10, t0 + 1000));
  BOOST_REQUIRE(test::ack(*jobs, a->id));
  BOOST_TEST(entries("trace_ends") == 1u);
  BOOST_TEST(entries("trace_done") == 0u);
  BOOST_TEST(raw_entry("c1", a->id) == entry_before);
  e = read("c1", "acme");
  BOOST_REQUIRE(e.jobs.size() == 1u);
  BOOST_TEST(e.jobs[0].outcome == job_outcome::succeeded);
  BOOST_TEST(e.jobs[0].record.attempts == 2u);
  BOOST_TEST(e.jobs[0].record.history.size() == 1u);
  // Another company reads nothing of it.
  BOOST_TEST(read("c1", "globex").jobs.empty());
}

// Two indexes of the same environment (as two processes would be) write
// their ends under the jobs' ids, which the queue never gives twice:
// every end stays readable.
BOOST_FIXTURE_TEST_CASE(ends_of_another_index_are_not_overwritten,
                        trace_fixture) {
  auto& other_traces = part<trace_index>();
  auto& other_jobs = part<job_queue>();
  other_jobs->trace_into(other_traces.get());
  auto end = [&](job_queue& q, const std::string& corr) {
    auto a = test::enqueue(q, make_job("acme", corr));
    BOOST_REQUIRE_MESSAGE(a, why(a));
    BOOST_REQUIRE(test::lease(q, "notifications", t0, 10, t0 + 1000));
    auto acked = test::ack(q, a->id);
    BOOST_REQUIRE_MESSAGE(acked, why(acked));
  };
  end(*jobs, "k1");
  end(*other_jobs, "k2");
  end(*jobs, "k3");
  end(*other_jobs, "k4");
  BOOST_TEST(entries("trace_ends") == 4u);
  for (const char* corr : {"k1", "k2", "k3", "k4"}) {
    auto e = read(corr, "acme");
    BOOST_REQUIRE_MESSAGE(e.jobs.size() == 1u, corr);
    BOOST_TEST(e.jobs[0].outcome == job_outcome::succeeded, corr);
    BOOST_TEST(e.jobs[0].record.correlation_id == corr);
  }
}

// An end written before trace_ends: appended to trace_done under a number
// of its own, which the job's entry points at. It is still read.
BOOST_FIXTURE_TEST_CASE(an_end_in_trace_done_is_read_where_its_entry_points,
                        trace_fixture) {
  auto a = test::enqueue(*jobs, make_job("acme", "c1"));
  BOOST_REQUIRE_MESSAGE(a, why(a));
  BOOST_REQUIRE(test::lease(*jobs, "notifications", t0, 10, t0 + 1000));
  BOOST_REQUIRE(test::ack(*jobs, a->id));
  // Move the end to trace_done, key 7, as the earlier layout had it.
  auto ends = env->open_db("trace_ends");
  auto done = env->open_db("trace_done");
  auto all = env->open_db("traces");
  BOOST_REQUIRE(ends && done && all);
  auto ok = w->execute([&](write_txn& txn) -> result<void> {
    std::string id_key(8, '\0');
    put_be64(id_key.data(), a->id);
    auto ik = as_val(id_key);
    MDB_val v;
    if (auto rc = mdb_get(txn.handle(), *ends, &ik, &v); rc != 0)
      return fail_mdb(rc, "mdb_get");
    std::string value{static_cast<const char*>(v.mv_data), v.mv_size};
    if (auto rc = mdb_del(txn.handle(), *ends, &ik, nullptr); rc != 0)
      return fail_mdb(rc, "mdb_del");
    std::string seven(8, '\0');
    put_be64(seven.data(), 7);
    auto sk = as_val(seven);
    auto sv = as_val(value);
    if (auto rc = mdb_put(txn.handle(), *done, &sk, &sv, 0); rc != 0)
      return fail_mdb(rc, "mdb_put");
    record_writer entry{2};
    entry.str("acme").u64(7);
    auto ek = as_val(entry_key("c1", a->id));
    auto ev = as_val(entry.bytes());
    if (auto rc = mdb_put(txn.handle(), *all, &ek, &ev, 0); rc != 0)
      return fail_mdb(rc, "mdb_put");
    return {};
  });
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  BOOST_TEST(entries("trace_ends") == 0u);
  auto e = read("c1", "acme");
  BOOST_REQUIRE(e.jobs.size() == 1u);
  BOOST_TEST(e.jobs[0].outcome == job_outcome::succeeded);
  BOOST_TEST(e.jobs[0].record.id == a->id);
}

BOOST_FIXTURE_TEST_CASE(a_job_traced_in_format_1_keeps_its_entry,
                        trace_fixture) {
  auto a = test::enqueue(*jobs, make_job("acme", "old"));
  BOOST_REQUIRE_MESSAGE(a, why(a));
  // The entry as the store wrote it before trace_done: the whole record,
  // its outcome as of its last change.
  auto stale = jobs->get(a->id);
  BOOST_REQUIRE(stale);
  auto dbi = env->open_db("traces");
  BOOST_REQUIRE(dbi);
  auto ok = w->execute([&](write_txn& txn) -> result<void> {
    std::string key;
    key.push_back(3);
    key += "old";
    key.push_back('j');
    key.resize(key.size() + 8);
    put_be64(key.data() + key.size() - 8, a->id);
    record_writer v{1};
    v.str("acme").u64(0).i64(0).str(encode_job_record(*stale));
    auto k = as_val(key);
    auto val = as_val(v.bytes());
    if (auto rc = mdb_put(txn.handle(), *dbi, &k, &val, 0); rc != 0)
      return fail_mdb(rc, "mdb_put");
    return {};
  });
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  // While the job lives, the queue's record wins over the stale entry.
  BOOST_REQUIRE(test::lease(*jobs, "notifications", t0, 10, t0 + 1000));
  BOOST_TEST(read("old", "acme").jobs.at(0).outcome == job_outcome::leased);
  // Its end rewrites the entry in format 1, as before.
  BOOST_REQUIRE(test::ack(*jobs, a->id));
  BOOST_TEST(entries("trace_done") == 0u);
  BOOST_TEST(entries("trace_ends") == 0u);
  auto e = read("old", "acme");
  BOOST_REQUIRE(e.jobs.size() == 1u);
  BOOST_TEST(e.jobs[0].outcome == job_outcome::succeeded);
  BOOST_TEST(e.jobs[0].finished_at > 0);
  BOOST_TEST(e.jobs[0].record.attempts == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_job_taken_to_another_member_leaves_the_trace,
                        trace_fixture) {
  BOOST_REQUIRE(test::enqueue(*jobs, make_job("acme", "moving")));
  BOOST_TEST(read("moving", "acme").jobs.size() == 1u);
  auto taken = w->execute([&](write_txn& txn) -> result<void> {
    auto t = jobs->take_company_in(txn, "acme");
    if (!t)
      return make_unexpected(t.error());
    return {};
  });
  BOOST_REQUIRE_MESSAGE(taken, why(taken));
  BOOST_TEST(read("moving", "acme").jobs.empty());
}

BOOST_AUTO_TEST_SUITE_END()
