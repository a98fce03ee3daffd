// A full or failing disk under the real daemon: tests/faults/powercut.c,
// preloaded, fails the store's writes (ENOSPC past the end of a file, EIO
// on writes or on syncs) while a control file says so, and LMDB's own map
// limit (store.max_map_size_mb) fills up. Writes must answer 507 or 503
// with a JSON error, reads and /health go on, the cause is logged once and
// counted, and writes are taken again, with nothing acknowledged lost and
// nothing refused half there.

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

using switchboard::test::error_code;

namespace {

/// The file the interposer reads before each write: made before the
/// daemon starts (a base constructed before daemon_fixture).
struct fault_control {
  switchboard::test::temp_dir ctl;
  std::string path = ctl.path() + "/fault";
};

/// The daemon under the fault interposer, with store.sync=full. The
/// interposer watches every file under /tmp the daemon writes: its store
/// (the fixture's temp dir) is the only one.
struct fault_fixture : fault_control, daemon_fixture {
  explicit fault_fixture(std::vector<std::string> sets = {"store.sync=full"})
      : daemon_fixture(
          std::move(sets),
          {"/usr/bin/env", std::string{"LD_PRELOAD="} + POWERCUT_LIBRARY,
           "POWERCUT_DIR=/tmp", "POWERCUT_FAULT=" + path, asan_options()}) {}

  /// The sanitizer options the suite runs with (scripts/test.sh
  /// --sanitize), and that the ASan runtime need not come first: the
  /// interposer, plain C, is preloaded before it.
  static std::string asan_options() {
    const char* inherited = std::getenv("ASAN_OPTIONS");
    return std::string{"ASAN_OPTIONS="} + (inherited ? inherited : "")
           + ":verify_asan_link_order=0";
  }

  /// What the interposer injects from now on ("" for nothing).
  void inject(const std::string& what) {
    std::ofstream{path, std::ios::trunc} << what;
  }

  http_reply add_customer(http_client& c, const std::string& id) {
    json::object b{{"id", id},
                   {"name", "Customer " + id + name_padding},
                   {"phone", "+4930123"}};
    return c.request("POST", "/api/customers", json::serialize(b), acme);
  }

  int get_customer(http_client& c, const std::string& id) {
    return c.request("GET", "/api/customers/" + id, "", acme).status;
  }

  /// The value of `series` (name and labels) in a scrape of /metrics.
  double metric(http_client& c, const std::string& series) {
    auto text = c.request("GET", "/metrics", "", admin).body;
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos)
      return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  /// How often `needle` is in what the daemon printed before `until` (all
  /// of it when `until` is empty or not there).
  std::size_t printed(const std::string& needle,
                      const std::string& until = "") {
    std::size_t n = 0;
    auto out = proc->output();
    if (!until.empty())
      out = out.substr(0, out.find(until));
    for (auto at = out.find(needle); at != std::string::npos;
         at = out.find(needle, at + 1))
      ++n;
    return n;
  }

  /// `switchboard check` on the stopped daemon's store.
  int check() {
    std::vector<std::string> args{SWITCHBOARD_BINARY, "check"};
    auto base = base_args();
    args.insert(args.end(), base.begin(), base.end());
    child_process cli(args);
    std::string line;
    while (cli.read_line(line, 30s))
      BOOST_TEST_MESSAGE("check: " << line);
    return cli.wait(30s);
  }

  /// Makes names long (of the 200 bytes a name may have), so that the
  /// store fills faster.
  std::string name_padding = std::string(150, 'x');
};

/// A store that may grow from 1 to 2 MB only.
struct map_fixture : fault_fixture {
  map_fixture()
      : fault_fixture({"store.sync=none", "store.map_size_mb=1",
                       "store.max_map_size_mb=2"}) {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(disk_faults)

BOOST_FIXTURE_TEST_CASE(a_full_disk_answers_507_and_takes_writes_again,
                        fault_fixture) {
  http_client c{port};
  BOOST_REQUIRE(add_customer(c, "before").status == 201);
  inject("enospc");
  // Commits that fit in pages LMDB freed earlier do not grow the file and
  // still succeed; new customers soon need a page past its end.
  std::vector<std::string> acked;
  std::string refused;
  http_reply no_space;
  for (int i = 0; i < 2000 && refused.empty(); ++i) {
    auto id = "c" + std::to_string(i);
    auto r = add_customer(c, id);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 201 || r.status == 507);
    if (r.status == 201) {
      acked.push_back(id);
    } else {
      refused = id;
      no_space = r;
    }
  }
  BOOST_REQUIRE(!refused.empty());
  BOOST_TEST_INFO(no_space.body);
  BOOST_TEST(error_code(no_space) == "disk_full");
  BOOST_TEST(no_space.body.find("No space left on device")
             != std::string::npos);
  // More refused writes; reads, health and metrics go on.
  for (int i = 0; i < 5; ++i) {
    auto r = add_customer(c, "more" + std::to_string(i));
    BOOST_TEST((r.status == 201 || r.status == 507));
    if (r.status == 201)
      acked.push_back("more" + std::to_string(i));
  }
  BOOST_TEST(get_customer(c, "before") == 200);
  BOOST_TEST(c.request("GET", "/health", "", "").status == 200);
  BOOST_TEST(
      metric(c, R"(switchboard_store_write_faults_total{cause="no_space"})")
      >= 1);
  // Space returns: the next write is taken.
  inject("");
  BOOST_TEST(add_customer(c, "after").status == 201);
  BOOST_REQUIRE(!proc->wait_for("the disk takes writes again", 10s).empty());
  // Once until the disk took writes again. (Later flaps, when a commit
  // fits in pages LMDB freed and the next does not, are logged each.)
  BOOST_TEST(printed("the disk refused a write", "the disk takes writes again")
             == 1u);
  for (auto& id : acked)
    BOOST_TEST(get_customer(c, id) == 200, id);
  BOOST_TEST(get_customer(c, refused) == 404);
  BOOST_TEST(get_customer(c, "after") == 200);
  stop();
  BOOST_TEST(check() == 0);
}

BOOST_FIXTURE_TEST_CASE(a_failing_disk_answers_503_and_takes_writes_again,
                        fault_fixture) {
  http_client c{port};
  BOOST_REQUIRE(add_customer(c, "before").status == 201);
  std::vector<std::string> unsure;
  // EIO from fsync: LMDB aborts the commit (or the writer's sync of it
  // fails) and nothing is acknowledged. (EIO on the write of LMDB's meta
  // page would leave the environment unusable, MDB_PANIC, until a restart:
  // 503 for everything store-backed; see README.)
  for (std::string what : {"eio-sync"}) {
    inject(what);
    auto id = "during-" + what;
    auto r = add_customer(c, id);
    BOOST_TEST_INFO(what << ": " << r.body);
    BOOST_TEST(r.status == 503);
    BOOST_TEST(error_code(r) == "storage_unavailable");
    BOOST_TEST(r.header("retry-after") == "1");
    BOOST_TEST(get_customer(c, "before") == 200);
    BOOST_TEST(c.request("GET", "/health", "", "").status == 200);
    unsure.push_back(id);
    // A change of an existing customer is refused too ...
    auto patch = c.request("PATCH", "/api/customers/before",
                           R"({"name":"Refused"})", acme);
    BOOST_TEST(patch.status == 503);
    inject("");
    BOOST_TEST(add_customer(c, "after-" + what).status == 201);
    // ... and the next one applies to the version the store has (no
    // version decided in memory for the refused one).
    patch = c.request("PATCH", "/api/customers/before",
                      R"({"name":"Taken )" + what + R"("})", acme);
    BOOST_TEST_INFO(patch.body);
    BOOST_TEST(patch.status == 200);
    BOOST_TEST(get_customer(c, "after-" + what) == 200);
  }
  auto faults
      = metric(c, R"(switchboard_store_write_faults_total{cause="io_error"})")
        + metric(c, R"(switchboard_store_write_faults_total{cause="sync"})");
  BOOST_TEST(faults >= 1);
  BOOST_REQUIRE(!proc->wait_for("the disk takes writes again", 10s).empty());
  // Once until the disk took writes again. (Later flaps, when a commit
  // fits in pages LMDB freed and the next does not, are logged each.)
  BOOST_TEST(printed("the disk refused a write", "the disk takes writes again")
             == 1u);
  // A write answered 503 may have committed (its sync failed after the
  // commit): whole or missing, never half there; check says which.
  for (auto& id : unsure) {
    auto st = get_customer(c, id);
    BOOST_TEST((st == 200 || st == 404), id << ": " << st);
  }
  stop();
  BOOST_TEST(check() == 0);
}

BOOST_FIXTURE_TEST_CASE(a_full_map_answers_507, map_fixture) {
  http_client c{port};
  std::vector<std::string> acked;
  http_reply full;
  for (int i = 0; i < 5000 && full.status == 0; ++i) {
    auto id = "m" + std::to_string(i);
    auto r = add_customer(c, id);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE((r.status == 201 || r.status == 507));
    if (r.status == 201)
      acked.push_back(id);
    else
      full = r;
  }
  BOOST_REQUIRE(full.status == 507);
  BOOST_TEST_INFO(full.body);
  BOOST_TEST(error_code(full) == "disk_full");
  BOOST_TEST(full.body.find("max_map_size") != std::string::npos);
  BOOST_TEST(get_customer(c, acked.front()) == 200);
  BOOST_TEST(get_customer(c, acked.back()) == 200);
  BOOST_TEST(c.request("GET", "/health", "", "").status == 200);
  BOOST_TEST(
      metric(c, R"(switchboard_store_write_faults_total{cause="map_full"})")
      >= 1);
  stop();
  BOOST_TEST(check() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
