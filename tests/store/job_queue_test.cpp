#include "store/job_queue.hpp"

#include "job_queue_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/job_queue_blocking.hpp"
#include "tests/store/prelude.hpp"
#include <algorithm>
#include <optional>

namespace switchboard::store {

std::ostream& operator<<(std::ostream& os, const queue_counts& c) {
  return os << "{ready " << c.ready << ", delayed " << c.delayed << ", leased "
            << c.leased << ", failed " << c.failed << "}";
}

bool operator==(const queue_counts& a, const queue_counts& b) {
  return a.ready == b.ready && a.delayed == b.delayed && a.leased == b.leased
         && a.failed == b.failed;
}

} // namespace switchboard::store

namespace {

constexpr timestamp_ms t0 = 1700000000000;

/// The job queue fixture with the jobs of this suite.
struct job_fixture : job_queue_fixture {
  /// A job of `queue` due at `due`.
  static job make_job(std::string queue, timestamp_ms due,
                      std::string unique_key = {}) {
    job j;
    j.queue = std::move(queue);
    j.listener = "send_notification";
    j.event_id = uuid7();
    j.event_seq = 7;
    j.payload = R"({"channel":"sms"})";
    j.unique_key = std::move(unique_key);
    j.created_at = t0;
    j.due_at = due;
    j.max_tries = 5;
    j.backoff_s = {10, 30, 60};
    j.timeout_ms = 30000;
    return j;
  }

  /// Enqueues `j`; returns its id.
  std::uint64_t add(const job& j) {
    return enqueue_new(*jobs, j);
  }

  std::vector<std::uint64_t> ids_of(const std::vector<job>& v) {
    std::vector<std::uint64_t> out;
    for (auto& j : v)
      out.push_back(j.id);
    return out;
  }

  queue_counts count(std::string_view queue, timestamp_ms now) {
    auto c = jobs->counts(queue, now);
    BOOST_REQUIRE_MESSAGE(c, why(c));
    return *c;
  }
};

queue_counts qc(std::uint64_t ready, std::uint64_t delayed,
                std::uint64_t leased, std::uint64_t failed) {
  return queue_counts{ready, delayed, leased, failed};
}

} // namespace

BOOST_TEST_DONT_PRINT_LOG_VALUE(std::vector<job>)

BOOST_FIXTURE_TEST_SUITE(job_queue_suite, job_fixture)

BOOST_AUTO_TEST_CASE(enqueue_stores_every_field) {
  auto j = make_job("notifications", t0 + 5000, "notify:1");
  j.retry_until = t0 + 60000;
  j.max_exceptions = 3;
  j.attempts = 9; // store fields given by the caller are reset
  j.last_error = "stale";
  auto id = add(j);
  auto id2 = add(make_job("notifications", t0));
  BOOST_TEST(id >= 1u);
  BOOST_TEST(id2 > id);
  auto got = jobs->get(id);
  BOOST_REQUIRE_MESSAGE(got, why(got));
  BOOST_TEST(got->id == id);
  BOOST_TEST(got->queue == "notifications");
  BOOST_TEST(got->listener == "send_notification");
  BOOST_TEST(got->event_id == j.event_id);
  BOOST_TEST(got->event_seq == 7u);
  BOOST_TEST(got->payload == j.payload);
  BOOST_TEST(got->unique_key == "notify:1");
  BOOST_TEST(got->created_at == t0);
  BOOST_TEST(got->due_at == t0 + 5000);
  BOOST_TEST(got->attempts == 0u);
  BOOST_TEST(got->max_tries == 5u);
  BOOST_TEST(got->backoff_s == j.backoff_s);
  BOOST_TEST(got->timeout_ms == 30000u);
  BOOST_TEST(got->retry_until == t0 + 60000);
  BOOST_TEST(got->max_exceptions == 3u);
  BOOST_TEST(got->last_error.empty());
  BOOST_TEST(got->state == job_state::pending);
  auto missing = jobs->get(id2 + 100);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(enqueue_refuses_bad_jobs_and_writes_nothing) {
  auto j = make_job("", t0);
  auto res = test::enqueue(*jobs, j);
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  j = make_job("q", t0);
  j.listener.clear();
  res = test::enqueue(*jobs, j);
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  j = make_job("q", t0, std::string(256, 'k'));
  res = test::enqueue(*jobs, j);
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::invalid_argument);
  BOOST_TEST(count("", t0) == qc(0, 0, 0, 0));
  auto qs = jobs->queues();
  BOOST_REQUIRE(qs);
  BOOST_TEST(qs->empty());
}

BOOST_AUTO_TEST_CASE(delayed_job_is_leased_only_when_due) {
  auto id = add(make_job("notifications", t0 + 5000));
  auto early = test::lease(*jobs, "notifications", t0, 10, t0 + 60000);
  BOOST_REQUIRE_MESSAGE(early, why(early));
  BOOST_TEST(early->empty());
  early = test::lease(*jobs, "notifications", t0 + 4999, 10, t0 + 60000);
  BOOST_REQUIRE(early);
  BOOST_TEST(early->empty());
  BOOST_TEST(count("notifications", t0) == qc(0, 1, 0, 0));
  auto due = jobs->next_due("notifications");
  BOOST_REQUIRE_MESSAGE(due, why(due));
  BOOST_TEST(*due == t0 + 5000);
  auto got = test::lease(*jobs, "notifications", t0 + 5000, 10, t0 + 65000);
  BOOST_REQUIRE(got);
  BOOST_REQUIRE_EQUAL(got->size(), 1u);
  BOOST_TEST(got->front().id == id);
  BOOST_TEST(count("notifications", t0 + 5000) == qc(0, 0, 1, 0));
  auto none = jobs->next_due("notifications");
  BOOST_REQUIRE(!none);
  BOOST_TEST(none.error().code == errc::not_found);
  none = jobs->next_due("no-such-queue");
  BOOST_REQUIRE(!none);
  BOOST_TEST(none.error().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(lease_takes_oldest_due_first_up_to_max) {
  auto c = add(make_job("q", t0 + 300));
  auto a = add(make_job("q", t0 + 100));
  auto b = add(make_job("q", t0 + 200));
  auto other = add(make_job("other", t0));
  auto late = add(make_job("q", t0 + 5000));
  auto first = test::lease(*jobs, "q", t0 + 1000, 2, t0 + 31000);
  BOOST_REQUIRE_MESSAGE(first, why(first));
  BOOST_TEST(ids_of(*first) == (std::vector<std::uint64_t>{a, b}));
  for (auto& j : *first) {
    BOOST_TEST(j.state == job_state::leased);
    BOOST_TEST(j.attempts == 1u);
    BOOST_TEST(j.first_attempt_at == t0 + 1000);
    BOOST_TEST(j.last_attempt_at == t0 + 1000);
    BOOST_TEST(j.lease_until == t0 + 31000);
  }
  auto stored = jobs->get(a);
  BOOST_REQUIRE(stored);
  BOOST_TEST(stored->state == job_state::leased);
  BOOST_TEST(stored->attempts == 1u);
  auto second = test::lease(*jobs, "q", t0 + 1000, 10, t0 + 31000);
  BOOST_REQUIRE(second);
  BOOST_TEST(ids_of(*second) == (std::vector<std::uint64_t>{c}));
  auto zero = test::lease(*jobs, "other", t0 + 1000, 0, t0 + 31000);
  BOOST_REQUIRE(zero);
  BOOST_TEST(zero->empty());
  auto rest = test::lease(*jobs, "other", t0 + 1000, 10, t0 + 31000);
  BOOST_REQUIRE(rest);
  BOOST_TEST(ids_of(*rest) == (std::vector<std::uint64_t>{other}));
  BOOST_TEST(count("q", t0 + 1000) == qc(0, 1, 3, 0));
  auto pending = jobs->list_pending("q", 0, 10);
  BOOST_REQUIRE(pending);
  BOOST_TEST(ids_of(*pending) == (std::vector<std::uint64_t>{c, a, b, late}));
  pending = jobs->list_pending("", a, 2);
  BOOST_REQUIRE(pending);
  BOOST_TEST(ids_of(*pending) == (std::vector<std::uint64_t>{b, other}));
}

BOOST_AUTO_TEST_CASE(each_lease_counts_an_attempt) {
  auto id = add(make_job("q", t0));
  auto l1 = test::lease(*jobs, "q", t0 + 10, 1, t0 + 1000);
  BOOST_REQUIRE(l1 && l1->size() == 1);
  BOOST_REQUIRE(test::retry(*jobs, id, t0 + 20, "boom", true));
  auto l2 = test::lease(*jobs, "q", t0 + 20, 1, t0 + 1020);
  BOOST_REQUIRE(l2 && l2->size() == 1);
  auto j = l2->front();
  BOOST_TEST(j.attempts == 2u);
  BOOST_TEST(j.first_attempt_at == t0 + 10);
  BOOST_TEST(j.last_attempt_at == t0 + 20);
  BOOST_TEST(j.exceptions == 1u);
  BOOST_TEST(j.last_error == "boom");
}

BOOST_AUTO_TEST_CASE(ack_removes_the_job) {
  auto id = add(make_job("q", t0, "k1"));
  auto leased = test::lease(*jobs, "q", t0, 1, t0 + 1000);
  BOOST_REQUIRE(leased && leased->size() == 1);
  auto res = test::ack(*jobs, id);
  BOOST_REQUIRE_MESSAGE(res, why(res));
  auto got = jobs->get(id);
  BOOST_REQUIRE(!got);
  BOOST_TEST(got.error().code == errc::not_found);
  BOOST_TEST(count("q", t0) == qc(0, 0, 0, 0));
  auto again = test::ack(*jobs, id);
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().code == errc::not_found);
  // A pending job can be acked too (e.g. handled inline).
  auto id2 = add(make_job("q", t0 + 1000));
  BOOST_REQUIRE(test::ack(*jobs, id2));
  BOOST_TEST(count("q", t0) == qc(0, 0, 0, 0));
  // Ids are never reused.
  auto id3 = add(make_job("q", t0));
  BOOST_TEST(id3 > id2);
}

BOOST_AUTO_TEST_CASE(retry_moves_due_time_and_records_error) {
  auto id = add(make_job("q", t0));
  BOOST_REQUIRE(test::lease(*jobs, "q", t0, 1, t0 + 1000));
  auto res
      = test::retry(*jobs, id, t0 + 10000, "timeout after 30000 ms", false);
  BOOST_REQUIRE_MESSAGE(res, why(res));
  auto j = jobs->get(id);
  BOOST_REQUIRE(j);
  BOOST_TEST(j->state == job_state::pending);
  BOOST_TEST(j->due_at == t0 + 10000);
  BOOST_TEST(j->last_error == "timeout after 30000 ms");
  BOOST_TEST(j->attempts == 1u);
  BOOST_TEST(j->exceptions == 0u);
  BOOST_TEST(j->lease_until == 0);
  BOOST_TEST(count("q", t0 + 1000) == qc(0, 1, 0, 0));
  auto early = test::lease(*jobs, "q", t0 + 9999, 1, t0 + 20000);
  BOOST_REQUIRE(early);
  BOOST_TEST(early->empty());
  auto due = jobs->next_due("q");
  BOOST_REQUIRE(due);
  BOOST_TEST(*due == t0 + 10000);
  auto later = test::lease(*jobs, "q", t0 + 10000, 1, t0 + 20000);
  BOOST_REQUIRE(later);
  BOOST_TEST(ids_of(*later) == (std::vector<std::uint64_t>{id}));
  // A long error is cut.
  BOOST_REQUIRE(test::retry(*jobs, id, t0, std::string(10000, 'e'), true));
  j = jobs->get(id);
  BOOST_REQUIRE(j);
  BOOST_TEST(j->last_error.size() == 4096u);
  BOOST_TEST(j->exceptions == 1u);
  auto missing = test::retry(*jobs, id + 100, t0, "x", false);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(fail_keeps_payload_attempts_and_times) {
  auto j = make_job("q", t0, "k");
  auto id = add(j);
  BOOST_REQUIRE(test::lease(*jobs, "q", t0 + 1, 1, t0 + 1000));
  BOOST_REQUIRE(test::retry(*jobs, id, t0 + 2, "first", true));
  BOOST_REQUIRE(test::lease(*jobs, "q", t0 + 3, 1, t0 + 1000));
  auto res = test::fail(*jobs, id, "second", t0 + 4);
  BOOST_REQUIRE_MESSAGE(res, why(res));
  auto f = jobs->get(id);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->state == job_state::failed);
  BOOST_TEST(f->payload == j.payload);
  BOOST_TEST(f->event_id == j.event_id);
  BOOST_TEST(f->attempts == 2u);
  BOOST_TEST(f->first_attempt_at == t0 + 1);
  BOOST_TEST(f->last_attempt_at == t0 + 3);
  BOOST_TEST(f->failed_at == t0 + 4);
  BOOST_TEST(f->last_error == "second");
  BOOST_TEST(f->lease_until == 0);
  BOOST_TEST(count("q", t0 + 10) == qc(0, 0, 0, 1));
  // Failed jobs are never leased, acked, retried or failed again.
  auto l = test::lease(*jobs, "q", t0 + 100000, 10, t0 + 200000);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->empty());
  BOOST_TEST(test::ack(*jobs, id).error().code == errc::not_found);
  BOOST_TEST(test::retry(*jobs, id, t0, "x", false).error().code
             == errc::not_found);
  BOOST_TEST(test::fail(*jobs, id, "x", t0).error().code == errc::not_found);
  auto pending = jobs->list_pending("", 0, 10);
  BOOST_REQUIRE(pending);
  BOOST_TEST(pending->empty());
}

BOOST_AUTO_TEST_CASE(unique_key_blocks_a_second_job_while_pending_or_leased) {
  auto first = test::enqueue(*jobs, make_job("q", t0, "sync:appt-1"));
  BOOST_REQUIRE(first && first->created);
  auto dup = test::enqueue(*jobs, make_job("q", t0, "sync:appt-1"));
  BOOST_REQUIRE_MESSAGE(dup, why(dup));
  BOOST_TEST(!dup->created);
  BOOST_TEST(dup->id == first->id);
  BOOST_TEST(count("q", t0) == qc(1, 0, 0, 0));
  // Leased: still blocked.
  BOOST_REQUIRE(test::lease(*jobs, "q", t0, 1, t0 + 1000));
  dup = test::enqueue(*jobs, make_job("q", t0, "sync:appt-1"));
  BOOST_REQUIRE(dup);
  BOOST_TEST(!dup->created);
  BOOST_TEST(dup->id == first->id);
  // After the ack the key is free.
  BOOST_REQUIRE(test::ack(*jobs, first->id));
  auto second = test::enqueue(*jobs, make_job("q", t0, "sync:appt-1"));
  BOOST_REQUIRE(second);
  BOOST_TEST(second->created);
  BOOST_TEST(second->id > first->id);
  // After a failure the key is free too.
  BOOST_REQUIRE(test::fail(*jobs, second->id, "gave up", t0));
  auto third = test::enqueue(*jobs, make_job("q", t0, "sync:appt-1"));
  BOOST_REQUIRE(third);
  BOOST_TEST(third->created);
  BOOST_TEST(third->id > second->id);
  // Jobs without a key never collide.
  BOOST_TEST(add(make_job("q", t0)) != add(make_job("q", t0)));
}

BOOST_AUTO_TEST_CASE(retried_failed_job_does_not_steal_a_held_key) {
  auto old_id = add(make_job("q", t0, "k"));
  BOOST_REQUIRE(test::fail(*jobs, old_id, "gave up", t0));
  auto new_id = add(make_job("q", t0, "k"));
  BOOST_REQUIRE(jobs->retry_failed(old_id, t0 + 1));
  // The new job still holds the key; the old one runs without it.
  auto dup = test::enqueue(*jobs, make_job("q", t0, "k"));
  BOOST_REQUIRE(dup);
  BOOST_TEST(!dup->created);
  BOOST_TEST(dup->id == new_id);
  BOOST_REQUIRE(test::ack(*jobs, old_id));
  dup = test::enqueue(*jobs, make_job("q", t0, "k"));
  BOOST_REQUIRE(dup);
  BOOST_TEST(!dup->created);
  BOOST_TEST(dup->id == new_id);
  // A failed job whose key is free takes it back when retried.
  BOOST_REQUIRE(test::fail(*jobs, new_id, "gave up", t0));
  BOOST_REQUIRE(jobs->retry_failed(new_id, t0 + 2));
  dup = test::enqueue(*jobs, make_job("q", t0, "k"));
  BOOST_REQUIRE(dup);
  BOOST_TEST(!dup->created);
  BOOST_TEST(dup->id == new_id);
}

BOOST_AUTO_TEST_CASE(cancel_by_key_cancels_only_pending_jobs) {
  auto id = add(make_job("q", t0 + 5000, "remind:appt-1"));
  auto res = test::cancel_by_key(*jobs, "remind:appt-1");
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_TEST(*res);
  BOOST_TEST(jobs->get(id).error().code == errc::not_found);
  BOOST_TEST(count("q", t0) == qc(0, 0, 0, 0));
  res = test::cancel_by_key(*jobs, "remind:appt-1");
  BOOST_REQUIRE(res);
  BOOST_TEST(!*res);
  res = test::cancel_by_key(*jobs, "");
  BOOST_REQUIRE(res);
  BOOST_TEST(!*res);
  // The key is free again; a leased job is not cancelled.
  auto id2 = add(make_job("q", t0, "remind:appt-1"));
  BOOST_REQUIRE(test::lease(*jobs, "q", t0, 1, t0 + 1000));
  res = test::cancel_by_key(*jobs, "remind:appt-1");
  BOOST_REQUIRE(res);
  BOOST_TEST(!*res);
  auto j = jobs->get(id2);
  BOOST_REQUIRE(j);
  BOOST_TEST(j->state == job_state::leased);
}

BOOST_AUTO_TEST_CASE(list_retry_and_delete_failed_jobs) {
  std::vector<std::uint64_t> a_ids, b_ids;
  for (int i = 0; i < 3; ++i) {
    a_ids.push_back(add(make_job("a", t0)));
    b_ids.push_back(add(make_job("b", t0)));
  }
  auto keep = add(make_job("a", t0)); // stays pending
  BOOST_REQUIRE(test::lease(*jobs, "a", t0, 10, t0 + 1000));
  BOOST_REQUIRE(test::lease(*jobs, "b", t0, 10, t0 + 1000));
  for (auto id : a_ids)
    BOOST_REQUIRE(test::fail(*jobs, id, "a failed", t0 + 5));
  for (auto id : b_ids)
    BOOST_REQUIRE(test::fail(*jobs, id, "b failed", t0 + 6));
  BOOST_REQUIRE(test::retry(*jobs, keep, t0, "again", false));
  // All queues, by id, paged.
  auto page1 = jobs->list_failed("", 0, 4);
  BOOST_REQUIRE_MESSAGE(page1, why(page1));
  BOOST_TEST(
      ids_of(*page1)
      == (std::vector<std::uint64_t>{a_ids[0], b_ids[0], a_ids[1], b_ids[1]}));
  auto page2 = jobs->list_failed("", page1->back().id, 4);
  BOOST_REQUIRE(page2);
  BOOST_TEST(ids_of(*page2)
             == (std::vector<std::uint64_t>{a_ids[2], b_ids[2]}));
  // One queue.
  auto only_b = jobs->list_failed("b", b_ids[0], 10);
  BOOST_REQUIRE(only_b);
  BOOST_TEST(ids_of(*only_b)
             == (std::vector<std::uint64_t>{b_ids[1], b_ids[2]}));
  BOOST_TEST(only_b->front().last_error == "b failed");
  BOOST_TEST(only_b->front().state == job_state::failed);
  auto none = jobs->list_failed("c", 0, 10);
  BOOST_REQUIRE(none);
  BOOST_TEST(none->empty());
  // Retry one: pending, due now, attempts reset; leased again.
  auto res = jobs->retry_failed(a_ids[1], t0 + 100);
  BOOST_REQUIRE_MESSAGE(res, why(res));
  auto j = jobs->get(a_ids[1]);
  BOOST_REQUIRE(j);
  BOOST_TEST(j->state == job_state::pending);
  BOOST_TEST(j->due_at == t0 + 100);
  BOOST_TEST(j->attempts == 0u);
  BOOST_TEST(j->failed_at == 0);
  BOOST_TEST(count("a", t0 + 100) == qc(2, 0, 0, 2));
  auto l = test::lease(*jobs, "a", t0 + 100, 10, t0 + 2000);
  BOOST_REQUIRE(l);
  BOOST_TEST(ids_of(*l) == (std::vector<std::uint64_t>{keep, a_ids[1]}));
  BOOST_TEST(l->back().attempts == 1u);
  // Only failed jobs can be retried or deleted as failed.
  BOOST_TEST(jobs->retry_failed(a_ids[1], t0).error().code == errc::not_found);
  BOOST_TEST(jobs->delete_failed(a_ids[1]).error().code == errc::not_found);
  BOOST_TEST(jobs->delete_failed(999999).error().code == errc::not_found);
  // Delete one.
  BOOST_REQUIRE(jobs->delete_failed(b_ids[1]));
  BOOST_TEST(jobs->get(b_ids[1]).error().code == errc::not_found);
  auto all = jobs->list_failed("", 0, 100);
  BOOST_REQUIRE(all);
  BOOST_TEST(
      ids_of(*all)
      == (std::vector<std::uint64_t>{a_ids[0], b_ids[0], a_ids[2], b_ids[2]}));
  BOOST_TEST(count("", t0 + 100) == qc(0, 0, 2, 4));
}

BOOST_AUTO_TEST_CASE(counts_per_queue) {
  // Queue a: 3 ready, 2 delayed, 2 leased, 1 failed. Queue b: 1 ready.
  for (int i = 0; i < 6; ++i)
    add(make_job("a", t0 + i));
  add(make_job("a", t0 + 10000));
  add(make_job("a", t0 + 20000));
  add(make_job("b", t0));
  auto l = test::lease(*jobs, "a", t0 + 100, 3, t0 + 5000);
  BOOST_REQUIRE(l && l->size() == 3);
  BOOST_REQUIRE(test::fail(*jobs, l->front().id, "x", t0 + 100));
  BOOST_TEST(count("a", t0 + 100) == qc(3, 2, 2, 1));
  BOOST_TEST(count("b", t0 + 100) == qc(1, 0, 0, 0));
  BOOST_TEST(count("", t0 + 100) == qc(4, 2, 2, 1));
  BOOST_TEST(count("a", t0 + 10000) == qc(4, 1, 2, 1));
  BOOST_TEST(count("a", t0) == qc(0, 5, 2, 1));
  BOOST_TEST(count("nope", t0) == qc(0, 0, 0, 0));
  auto qs = jobs->queues();
  BOOST_REQUIRE(qs);
  BOOST_TEST(*qs == (std::vector<std::string>{"a", "b"}));
}

BOOST_AUTO_TEST_CASE(counts_many_jobs_across_pages) {
  // 1000 entries of 16 bytes span several LMDB pages.
  auto now = t0 + 10000;
  job j = make_job("bulk", 0);
  for (int i = 0; i < 1000; ++i) {
    j.due_at = t0 + i * 20; // i * 20 <= 10000: i <= 500
    j.event_id = "e" + std::to_string(i);
    add(j);
  }
  BOOST_TEST(count("bulk", now) == qc(501, 499, 0, 0));
  BOOST_TEST(count("bulk", t0 - 1) == qc(0, 1000, 0, 0));
  BOOST_TEST(count("bulk", t0 + 100000) == qc(1000, 0, 0, 0));
  for (timestamp_ms at = t0; at < t0 + 21000; at += 137) {
    std::uint64_t ready = std::min<std::uint64_t>(1000, (at - t0) / 20 + 1);
    BOOST_TEST(count("bulk", at) == qc(ready, 1000 - ready, 0, 0));
  }
  auto l = test::lease(*jobs, "bulk", now, 1000, now + 1000);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->size() == 501u);
  BOOST_TEST(std::is_sorted(l->begin(), l->end(), [](auto& x, auto& y) {
    return x.due_at < y.due_at;
  }));
  BOOST_TEST(count("bulk", now) == qc(0, 499, 501, 0));
}

BOOST_AUTO_TEST_CASE(queues_are_remembered_after_their_jobs_are_gone) {
  auto id = add(make_job("zeta", t0));
  add(make_job("alpha", t0));
  BOOST_REQUIRE(test::ack(*jobs, id));
  reopen_all();
  auto qs = jobs->queues();
  BOOST_REQUIRE(qs);
  BOOST_TEST(*qs == (std::vector<std::string>{"alpha", "zeta"}));
}

BOOST_AUTO_TEST_CASE(release_expired_brings_back_lapsed_leases) {
  auto a = add(make_job("q", t0));
  auto b = add(make_job("q", t0));
  auto la = test::lease(*jobs, "q", t0, 1, t0 + 2000);
  BOOST_REQUIRE(la && la->size() == 1);
  auto lb = test::lease(*jobs, "q", t0, 1, t0 + 9000);
  BOOST_REQUIRE(lb && lb->size() == 1);
  auto expiry = jobs->next_lease_expiry("q");
  BOOST_REQUIRE(expiry);
  BOOST_TEST(*expiry == t0 + 2000);
  expiry = jobs->next_lease_expiry("");
  BOOST_REQUIRE(expiry);
  BOOST_TEST(*expiry == t0 + 2000);
  auto n = test::release_expired(*jobs, t0 + 1999);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(*n == 0u);
  n = test::release_expired(*jobs, t0 + 2000);
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 1u);
  auto j = jobs->get(a);
  BOOST_REQUIRE(j);
  BOOST_TEST(j->state == job_state::pending);
  BOOST_TEST(j->due_at == t0 + 2000);
  BOOST_TEST(j->attempts == 1u);
  BOOST_TEST(j->last_error == "lease expired");
  BOOST_TEST(jobs->get(b)->state == job_state::leased);
  BOOST_TEST(count("q", t0 + 2000) == qc(1, 0, 1, 0));
  auto again = test::lease(*jobs, "q", t0 + 2000, 10, t0 + 4000);
  BOOST_REQUIRE(again);
  BOOST_TEST(ids_of(*again) == (std::vector<std::uint64_t>{a}));
  BOOST_TEST(again->front().attempts == 2u);
  BOOST_TEST(again->front().first_attempt_at == t0);
  auto none = jobs->next_lease_expiry("other");
  BOOST_REQUIRE(!none);
  BOOST_TEST(none.error().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(leases_of_a_dead_process_run_again_after_restart) {
  auto a = add(make_job("q", t0));
  auto b = add(make_job("r", t0));
  auto c = add(make_job("q", t0 + 1000000)); // not due: stays pending
  BOOST_REQUIRE(test::lease(*jobs, "q", t0, 10, t0 + 3600000));
  BOOST_REQUIRE(test::lease(*jobs, "r", t0, 10, t0 + 3600000));
  // The process dies: the environment closes with the leases held.
  reopen_all();
  auto l = test::lease(*jobs, "q", t0 + 10, 10, t0 + 20000);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->empty()); // still leased by the dead process
  BOOST_TEST(count("", t0 + 10) == qc(0, 1, 2, 0));
  auto n = jobs->release_all_leases(t0 + 10);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(*n == 2u);
  BOOST_TEST(count("", t0 + 10) == qc(2, 1, 0, 0));
  auto lq = test::lease(*jobs, "q", t0 + 10, 10, t0 + 20000);
  BOOST_REQUIRE(lq);
  BOOST_TEST(ids_of(*lq) == (std::vector<std::uint64_t>{a}));
  BOOST_TEST(lq->front().attempts == 2u);
  auto lr = test::lease(*jobs, "r", t0 + 10, 10, t0 + 20000);
  BOOST_REQUIRE(lr);
  BOOST_TEST(ids_of(*lr) == (std::vector<std::uint64_t>{b}));
  BOOST_TEST(jobs->get(c)->state == job_state::pending);
}

BOOST_AUTO_TEST_CASE(outbox_failed_append_stores_no_job) {
  // Append first, then enqueue: the append fails before anything is
  // written, the op returns its error, no job.
  std::optional<error> seen;
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    std::vector<envelope> evs{make_event("appointment", "a1")};
    auto seqs = store->append_in(txn, evs, expected_version::exact(5));
    if (!seqs) {
      seen = seqs.error();
      return make_unexpected(seqs.error());
    }
    auto j = make_job("notifications", t0);
    j.event_id = evs.front().id;
    auto q = jobs->enqueue_in(txn, j);
    if (!q)
      return make_unexpected(q.error());
    return {};
  });
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::version_conflict);
  BOOST_REQUIRE(seen);
  // Enqueue first, then a failing append, in a nested transaction: the
  // job goes with the failed append.
  res = w->execute(
      [&](write_txn& txn) -> result<void> {
        auto q = jobs->enqueue_in(txn, make_job("notifications", t0));
        if (!q)
          return make_unexpected(q.error());
        auto inside = jobs->get_in(txn, q->id);
        if (!inside)
          return make_unexpected(inside.error());
        std::vector<envelope> evs{make_event("appointment", "a1")};
        auto seqs = store->append_in(txn, evs, expected_version::exact(5));
        if (!seqs)
          return make_unexpected(seqs.error());
        return {};
      },
      isolation::nested);
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::version_conflict);
  BOOST_TEST(count("", t0) == qc(0, 0, 0, 0));
  auto pending = jobs->list_pending("", 0, 10);
  BOOST_REQUIRE(pending);
  BOOST_TEST(pending->empty());
  auto last = store->last_sequence();
  BOOST_REQUIRE(last);
  BOOST_TEST(*last == 0u);
}

BOOST_AUTO_TEST_CASE(outbox_commits_events_and_jobs_together) {
  std::vector<envelope> evs{
      make_event("appointment", "a1"),
      make_event("appointment", "a1", "appointment.confirmed")};
  std::vector<std::uint64_t> ids;
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    ids.clear();
    auto seqs = store->append_in(txn, evs, expected_version::no_stream());
    if (!seqs)
      return make_unexpected(seqs.error());
    for (auto& e : evs) {
      for (auto queue : {"notifications", "analytics"}) {
        auto j = make_job(queue, e.occurred_at + 5000);
        j.event_id = e.id;
        j.event_seq = e.sequence;
        j.unique_key = std::string{queue} + ":" + e.id;
        auto q = jobs->enqueue_in(txn, j);
        if (!q)
          return make_unexpected(q.error());
        ids.push_back(q->id);
      }
    }
    return {};
  });
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_REQUIRE_EQUAL(ids.size(), 4u);
  reopen_all();
  auto stream = store->read_stream("c1", "appointment", "a1", 1, 10);
  BOOST_REQUIRE(stream);
  BOOST_REQUIRE_EQUAL(stream->size(), 2u);
  auto j = jobs->get(ids[2]);
  BOOST_REQUIRE_MESSAGE(j, why(j));
  BOOST_TEST(j->queue == "notifications");
  BOOST_TEST(j->event_id == stream->at(1).id);
  BOOST_TEST(j->event_seq == stream->at(1).sequence);
  BOOST_TEST(count("notifications", evs[0].occurred_at) == qc(0, 2, 0, 0));
  BOOST_TEST(count("analytics", evs[0].occurred_at + 5000) == qc(2, 0, 0, 0));
  auto dup = test::enqueue(*jobs, j.value());
  BOOST_REQUIRE(dup);
  BOOST_TEST(!dup->created);
  BOOST_TEST(dup->id == ids[2]);
}

BOOST_AUTO_TEST_CASE(laravel_retry_rules) {
  job j;
  j.max_tries = 3;
  j.backoff_s = {10, 30};
  j.attempts = 1;
  BOOST_TEST(backoff_delay_s(j) == 10u);
  j.attempts = 2;
  BOOST_TEST(backoff_delay_s(j) == 30u);
  j.attempts = 5; // the last entry repeats
  BOOST_TEST(backoff_delay_s(j) == 30u);
  j.backoff_s.clear();
  BOOST_TEST(backoff_delay_s(j) == 0u);
  // tries
  j.attempts = 2;
  BOOST_TEST(!will_exceed_max_attempts(j, t0, false));
  j.attempts = 3;
  BOOST_TEST(will_exceed_max_attempts(j, t0, false));
  BOOST_TEST(!exceeds_max_attempts(j, t0));
  j.attempts = 4;
  BOOST_TEST(exceeds_max_attempts(j, t0));
  j.max_tries = 0; // unlimited
  BOOST_TEST(!will_exceed_max_attempts(j, t0, false));
  BOOST_TEST(!exceeds_max_attempts(j, t0));
  // retry_until replaces tries
  j.max_tries = 1;
  j.retry_until = t0 + 1000;
  BOOST_TEST(!will_exceed_max_attempts(j, t0, false));
  BOOST_TEST(will_exceed_max_attempts(j, t0 + 1000, false));
  BOOST_TEST(!exceeds_max_attempts(j, t0 + 1000));
  BOOST_TEST(exceeds_max_attempts(j, t0 + 1001));
  // max exceptions
  j.max_exceptions = 2;
  j.exceptions = 1;
  BOOST_TEST(!will_exceed_max_attempts(j, t0, false));
  BOOST_TEST(will_exceed_max_attempts(j, t0, true));
}

BOOST_AUTO_TEST_SUITE_END()
