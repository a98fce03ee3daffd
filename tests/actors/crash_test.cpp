// A real process is killed with SIGKILL while jobs are leased; after a
// restart every job runs, none is lost, none has its effects twice.

#include <set>

#include <boost/test/unit_test.hpp>

#include <actors/node.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>

#include "tests/support/process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(crash_suite)

BOOST_AUTO_TEST_CASE(kill_9_with_leased_jobs_loses_none) {
  test::temp_dir dir;
  std::set<std::string> acked;
  std::size_t done_before_kill = 0;
  {
    test::child_process child({QUEUE_CHILD, dir.path(), "produce", "400"});
    std::string line;
    while (done_before_kill < 40 && child.read_line(line, 60s)) {
      if (line.rfind("dispatched ", 0) == 0)
        acked.insert(line.substr(11));
      else if (line.rfind("done ", 0) == 0)
        ++done_before_kill;
    }
    BOOST_TEST_INFO(child.output());
    BOOST_REQUIRE(done_before_kill >= 40u);
    child.signal(SIGKILL);
    BOOST_TEST(child.wait(30s) == 128 + SIGKILL);
    // Lines written before the kill.
    for (std::istringstream in{child.output()}; std::getline(in, line);)
      if (line.rfind("dispatched ", 0) == 0)
        acked.insert(line.substr(11));
  }
  BOOST_TEST_MESSAGE("killed after " << acked.size() << " acked dispatches and "
                                     << done_before_kill << " jobs done");
  {
    test::child_process child({QUEUE_CHILD, dir.path(), "resume"});
    auto line = child.wait_for("all done", 120s);
    BOOST_TEST_INFO(child.output());
    BOOST_REQUIRE(!line.empty());
    BOOST_TEST(child.wait(60s) == 0);
  }
  store::options opts;
  opts.path = dir.path();
  auto st = node_store::open(opts);
  BOOST_REQUIRE(st);
  auto& s = **st;
  auto stored = s.events->read_by(store::event_index::type, "customer.created",
                                  1, 100000);
  BOOST_REQUIRE(stored);
  BOOST_TEST(stored->size() >= acked.size());
  std::map<std::string, std::string> stored_ids; // id -> company
  for (const auto& ev : *stored)
    stored_ids.emplace(ev.id, ev.company_id);
  for (const auto& id : acked) {
    BOOST_TEST_INFO("acked event " << id);
    BOOST_REQUIRE(stored_ids.count(id) == 1u);
    auto seen = s.processed->contains(stored_ids[id], "work", id);
    BOOST_REQUIRE(seen);
    BOOST_TEST(*seen);
  }
  // Exactly once: the effect counter equals the number of events.
  auto done = s.projections->counter("test/work/done");
  BOOST_REQUIRE(done);
  BOOST_TEST(static_cast<std::size_t>(*done) == stored->size());
  auto counts = s.jobs->counts("work", 0);
  BOOST_REQUIRE(counts);
  BOOST_TEST(counts->leased + counts->failed == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
