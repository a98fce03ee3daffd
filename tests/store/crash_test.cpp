#include "store/event_store.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;

namespace {

std::string payload_of(const std::string& id) {
  return R"({"id":")" + id + R"(","pad":")" + std::string(200, 'p') + "\"}";
}

struct ack {
  std::uint64_t seq;
  std::string id;
  std::string aggregate;
};

} // namespace

BOOST_AUTO_TEST_SUITE(crash)

BOOST_AUTO_TEST_CASE(acknowledged_appends_survive_sigkill) {
  test::temp_dir dir;
  auto path = dir.path + "/db";
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(SWITCHBOARD_CRASH_CHILD, SWITCHBOARD_CRASH_CHILD, path.c_str(), "8",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string buf;
  std::size_t lines = 0;
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    if (!killed && std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      killed = true;
      BOOST_FAIL("child did not reach 3000 acks in time");
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0)
      continue;
    char chunk[65536];
    auto n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0)
      break; // EOF: the child is gone
    buf.append(chunk, static_cast<std::size_t>(n));
    if (!killed) {
      lines = 0;
      for (char c : buf)
        lines += c == '\n';
      if (lines >= 3000) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_REQUIRE(WIFSIGNALED(status));
  BOOST_TEST(WTERMSIG(status) == SIGKILL);
  // Every complete line is an acknowledged append.
  std::vector<ack> acks;
  std::istringstream in{buf.substr(0, buf.rfind('\n') + 1)};
  std::string word;
  while (in >> word) {
    BOOST_REQUIRE(word == "ack");
    ack a;
    in >> a.seq >> a.id >> a.aggregate;
    acks.push_back(a);
  }
  BOOST_TEST_MESSAGE("acknowledged before SIGKILL: " << acks.size());
  BOOST_REQUIRE(acks.size() >= 3000u);
  // Reopen and check each acknowledged event is there, intact.
  test::store_fixture f;
  f.close();
  f.opts.path = path;
  f.open();
  auto last = f.store->last_sequence();
  BOOST_REQUIRE(last);
  int bad = 0;
  for (auto& a : acks) {
    auto e = f.store->read_event(a.seq);
    if (!e || e->id != a.id || e->aggregate_id != a.aggregate
        || e->data != payload_of(a.id) || e->sequence != a.seq) {
      ++bad;
      continue;
    }
    // "crash-<company>-<n>": each company its own streams.
    auto company = a.aggregate.substr(6, a.aggregate.find('-', 6) - 6);
    auto seq = f.store->find_event(company, a.id);
    if (!seq || *seq != a.seq)
      ++bad;
  }
  BOOST_TEST(bad == 0);
  // The log has no gaps and every stream's versions are contiguous.
  std::map<std::string, std::uint64_t> versions;
  std::uint64_t expect = 1;
  auto n = f.store->scan(0, [&](const envelope_view& v) {
    BOOST_CHECK_EQUAL(v.sequence, expect);
    ++expect;
    auto& ver = versions[std::string{v.aggregate_id}];
    BOOST_CHECK_EQUAL(v.version, ver + 1);
    ver = v.version;
    return true;
  });
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == *last);
  for (auto& [agg, ver] : versions)
    BOOST_TEST(*f.store->stream_version(agg.substr(6, agg.find('-', 6) - 6),
                                        "appointment", agg)
               == ver);
  // The store takes appends again.
  auto again = f.store->append({test::make_event("appointment", "crash-c1-1",
                                                 "appointment.updated", "c1")},
                               expected_version::exact(versions["crash-c1-1"]));
  BOOST_REQUIRE(again);
  BOOST_TEST(again->front() == *last + 1);
}

BOOST_AUTO_TEST_SUITE_END()
