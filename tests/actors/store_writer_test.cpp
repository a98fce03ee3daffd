// The store writer actor on a real store, writer thread and actor system:
// background ops are grouped into few writer ops, each op keeps its own
// outcome, and a group that loses its transaction is split so that only
// the culprit fails.

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <actors/errors.hpp>
#include <actors/runtime.hpp>
#include <actors/store_writer.hpp>
#include <store/environment.hpp>
#include <store/processed.hpp>
#include <store/writer.hpp>

#include "tests/support/process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

struct writer_fixture {
  writer_fixture() {
    store::options opts;
    opts.path = dir.path() + "/db";
    auto e = store::environment::open(opts);
    BOOST_REQUIRE(e.has_value());
    env = std::move(*e);
    auto p = store::processed_set::open(*env);
    BOOST_REQUIRE(p.has_value());
    marks = std::make_unique<store::processed_set>(*p);
    writer = std::make_unique<store::writer>(*env);
  }

  ~writer_fixture() {
    writer.reset();
    marks.reset();
    env.reset();
  }

  /// An op that marks `id`, or fails as `fail` says without writing.
  write_op mark(const std::string& id,
                store::errc fail = store::errc::none) const {
    auto* m = marks.get();
    return make_write_op(
        [m, id, fail](store::write_txn& txn) -> store::result<void> {
          if (auto r = m->mark_in(txn, "c1", "t", id); !r)
            return make_unexpected(r.error());
          if (fail != store::errc::none)
            return make_unexpected(store::error{fail, "failed on purpose"});
          return {};
        },
        store::isolation::nested, store::lane::background);
  }

  bool marked(const std::string& id) const {
    auto r = marks->contains("c1", "t", id);
    return r && *r;
  }

  /// Sends every op at once from one actor, then collects the answers:
  /// true for ok, false for an error, by op.
  std::vector<bool> run(store_writer_actor w, std::vector<write_op> ops) {
    caf::scoped_actor self{sys};
    std::vector<bool> out(ops.size(), false);
    std::vector<decltype(self->request(w, 30s, write_atom::value, ops[0]))>
        handles;
    for (auto& op : ops)
      handles.push_back(self->request(w, 30s, write_atom::value, op));
    for (std::size_t i = 0; i < handles.size(); ++i)
      handles[i].receive(
          [&](ok_atom) {
            out[i] = true;
          },
          [&](caf::error&) {
            out[i] = false;
          });
    return out;
  }

  /// Marks e0 .. e<count - 1> at once through a store writer actor that
  /// groups up to `max_group` ops; op i fails as `fail(i)` says. The
  /// answers, by op.
  std::vector<bool> run_marks(
      std::size_t max_group, int count,
      const std::function<store::errc(int)>& fail = [](int) {
        return store::errc::none;
      }) {
    auto w = sys.spawn(store_writer, writer.get(), false, max_group);
    std::vector<write_op> ops;
    for (int i = 0; i < count; ++i)
      ops.push_back(mark("e" + std::to_string(i), fail(i)));
    return run(w, std::move(ops));
  }

  test::temp_dir dir;
  std::unique_ptr<store::environment> env;
  std::unique_ptr<store::processed_set> marks;
  std::unique_ptr<store::writer> writer;
  runtime_config cfg{2};
  caf::actor_system sys{cfg};
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_writer_suite, writer_fixture)

// 500 background ops sent at once go to the writer in groups: far fewer
// writer ops than 500, every op answered ok and written.
BOOST_AUTO_TEST_CASE(background_ops_go_to_the_writer_in_groups) {
  auto out = run_marks(128, 500);
  auto s = writer->stats();
  BOOST_TEST_MESSAGE("500 ops: " << s.ops_committed << " writer op(s) in "
                                 << s.commits << " commit(s)");
  for (int i = 0; i < 500; ++i) {
    BOOST_TEST(out[i]);
    BOOST_TEST(marked("e" + std::to_string(i)));
  }
  // At most 128 a group: at least 4 writer ops, and far fewer than 500.
  BOOST_TEST(s.ops_committed >= 4u);
  BOOST_TEST(s.ops_committed <= 50u);
}

// Without grouping (max_group 1) each op is a writer op of its own.
BOOST_AUTO_TEST_CASE(without_grouping_each_op_is_a_writer_op) {
  auto out = run_marks(1, 50);
  for (bool ok : out)
    BOOST_TEST(ok);
  BOOST_TEST(writer->stats().ops_committed == 50u);
}

// In a group, an op that fails (without losing the transaction) fails
// alone and writes nothing; an op that loses the transaction makes the
// group split, and again only it fails.
BOOST_AUTO_TEST_CASE(a_failing_op_fails_alone_in_its_group) {
  auto out = run_marks(128, 60, [](int i) {
    return i == 10   ? store::errc::version_conflict
           : i == 40 ? store::errc::internal
                     : store::errc::none;
  });
  for (int i = 0; i < 60; ++i) {
    bool culprit = i == 10 || i == 40;
    BOOST_TEST_INFO("op " << i);
    BOOST_TEST(out[i] == !culprit);
    BOOST_TEST(marked("e" + std::to_string(i)) == !culprit);
  }
}

// Ops that all succeed run in one nested transaction for their group, not
// one each: a nested transaction costs LMDB a copy of its dirty page list
// and a merge into the parent's at its commit.
BOOST_AUTO_TEST_CASE(the_ops_of_a_group_share_one_nested_transaction) {
  auto w = sys.spawn(store_writer, writer.get(), false, std::size_t{128});
  auto serials = std::make_shared<std::vector<std::uint64_t>>(50);
  std::vector<write_op> ops;
  for (std::size_t i = 0; i < 50; ++i)
    ops.push_back(make_write_op(
        [serials, i](store::write_txn& txn) -> store::result<void> {
          (*serials)[i] = txn.serial(); // the writer thread
          return {};
        },
        store::isolation::nested, store::lane::background));
  auto out = run(w, std::move(ops));
  for (bool ok : out)
    BOOST_TEST(ok);
  std::set<std::uint64_t> distinct(serials->begin(), serials->end());
  BOOST_TEST_MESSAGE("50 ops in " << distinct.size() << " transaction(s), "
                                  << writer->stats().ops_committed
                                  << " writer op(s)");
  // One transaction per group (each writer op is a group here).
  BOOST_TEST(distinct.size() <= writer->stats().ops_committed);
  BOOST_TEST(distinct.size() < 50u);
}

BOOST_AUTO_TEST_SUITE_END()
