// Internal actors drop what another node sends (actors/local_only.hpp):
// a real node in one actor system, and a second actor system in the same
// process (another node id, as the middleman gives each system one)
// sending to the node's actors by their handles, as a connected node
// that has learned their ids could.

#include <chrono>
#include <string>

#include <boost/test/unit_test.hpp>

#include <caf/scoped_actor.hpp>

#include <actors/errors.hpp>
#include <actors/local_only.hpp>
#include <actors/node.hpp>
#include <actors/runtime.hpp>

#include "tests/support/process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

/// Whether `from` gets an answer (an `R` or an error other than a
/// timeout) to `xs...` sent to `to` within `wait`.
template <class R, class Handle, class... Ts>
bool answers(caf::scoped_actor& from, const Handle& to,
             std::chrono::milliseconds wait, Ts&&... xs) {
  bool answered = false;
  from->request(to, wait, std::forward<Ts>(xs)...)
      .receive(
          [&](const R&) {
            answered = true;
          },
          [&](caf::error& e) {
            answered = e != caf::make_error(caf::sec::request_timeout);
          });
  return answered;
}

} // namespace

BOOST_AUTO_TEST_SUITE(local_only_suite)

BOOST_AUTO_TEST_CASE(internal_actors_drop_what_another_node_sends) {
  test::temp_dir dir;
  runtime_config here_cfg{2};
  caf::actor_system here_sys{here_cfg};
  runtime_config there_cfg{1};
  caf::actor_system there_sys{there_cfg};
  BOOST_REQUIRE(here_sys.node() != there_sys.node());

  node_options opts;
  opts.store.path = dir.path();
  opts.store.map_size = std::size_t{64} << 20;
  auto started = node::start(here_sys, opts);
  if (!started)
    BOOST_FAIL("cannot start: " << started.error());
  auto& nd = **started;
  {
    caf::scoped_actor here{here_sys};
    caf::scoped_actor there{there_sys};
    auto dropped = foreign_messages_dropped();

    // Reads: answered here, not there.
    BOOST_TEST(
        answers<cache_stats>(here, nd.cache(), 5000ms, stats_atom::value));
    BOOST_TEST(
        !answers<cache_stats>(there, nd.cache(), 300ms, stats_atom::value));
    BOOST_REQUIRE(!nd.queues().empty());
    for (const auto& [name, q] : nd.queues()) {
      BOOST_TEST_CONTEXT("queue " << name) {
        BOOST_TEST(answers<queue_stats>(here, q, 5000ms, stats_atom::value));
        BOOST_TEST(!answers<queue_stats>(there, q, 300ms, stats_atom::value));
      }
    }
    BOOST_TEST(answers<std::string>(here, nd.router(), 5000ms, get_atom::value,
                                    std::string{"customer"}, std::string{"c1"},
                                    std::string{"nobody"}));
    BOOST_TEST(!answers<std::string>(there, nd.router(), 300ms, get_atom::value,
                                     std::string{"customer"}, std::string{"c1"},
                                     std::string{"nobody"}));

    // A write from there changes nothing: the entry it puts is not in the
    // cache afterwards.
    BOOST_TEST(!answers<ok_atom>(there, nd.cache(), 300ms, put_atom::value,
                                 std::string{"k"}, std::string{"v"},
                                 std::vector<std::string>{}, std::uint32_t{0}));
    bool hit = true;
    here->request(nd.cache(), 5s, get_atom::value, std::string{"k"})
        .receive(
            [&](const cache_lookup& r) {
              hit = r.found;
            },
            [&](caf::error& e) {
              BOOST_FAIL("cache get: " << here_sys.render(e));
            });
    BOOST_TEST(!hit);

    // Each dropped message was counted.
    BOOST_TEST(foreign_messages_dropped() >= dropped + 3 + nd.queues().size());
  }
  nd.stop();
}

BOOST_AUTO_TEST_SUITE_END()
