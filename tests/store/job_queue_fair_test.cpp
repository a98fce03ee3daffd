// The job queue's fair shares across companies, attempt history, durable
// counters, filtered listings and bulk changes, and the migration of
// records of format v1.

#include "store/job_queue.hpp"

#include "job_queue_fixture.hpp"
#include "store/codec.hpp"

#include <boost/test/unit_test.hpp>

#include <lmdb.h>

#include "tests/store/job_queue_blocking.hpp"
#include "tests/store/prelude.hpp"
#include <map>
#include <string>
#include <vector>

namespace {

constexpr timestamp_ms t0 = 1700000000000;

struct fair_fixture : job_queue_fixture {
  /// What the migration's lookup answers, by event sequence.
  std::map<std::uint64_t, std::pair<std::string, std::string>> events;

  fair_fixture() {
    lookup
        = [this](std::uint64_t seq, std::string& company, std::string& type) {
            auto i = events.find(seq);
            if (i == events.end())
              return false;
            company = i->second.first;
            type = i->second.second;
            return true;
          };
  }

  static job make_job(std::string company, timestamp_ms due,
                      std::string listener = "send_notification",
                      std::string queue = "notifications") {
    job j;
    j.queue = std::move(queue);
    j.listener = std::move(listener);
    j.company_id = std::move(company);
    j.event_type = "appointment.created";
    j.event_id = uuid7();
    j.event_seq = 7;
    j.created_at = t0;
    j.due_at = due;
    j.max_tries = 0; // unlimited
    return j;
  }

  /// Enqueues `n` jobs of `company`, all in one transaction.
  std::vector<std::uint64_t> add_many(const std::string& company, std::size_t n,
                                      timestamp_ms due) {
    std::vector<std::uint64_t> ids;
    auto r = w->execute([&](write_txn& txn) -> result<void> {
      ids.clear();
      for (std::size_t i = 0; i < n; ++i) {
        auto got = jobs->enqueue_in(txn, make_job(company, due));
        if (!got)
          return make_unexpected(got.error());
        ids.push_back(got->id);
      }
      return {};
    });
    BOOST_REQUIRE_MESSAGE(r, why(r));
    return ids;
  }

  std::uint64_t add(const job& j) {
    auto r = test::enqueue(*jobs, j);
    BOOST_REQUIRE_MESSAGE(r, why(r));
    return r->id;
  }

  std::vector<job> lease(std::size_t max, timestamp_ms now = t0) {
    auto got = test::lease(*jobs, "notifications", now, max, now + 60000);
    BOOST_REQUIRE_MESSAGE(got, why(got));
    return *got;
  }

  static std::string companies(const std::vector<job>& v) {
    std::string out;
    for (const auto& j : v)
      out += j.company_id;
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(job_queue_fairness, fair_fixture)

BOOST_AUTO_TEST_CASE(a_burst_of_one_company_does_not_delay_another) {
  // Company A enqueues 20k jobs, then company B one: B's is in the very
  // next lease, not behind A's 20k (which a due-order queue would do).
  add_many("A", 20000, t0);
  auto b = add(make_job("B", t0));
  auto first = lease(8);
  BOOST_REQUIRE(first.size() == 8u);
  std::size_t at = first.size();
  for (std::size_t i = 0; i < first.size(); ++i)
    if (first[i].id == b)
      at = i;
  BOOST_TEST(at < 2u);
  // The rest of the batch is A's, in due order (by id).
  for (std::size_t i = 1; i < first.size(); ++i)
    if (first[i].company_id == "A" && first[i - 1].company_id == "A")
      BOOST_TEST(first[i].id > first[i - 1].id);
}

BOOST_AUTO_TEST_CASE(companies_take_turns_each_in_due_order) {
  for (int i = 0; i < 3; ++i)
    add(make_job("A", t0 + i));
  for (int i = 0; i < 3; ++i)
    add(make_job("B", t0 + i));
  add(make_job("C", t0));
  auto got = lease(100, t0 + 10);
  BOOST_TEST(companies(got) == "ABCABAB");
  for (std::size_t i = 0; i + 1 < got.size(); ++i)
    for (std::size_t k = i + 1; k < got.size(); ++k)
      if (got[i].company_id == got[k].company_id)
        BOOST_TEST(got[i].due_at <= got[k].due_at);
  BOOST_TEST(lease(10, t0 + 10).empty());
}

BOOST_AUTO_TEST_CASE(the_turn_survives_a_restart) {
  for (int i = 0; i < 3; ++i) {
    add(make_job("A", t0));
    add(make_job("B", t0));
  }
  BOOST_TEST(companies(lease(1)) == "A");
  reopen_all();
  BOOST_TEST(companies(lease(1)) == "B");
  BOOST_TEST(companies(lease(3)) == "ABA");
}

BOOST_AUTO_TEST_CASE(companies_with_only_delayed_jobs_are_passed_over) {
  add(make_job("A", t0 + 50000));
  add(make_job("B", t0));
  add(make_job("B", t0));
  add(make_job("C", t0 + 50000));
  BOOST_TEST(companies(lease(10)) == "BB");
  BOOST_TEST(lease(10).empty());
  // The turn goes on after B, the company served last.
  BOOST_TEST(companies(lease(10, t0 + 50000)) == "CA");
}

BOOST_AUTO_TEST_CASE(every_failed_attempt_is_kept_up_to_the_bound) {
  auto id = add(make_job("A", t0));
  timestamp_ms now = t0;
  for (int i = 1; i <= 25; ++i) {
    auto got = lease(1, now);
    BOOST_REQUIRE(got.size() == 1u);
    auto r = test::retry(*jobs, id, now + 100, "error " + std::to_string(i),
                         true, now + 7);
    BOOST_REQUIRE_MESSAGE(r, why(r));
    now += 100;
  }
  auto j = jobs->get(id);
  BOOST_REQUIRE_MESSAGE(j, why(j));
  BOOST_REQUIRE(j->history.size() == max_attempts_kept);
  BOOST_TEST(j->history.front().error == "error 6");
  BOOST_TEST(j->history.front().started_at == t0 + 500);
  BOOST_TEST(j->history.back().error == "error 25");
  BOOST_TEST(j->history.back().duration_ms == 7u);
  BOOST_TEST(j->last_error == "error 25");
  // A lease that lapses and the final failure are attempts too.
  BOOST_REQUIRE(lease(1, now).size() == 1u);
  auto released = test::release_expired(*jobs, now + 60000);
  BOOST_REQUIRE(released && *released == 1u);
  BOOST_REQUIRE(lease(1, now + 60000).size() == 1u);
  BOOST_REQUIRE(test::fail(*jobs, id, "gave up", now + 60003));
  j = jobs->get(id);
  BOOST_REQUIRE(j);
  BOOST_TEST(j->history.size() == max_attempts_kept);
  BOOST_TEST(j->history[18].error == "lease expired");
  BOOST_TEST(j->history[19].error == "gave up");
  BOOST_TEST(j->history[19].duration_ms == 3u);
  // The history is stored: it survives a restart.
  reopen_all();
  auto again = jobs->get(id);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->history == j->history);
}

BOOST_AUTO_TEST_CASE(counters_are_kept_with_the_changes_they_count) {
  auto a1 = add(make_job("A", t0));
  auto a2 = add(make_job("A", t0));
  auto b1 = add(make_job("B", t0, "sync"));
  auto b2 = add(make_job("B", t0, "sync"));
  BOOST_REQUIRE(lease(10).size() == 4u);
  BOOST_REQUIRE(test::ack(*jobs, a1));
  BOOST_REQUIRE(test::ack(*jobs, b1));
  BOOST_REQUIRE(test::retry(*jobs, a2, t0, "flaky", true, t0 + 1));
  BOOST_REQUIRE(test::fail(*jobs, b2, "no", t0 + 1));
  // A retry of a pending job (not an attempt) is not counted.
  BOOST_REQUIRE(test::retry(*jobs, a2, t0 + 5, "moved", false, t0 + 1));
  reopen_all();
  auto all = jobs->counters("", "");
  BOOST_REQUIRE_MESSAGE(all, why(all));
  BOOST_REQUIRE(all->size() == 2u);
  const auto& a = (*all)[0];
  BOOST_TEST(a.queue == "notifications");
  BOOST_TEST(a.listener == "send_notification");
  BOOST_TEST(a.company_id == "A");
  BOOST_TEST(a.processed == 1u);
  BOOST_TEST(a.retried == 1u);
  BOOST_TEST(a.failed == 0u);
  const auto& b = (*all)[1];
  BOOST_TEST(b.listener == "sync");
  BOOST_TEST(b.company_id == "B");
  BOOST_TEST(b.processed == 1u);
  BOOST_TEST(b.failed == 1u);
  auto only_b = jobs->counters("notifications", "B");
  BOOST_REQUIRE(only_b);
  BOOST_TEST(only_b->size() == 1u);
  auto other = jobs->counters("analytics", "");
  BOOST_REQUIRE(other);
  BOOST_TEST(other->empty());
}

BOOST_AUTO_TEST_CASE(lists_filter_by_state_and_fields_and_page) {
  auto ready_a = add(make_job("A", t0));
  auto delayed_a = add(make_job("A", t0 + 9000));
  auto other = make_job("B", t0, "sync");
  other.event_type = "customer.created";
  auto ready_b = add(other);
  auto failing = add(make_job("B", t0));
  BOOST_REQUIRE(test::lease(*jobs, "notifications", t0, 100, t0 + 1000));
  // All four were leased but the delayed one; put three back.
  BOOST_REQUIRE(test::retry(*jobs, ready_a, t0, "x", false, t0));
  BOOST_REQUIRE(test::retry(*jobs, ready_b, t0, "x", false, t0));
  BOOST_REQUIRE(test::fail(*jobs, failing, "broken", t0));
  auto ids = [](const result<job_page>& p) {
    std::vector<std::uint64_t> out;
    for (const auto& j : p->jobs)
      out.push_back(j.id);
    return out;
  };
  job_filter none;
  auto pending = jobs->list(none, job_list_state::pending, t0, 0, 100);
  BOOST_REQUIRE(pending);
  BOOST_TEST(ids(pending)
             == (std::vector<std::uint64_t>{ready_a, delayed_a, ready_b}));
  auto delayed = jobs->list(none, job_list_state::delayed, t0, 0, 100);
  BOOST_TEST(ids(delayed) == std::vector<std::uint64_t>{delayed_a});
  auto ready = jobs->list(none, job_list_state::ready, t0, 0, 100);
  BOOST_TEST(ids(ready) == (std::vector<std::uint64_t>{ready_a, ready_b}));
  auto failed = jobs->list(none, job_list_state::failed, t0, 0, 100);
  BOOST_TEST(ids(failed) == std::vector<std::uint64_t>{failing});
  BOOST_TEST(failed->jobs[0].history.size() == 1u);
  job_filter by_company;
  by_company.company_id = "B";
  auto b = jobs->list(by_company, job_list_state::pending, t0, 0, 100);
  BOOST_TEST(ids(b) == std::vector<std::uint64_t>{ready_b});
  job_filter by_type;
  by_type.event_type = "customer.created";
  BOOST_TEST(ids(jobs->list(by_type, job_list_state::pending, t0, 0, 100))
             == std::vector<std::uint64_t>{ready_b});
  job_filter by_listener;
  by_listener.listener = "send_notification";
  auto page1 = jobs->list(by_listener, job_list_state::pending, t0, 0, 1);
  BOOST_TEST(ids(page1) == std::vector<std::uint64_t>{ready_a});
  BOOST_REQUIRE(page1->next_after == ready_a);
  auto page2 = jobs->list(by_listener, job_list_state::pending, t0, ready_a, 1);
  BOOST_TEST(ids(page2) == std::vector<std::uint64_t>{delayed_a});
}

BOOST_AUTO_TEST_CASE(failed_jobs_are_retried_and_flushed_by_filter) {
  std::vector<std::uint64_t> ids;
  for (const char* company : {"A", "B"})
    for (const char* listener : {"send_notification", "sync"})
      for (int i = 0; i < 3; ++i)
        ids.push_back(add(make_job(company, t0, listener)));
  BOOST_REQUIRE(lease(100).size() == 12u);
  for (auto id : ids)
    BOOST_REQUIRE(test::fail(*jobs, id, "down", t0));
  job_filter a_sync;
  a_sync.company_id = "A";
  a_sync.listener = "sync";
  auto retried = jobs->retry_failed_where(a_sync, t0 + 5, 2);
  BOOST_REQUIRE_MESSAGE(retried, why(retried));
  BOOST_TEST(*retried == 3u);
  auto counts = jobs->company_counts("notifications", "A", t0 + 5);
  BOOST_REQUIRE(counts);
  BOOST_TEST(counts->ready == 3u);
  BOOST_TEST(counts->failed == 3u);
  job_filter b;
  b.company_id = "B";
  auto flushed = jobs->delete_failed_where(b);
  BOOST_REQUIRE(flushed);
  BOOST_TEST(*flushed == 6u);
  auto left = jobs->list({}, job_list_state::failed, t0, 0, 100);
  BOOST_REQUIRE(left);
  BOOST_TEST(left->jobs.size() == 3u);
  for (const auto& j : left->jobs) {
    BOOST_TEST(j.company_id == "A");
    BOOST_TEST(j.listener == "send_notification");
  }
  auto all = jobs->delete_failed_where({});
  BOOST_REQUIRE(all);
  BOOST_TEST(*all == 3u);
}

BOOST_AUTO_TEST_CASE(records_of_format_v1_are_read_and_migrated) {
  // A store written before v2: a pending and a failed job in the v1
  // layout, the format marker absent.
  auto v1 = [](std::uint64_t id, job_state s, timestamp_ms due,
               const std::string& error) {
    std::string out;
    auto le = [&out](std::uint64_t x, int n) {
      for (int i = 0; i < n; ++i, x >>= 8)
        out.push_back(static_cast<char>(x & 0xff));
    };
    auto str = [&out](const std::string& s) {
      out.push_back(static_cast<char>(s.size())); // < 128
      out += s;
    };
    out.push_back(1);
    out.push_back(static_cast<char>(s));
    for (auto x :
         {id, std::uint64_t{40 + id}, std::uint64_t(t0), std::uint64_t(due),
          std::uint64_t{0}, std::uint64_t{0}, std::uint64_t(t0),
          std::uint64_t{0}, std::uint64_t(s == job_state::failed ? t0 : 0)})
      le(x, 8);
    for (std::uint64_t x : {1, 3, 1000, 0, 0})
      le(x, 4);
    out.push_back(1);
    le(5, 4);
    str("notifications");
    str("send_notification");
    str("ev-" + std::to_string(id));
    str("");
    str(error);
    str("{}");
    return out;
  };
  jobs.reset();
  auto raw = w->execute([&](write_txn& txn) -> result<void> {
    auto* t = txn.handle();
    auto jobs_db = env->open_db("jobs");
    auto due_db = env->open_db("jobs_due", MDB_DUPSORT | MDB_DUPFIXED);
    auto failed_db = env->open_db("jobs_failed", MDB_DUPSORT | MDB_DUPFIXED);
    auto meta_db = env->open_db("jobs_meta");
    if (!jobs_db || !due_db || !failed_db || !meta_db)
      return make_unexpected(error{errc::internal, "open_db"});
    for (auto [id, state] : {std::pair{std::uint64_t{1}, job_state::pending},
                             {std::uint64_t{2}, job_state::failed}}) {
      char key[8];
      put_be64(key, id);
      auto rec = v1(id, state, t0, state == job_state::failed ? "boom" : "");
      MDB_val k{8, key};
      MDB_val v{rec.size(), rec.data()};
      mdb_put(t, *jobs_db, &k, &v, 0);
      std::string qn = "notifications";
      MDB_val qk{qn.size(), qn.data()};
      char entry[16];
      if (state == job_state::pending) {
        put_be64(entry, order_preserving(t0));
        put_be64(entry + 8, id);
        MDB_val ev{16, entry};
        mdb_put(t, *due_db, &qk, &ev, 0);
      } else {
        put_be64(entry, id);
        MDB_val ev{8, entry};
        mdb_put(t, *failed_db, &qk, &ev, 0);
      }
    }
    std::string fk = "format";
    MDB_val mk{fk.size(), fk.data()};
    mdb_del(t, *meta_db, &mk, nullptr);
    char next[8];
    put_be64(next, 3);
    std::string nk = "next_id";
    MDB_val nkey{nk.size(), nk.data()};
    MDB_val nval{8, next};
    mdb_put(t, *meta_db, &nkey, &nval, 0);
    return {};
  });
  BOOST_REQUIRE_MESSAGE(raw, why(raw));
  events[41] = {"acme", "appointment.created"};
  events[42] = {"globex", "customer.created"};
  open_jobs();
  auto pending = jobs->get(1);
  BOOST_REQUIRE_MESSAGE(pending, why(pending));
  BOOST_TEST(pending->company_id == "acme");
  BOOST_TEST(pending->event_type == "appointment.created");
  BOOST_TEST(pending->backoff_s == std::vector<std::uint32_t>{5});
  BOOST_TEST(pending->max_tries == 3u);
  auto failed = jobs->get(2);
  BOOST_REQUIRE(failed);
  BOOST_TEST(failed->company_id == "globex");
  BOOST_REQUIRE(failed->history.size() == 1u);
  BOOST_TEST(failed->history[0].error == "boom");
  // The migrated pending job is in the companies' index: it is leased.
  auto got = lease(10, t0);
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].id == 1u);
  BOOST_TEST(got[0].company_id == "acme");
  // Opening again finds nothing left to migrate, and new jobs go on.
  reopen_all();
  BOOST_TEST(add(make_job("acme", t0)) == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
