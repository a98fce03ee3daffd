// The cluster's placement table and parked jobs (store/cluster_state.hpp),
// and taking a company's pending jobs out of the queues for a move.

#include "store/cluster_state.hpp"
#include "store/job_queue.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/job_queue_blocking.hpp"
#include "tests/store/prelude.hpp"
#include <memory>

namespace {

constexpr timestamp_ms t0 = 1700000000000;

struct cluster_fixture : store_fixture {
  std::unique_ptr<cluster_state>& cluster = part<cluster_state>();
  std::unique_ptr<job_queue>& jobs = part<job_queue>();

  template <class F>
  void write(F&& f) {
    auto r = w->execute(std::forward<F>(f));
    BOOST_REQUIRE_MESSAGE(r, why(r));
  }

  /// Takes the parked jobs of `company` in a writer operation of its own.
  result<std::vector<std::string>> take_parked(std::string_view company) {
    return job_detail::run_blocking<std::vector<std::string>>(
        *w, "take_parked_in", [&](write_txn& txn) {
          return cluster->take_parked_in(txn, company);
        });
  }

  /// Takes the pending jobs of `company` in a writer operation of its own.
  result<std::vector<job>> take_company(std::string_view company) {
    return job_detail::run_blocking<std::vector<job>>(
        *w, "take_company_in", [&](write_txn& txn) {
          return jobs->take_company_in(txn, company);
        });
  }

  std::uint64_t add_job(const std::string& company, timestamp_ms due,
                        const std::string& key = {}) {
    job j;
    j.queue = "notifications";
    j.listener = "send_notification";
    j.event_id = uuid7();
    j.event_seq = 3;
    j.company_id = company;
    j.payload = "{}";
    j.unique_key = key;
    j.created_at = t0;
    j.due_at = due;
    j.max_tries = 3;
    auto r = test::enqueue(*jobs, j);
    BOOST_REQUIRE_MESSAGE(r, why(r));
    return r->id;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_state_suite, cluster_fixture)

BOOST_AUTO_TEST_CASE(the_placement_table_round_trips_and_survives_a_reopen) {
  auto none = cluster->placement();
  BOOST_REQUIRE_MESSAGE(none, why(none));
  BOOST_TEST(none->epoch == 0u);
  placement_record p;
  p.epoch = 7;
  p.basis = {"n1", "n2"};
  p.moved = {{"acme", "n3"}, {"globex", "n1"}};
  write([&](write_txn& txn) {
    return cluster->set_placement_in(txn, p);
  });
  reopen();
  auto got = cluster->placement();
  BOOST_REQUIRE_MESSAGE(got, why(got));
  BOOST_TEST(got->epoch == 7u);
  BOOST_TEST(got->basis == p.basis);
  BOOST_TEST((got->moved == p.moved));
  // A damaged record is reported, never guessed at.
  BOOST_TEST(!decode_placement("1\n7\n2\nn1\n"));
  BOOST_TEST(!decode_placement("2\n7\n0\n0\n"));
  BOOST_TEST(!decode_placement(encode_placement(p) + "x"));
}

BOOST_AUTO_TEST_CASE(parked_jobs_are_taken_back_in_order_per_company) {
  write([&](write_txn& txn) {
    return cluster->park_in(txn, "acme", {"a1", "a2"});
  });
  write([&](write_txn& txn) {
    return cluster->park_in(txn, "acme2", {"b1"});
  });
  write([&](write_txn& txn) {
    return cluster->park_in(txn, "acme", {"a3"});
  });
  auto companies = cluster->parked_companies();
  BOOST_REQUIRE_MESSAGE(companies, why(companies));
  BOOST_TEST((*companies == std::vector<std::string>{"acme", "acme2"}));
  auto taken = take_parked("acme");
  BOOST_REQUIRE_MESSAGE(taken, why(taken));
  BOOST_TEST((*taken == std::vector<std::string>{"a1", "a2", "a3"}));
  companies = cluster->parked_companies();
  BOOST_REQUIRE(companies);
  BOOST_TEST((*companies == std::vector<std::string>{"acme2"}));
}

BOOST_AUTO_TEST_CASE(
    a_company_s_pending_jobs_leave_the_queues_only_when_none_runs) {
  auto ready = add_job("acme", t0, "reminder:ap1:24h");
  auto delayed = add_job("acme", t0 + 86400000);
  auto other = add_job("globex", t0);
  // A running job of the company: nothing is taken.
  auto leased = test::lease(*jobs, "notifications", t0, 1, t0 + 60000);
  BOOST_REQUIRE_MESSAGE(leased, why(leased));
  BOOST_REQUIRE(leased->size() == 1u);
  BOOST_REQUIRE(leased->front().id == ready);
  auto busy = take_company("acme");
  BOOST_REQUIRE(!busy);
  BOOST_TEST(busy.error().code == errc::version_conflict);
  // Once it is done, the pending ones go, and only the company's.
  auto acked = test::ack(*jobs, ready);
  BOOST_REQUIRE_MESSAGE(acked, why(acked));
  auto again = add_job("acme", t0, "reminder:ap2:24h");
  auto taken = take_company("acme");
  BOOST_REQUIRE_MESSAGE(taken, why(taken));
  BOOST_REQUIRE(taken->size() == 2u);
  BOOST_TEST((*taken)[0].id == delayed);
  BOOST_TEST((*taken)[1].id == again);
  auto left = test::lease(*jobs, "notifications", t0 + 2 * 86400000, 10,
                          t0 + 3 * 86400000);
  BOOST_REQUIRE(left);
  BOOST_REQUIRE(left->size() == 1u);
  BOOST_TEST(left->front().id == other);
  // Its unique key is free again: the job can be enqueued elsewhere (or
  // here, when a move is undone).
  auto back = test::enqueue(*jobs, (*taken)[1]);
  BOOST_REQUIRE_MESSAGE(back, why(back));
  BOOST_TEST(back->created);
}

BOOST_AUTO_TEST_SUITE_END()
