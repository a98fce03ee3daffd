// The stats recorder on a real store and actor system, with a clock the
// test sets: a recording prunes the minute buckets older than the
// retention (7 days) and keeps the rest.

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <actors/runtime.hpp>
#include <actors/stats_recorder.hpp>
#include <store/environment.hpp>
#include <store/stats.hpp>
#include <store/writer.hpp>

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

store::minute_bucket bucket(std::uint64_t minute, std::string name) {
  store::minute_bucket b;
  b.minute = minute;
  b.kind = store::stats_kind::event;
  b.name = std::move(name);
  b.count = 1;
  return b;
}

/// A store with its stats, in a temporary directory.
struct stats_store_fixture {
  stats_store_fixture() {
    char tmpl[] = "/tmp/switchboard-stats-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    store::options opts;
    opts.path = dir + "/db";
    auto e = store::environment::open(opts);
    BOOST_REQUIRE(e.has_value());
    env = std::move(*e);
    writer = std::make_unique<store::writer>(*env);
    auto s = store::stats_store::open(*env);
    BOOST_REQUIRE(s.has_value());
    stats = std::move(*s);
  }

  ~stats_store_fixture() {
    writer.reset();
    stats.reset();
    env.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  /// The names of the buckets of `names` kept now, oldest first.
  std::vector<std::string> kept(const std::set<std::string>& names) {
    auto r = stats->range(0, UINT64_MAX / 2);
    BOOST_REQUIRE(r.has_value());
    std::vector<std::string> out;
    for (const auto& b : *r)
      if (names.count(b.name) > 0)
        out.push_back(b.name);
    return out;
  }

  std::string dir;
  std::unique_ptr<store::environment> env;
  std::unique_ptr<store::writer> writer;
  std::unique_ptr<store::stats_store> stats;
};

} // namespace

BOOST_AUTO_TEST_SUITE(stats_recorder_suite)

BOOST_FIXTURE_TEST_CASE(a_recording_prunes_what_is_older_than_seven_days,
                        stats_store_fixture) {
  // 2030-01-01T00:00:00Z, moved by the test only.
  auto now_ms = std::make_shared<std::atomic<timestamp_ms>>(1893456000000);
  const std::uint64_t now = static_cast<std::uint64_t>(now_ms->load() / 60000);
  const std::uint64_t week = 7 * 24 * 60;
  const std::set<std::string> ours{"too.old", "a.week.old", "an.hour.old"};
  auto added = writer->execute([&](store::write_txn& txn) {
    return stats->add_in(txn, {bucket(now - week - 1, "too.old"),
                               bucket(now - week, "a.week.old"),
                               bucket(now - 60, "an.hour.old")});
  });
  BOOST_REQUIRE(added.has_value());
  BOOST_TEST(
      kept(ours)
      == (std::vector<std::string>{"too.old", "a.week.old", "an.hour.old"}));
  runtime_config cfg{1};
  caf::actor_system sys{cfg};
  stats_recorder_deps deps;
  deps.writer = writer.get();
  deps.stats = stats.get();
  deps.clock = [now_ms] {
    return now_ms->load();
  };
  deps.interval = 24h; // no periodic recording during the test
  auto recorder = sys.spawn(stats_recorder, std::move(deps));
  caf::scoped_actor self{sys};
  auto record = [&] {
    bool ok = false;
    self->request(recorder, std::chrono::seconds(30), flush_atom::value)
        .receive(
            [&](ok_atom) {
              ok = true;
            },
            [&](caf::error& err) {
              BOOST_TEST_MESSAGE("flush: " << sys.render(err));
            });
    return ok;
  };
  // A recording now: the minute older than 7 days goes, the rest stays.
  BOOST_REQUIRE(record());
  BOOST_TEST(kept(ours)
             == (std::vector<std::string>{"a.week.old", "an.hour.old"}));
  // A day later the week-old one has gone too.
  *now_ms += 24 * 60 * 60 * 1000;
  BOOST_REQUIRE(record());
  BOOST_TEST(kept(ours) == (std::vector<std::string>{"an.hour.old"}));
  caf::anon_send_exit(recorder, caf::exit_reason::user_shutdown);
  self->wait_for(recorder);
}

BOOST_AUTO_TEST_SUITE_END()
