// The forget of a company (company_forget.hpp): everything of one company
// goes, everything of another stays readable, a second forget deletes
// nothing, and the store opens again.

#include "tests/store/company_forget_fixture.hpp"

#include <boost/test/unit_test.hpp>

using namespace switchboard::store::test::forget;

BOOST_AUTO_TEST_SUITE(company_forget_suite)

BOOST_FIXTURE_TEST_CASE(a_forget_takes_all_of_one_company_and_nothing_else,
                        forget_fixture) {
  populate();
  check_intact(gone_co);
  check_intact(kept_co);
  auto log_before = sequences(store->read_all(1, 1000));
  auto last = store->last_sequence();
  BOOST_REQUIRE_MESSAGE(last, why(last));
  // The company's events lie in the middle of the log.
  auto n = forget(gone_co);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  check_counts(*n, expected_counts(gone_co));
  check_gone(gone_co);
  check_intact(kept_co);
  check_node_series();
  auto log_after = sequences(store->read_all(1, 1000));
  BOOST_TEST(log_after.size() + data[gone_co].events.size()
             == log_before.size());
  BOOST_TEST(*store->last_sequence() == *last);
  // Every run of forgotten sequences is recorded, adjacent ones merged:
  // the company's events alternated with the other's.
  auto runs = forgotten_runs();
  BOOST_REQUIRE_EQUAL(runs.size(), data[gone_co].events.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    BOOST_TEST(runs[i].first == data[gone_co].events[i].sequence);
    BOOST_TEST(runs[i].second == data[gone_co].events[i].sequence);
  }
  // A second forget finds nothing.
  auto again = forget(gone_co);
  BOOST_REQUIRE_MESSAGE(again, why(again));
  check_counts(*again, forget_counts{});
  BOOST_TEST(forgotten_runs().size() == runs.size());
  // The store opens again: the stream index is rebuilt from the log as
  // the forget left it.
  reopen_all();
  check_gone(gone_co);
  check_intact(kept_co);
  check_node_series();
  BOOST_TEST(sequences(store->read_all(1, 1000)) == log_after);
  // The other company's jobs run on: its ready job is the one leased.
  auto leased = test::lease(*jobs, queue_name, t0, 10, t0 + 60000);
  BOOST_REQUIRE_MESSAGE(leased, why(leased));
  BOOST_REQUIRE_EQUAL(leased->size(), 1u);
  BOOST_TEST((*leased)[0].id == data[kept_co].ready_job);
  BOOST_CHECK(test::ack(*jobs, data[kept_co].ready_job));
  BOOST_CHECK(jobs->retry_failed(data[kept_co].failed_job, t0));
  // Appends go on after the log's last sequence; the forgotten company
  // may come back: its streams and event ids start afresh.
  auto later = add_event(kept_co, "appointment", "apt-1");
  BOOST_TEST(later.sequence == *last + 1);
  BOOST_TEST(later.version == 4u);
  auto back = add_event(gone_co, "appointment", "apt-1", shared_id);
  BOOST_TEST(back.sequence == *last + 2);
  BOOST_TEST(back.version == 1u);
  auto audited = audit->checkpoint();
  BOOST_REQUIRE_MESSAGE(audited, why(audited));
  BOOST_TEST(*audited == back.sequence);
  reopen_all();
  auto stream = store->read_stream(gone_co, "appointment", "apt-1", 1, 100);
  BOOST_REQUIRE_MESSAGE(stream, why(stream));
  BOOST_REQUIRE_EQUAL(stream->size(), 1u);
  BOOST_TEST((*stream)[0].sequence == back.sequence);
  auto v = store->stream_version(kept_co, "appointment", "apt-1");
  BOOST_REQUIRE_MESSAGE(v, why(v));
  BOOST_TEST(*v == 4u);
}

BOOST_FIXTURE_TEST_CASE(forgotten_sequences_at_the_end_are_not_given_again,
                        offline_fixture) {
  auto first = add_event(kept_co, "appointment", "apt-1");
  add_event(gone_co, "appointment", "apt-1");
  auto tail = add_event(gone_co, "appointment", "apt-2");
  // Their stream index entries are in the open event store's memory: a
  // forget beside it would leave them there, so it refuses.
  auto refused = forget(gone_co);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().code == errc::version_conflict);
  auto still = store->read_by_company(gone_co, 1, 100);
  BOOST_REQUIRE_MESSAGE(still, why(still));
  BOOST_TEST(still->size() == 2u);
  // Without an event store (an offline tool), the next open rebuilds the
  // index from what is left.
  auto n = forget_offline(gone_co);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(n->events == 2u);
  BOOST_TEST(n->audit == 2u);
  BOOST_TEST(n->traces == 2u);
  reopen_all();
  BOOST_CHECK(forgotten_runs()
              == (std::vector<std::pair<std::uint64_t, std::uint64_t>>{
                  {first.sequence + 1, tail.sequence}}));
  auto last = store->last_sequence();
  BOOST_REQUIRE_MESSAGE(last, why(last));
  BOOST_TEST(*last == first.sequence);
  auto s = store->read_stream(gone_co, "appointment", "apt-1", 1, 100);
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->empty());
  // The next event takes the sequence after the forgotten ones.
  auto next = add_event(kept_co, "appointment", "apt-1");
  BOOST_TEST(next.sequence == tail.sequence + 1);
  BOOST_TEST(next.version == 2u);
  BOOST_TEST(sequences(store->read_all(1, 100))
             == (std::vector<std::uint64_t>{first.sequence, next.sequence}));
  BOOST_TEST(*store->last_sequence() == next.sequence);
  // The audit log's checkpoint passes the gap.
  auto audited = audit->checkpoint();
  BOOST_REQUIRE_MESSAGE(audited, why(audited));
  BOOST_TEST(*audited == next.sequence);
}

// As the daemon forgets: with the event store open and told in the same
// transaction. Its next append goes on past the forgotten tail.
BOOST_FIXTURE_TEST_CASE(a_live_forget_of_the_tail_gives_no_sequence_again,
                        forget_fixture) {
  auto first = add_event(kept_co, "appointment", "apt-1");
  add_event(gone_co, "appointment", "apt-1");
  auto tail = add_event(gone_co, "appointment", "apt-2");
  forget_options live;
  live.hash = cfg.hash;
  live.live_stream_index = false; // the store is told below
  auto n = attempt<forget_counts>([&](write_txn& txn) {
    auto r = forget_company(txn, *env, gone_co, live);
    if (r)
      store->forget_company_in(txn, gone_co);
    return r;
  });
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(n->events == 2u);
  auto next = add_event(kept_co, "appointment", "apt-1");
  BOOST_TEST(next.sequence == tail.sequence + 1);
  BOOST_TEST(next.version == 2u);
  BOOST_TEST(sequences(store->read_all(1, 100))
             == (std::vector<std::uint64_t>{first.sequence, next.sequence}));
  auto s = store->read_stream(gone_co, "appointment", "apt-2", 1, 100);
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->empty());
}

BOOST_FIXTURE_TEST_CASE(the_audit_log_catches_up_over_a_gap, offline_fixture) {
  // Events stored, not yet audited (a crash before their dispatch).
  std::vector<std::uint64_t> seqs;
  for (const char* c : {kept_co, gone_co, kept_co}) {
    auto e = make_event("appointment", "apt-1", "appointment.created", c);
    seqs.push_back(append_one(e));
  }
  auto n = forget_offline(gone_co);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(n->events == 1u);
  reopen_all();
  auto caught = audit->catch_up(*w);
  BOOST_REQUIRE_MESSAGE(caught, why(caught));
  BOOST_TEST(*caught == 2u);
  auto audited = audit->checkpoint();
  BOOST_REQUIRE_MESSAGE(audited, why(audited));
  BOOST_TEST(*audited == seqs[2]);
  auto recs = audit->by_company(kept_co, 0, 100);
  BOOST_REQUIRE_MESSAGE(recs, why(recs));
  BOOST_TEST(recs->size() == 2u);
}

BOOST_FIXTURE_TEST_CASE(a_running_job_holds_the_forget_back, forget_fixture) {
  auto e = add_event(gone_co, "appointment", "apt-1");
  add_event(kept_co, "appointment", "apt-1");
  auto id = enqueue(make_job(e, t0));
  auto leased = test::lease(*jobs, queue_name, t0, 10, t0 + 60000);
  BOOST_REQUIRE_MESSAGE(leased, why(leased));
  BOOST_REQUIRE_EQUAL(leased->size(), 1u);
  BOOST_TEST(job_meta(std::string{"rr/"} + queue_name).value_or("") == gone_co);
  auto refused = forget(gone_co);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().code == errc::version_conflict);
  // Nothing went.
  BOOST_TEST(store->read_event(e.sequence).has_value());
  BOOST_TEST(jobs->get(id).has_value());
  BOOST_REQUIRE(test::fail(*jobs, id, "no", t0 + 10));
  auto n = forget(gone_co);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(n->events == 1u);
  BOOST_TEST(n->jobs == 1u);
  BOOST_TEST(not_found(jobs->get(id)));
  // Its place in the queue's round-robin went with it.
  BOOST_TEST(!job_meta(std::string{"rr/"} + queue_name).has_value());
}

BOOST_FIXTURE_TEST_CASE(a_stream_found_through_the_company_s_slot_stays,
                        colliding_fixture) {
  // The company's stream takes slot 7; the other's, probing from 7 too,
  // takes 8 (held in memory until the next append flushes it).
  auto mine = add_event(gone_co, "appointment", "apt-1");
  auto theirs = add_event(kept_co, "appointment", "apt-1");
  auto refused = forget(gone_co);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().code == errc::invalid_argument);
  // Once flushed, the streams database says the same.
  add_event(kept_co, "appointment", "apt-1");
  refused = forget(gone_co);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().code == errc::invalid_argument);
  BOOST_TEST(store->read_event(mine.sequence).has_value());
  auto s = store->read_stream(kept_co, "appointment", "apt-1", 1, 100);
  BOOST_REQUIRE_MESSAGE(s, why(s));
  BOOST_TEST(s->size() == 2u);
  BOOST_TEST((*s)[0].sequence == theirs.sequence);
}

BOOST_FIXTURE_TEST_CASE(a_stream_past_the_others_goes, colliding_fixture) {
  // The other company's stream first (slot 7), the company's next (8).
  add_event(kept_co, "appointment", "apt-1");
  add_event(gone_co, "appointment", "apt-1");
  add_event(gone_co, "customer", "cus-1");
  add_event(kept_co, "appointment", "apt-1");
  auto n = forget(gone_co);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(n->events == 2u);
  for (int pass = 0; pass < 2; ++pass) {
    auto s = store->read_stream(kept_co, "appointment", "apt-1", 1, 100);
    BOOST_REQUIRE_MESSAGE(s, why(s));
    BOOST_TEST(s->size() == 2u);
    auto mine = store->read_stream(gone_co, "appointment", "apt-1", 1, 100);
    BOOST_REQUIRE_MESSAGE(mine, why(mine));
    BOOST_TEST(mine->empty());
    // A new stream takes the freed slot.
    if (pass == 0) {
      auto e = add_event(kept_co, "customer", "cus-9");
      BOOST_TEST(e.version == 1u);
      reopen_all();
    }
  }
  auto v = store->stream_version(kept_co, "customer", "cus-9");
  BOOST_REQUIRE_MESSAGE(v, why(v));
  BOOST_TEST(*v == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_company_id_is_checked, forget_fixture) {
  for (std::string bad : {std::string{}, std::string{"a/b"},
                          std::string{"a\0b", 3}, std::string(256, 'x')}) {
    auto r = forget(bad);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().code == errc::invalid_argument);
  }
}

BOOST_AUTO_TEST_SUITE_END()
