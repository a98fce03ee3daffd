#include "store/audit_log.hpp"

#include "fixture.hpp"

#include "tests/store/prelude.hpp"
#include <boost/test/unit_test.hpp>

namespace {

/// A store fixture with an audit log that audits every type but
/// "call.started".
struct audit_fixture : store_fixture {
  std::unique_ptr<audit_log>& log = part<audit_log>([this] {
    return audit_log::open(*env, *store, [](std::string_view type) {
      return type != "call.started";
    });
  });

  /// Appends `e` and records it in one transaction, as the dispatcher does.
  std::uint64_t dispatch(envelope e) {
    std::uint64_t seq = 0;
    auto res = w->execute([&](write_txn& txn) -> result<void> {
      std::vector<envelope> v{e};
      auto seqs = store->append_in(txn, v, expected_version::any());
      if (!seqs)
        return make_unexpected(seqs.error());
      seq = seqs->front();
      return log->record_in(txn, v.front());
    });
    BOOST_REQUIRE_MESSAGE(res, why(res));
    return seq;
  }

  static std::vector<std::uint64_t>
  seqs_of(const result<std::vector<audit_record>>& recs) {
    BOOST_REQUIRE_MESSAGE(recs, why(recs));
    std::vector<std::uint64_t> out;
    for (const auto& r : *recs)
      out.push_back(r.sequence);
    return out;
  }
};

using seqs = std::vector<std::uint64_t>;

} // namespace

BOOST_FIXTURE_TEST_SUITE(audit_suite, audit_fixture)

BOOST_AUTO_TEST_CASE(reads_by_model_and_by_company_skip_unaudited_events) {
  // 1: a1 (c1), 2: a2 (c2), 3: a1 not audited, 4: a1 (c1), 5: a3 (c1).
  dispatch(make_event("appointment", "a1"));
  dispatch(make_event("appointment", "a2", "appointment.created", "c2"));
  dispatch(make_event("appointment", "a1", "call.started"));
  auto e4 = make_event("appointment", "a1", "appointment.cancelled");
  e4.metadata.ip_address = "10.1.2.3";
  e4.metadata.user_agent = "agent/1";
  dispatch(e4);
  dispatch(make_event("appointment", "a3"));

  BOOST_TEST(seqs_of(log->by_model("c1", "appointment", "a1", 0, 10))
                 == (seqs{1, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(seqs_of(log->by_company("c1", 0, 10)) == (seqs{1, 4, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(seqs_of(log->by_company("c2", 0, 10)) == (seqs{2}),
             boost::test_tools::per_element());
  // Paging: after a sequence, at most n.
  BOOST_TEST(seqs_of(log->by_model("c1", "appointment", "a1", 1, 10))
                 == (seqs{4}),
             boost::test_tools::per_element());
  BOOST_TEST(seqs_of(log->by_company("c1", 0, 2)) == (seqs{1, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(seqs_of(log->by_company("c1", 4, 2)) == (seqs{5}),
             boost::test_tools::per_element());
  // Unknown models and companies read empty.
  BOOST_TEST(seqs_of(log->by_model("c1", "appointment", "zz", 0, 10)).empty());
  BOOST_TEST(seqs_of(log->by_company("c9", 0, 10)).empty());
  BOOST_TEST(seqs_of(log->by_company("c1", 0, 0)).empty());
  // The record carries the envelope's fields.
  auto recs = log->by_model("c1", "appointment", "a1", 3, 1);
  BOOST_REQUIRE_MESSAGE(recs, why(recs));
  BOOST_REQUIRE(recs->size() == 1u);
  const auto& r = recs->front();
  BOOST_TEST(r.event_type == "appointment.cancelled");
  BOOST_TEST(r.model_type == "appointment");
  BOOST_TEST(r.model_id == "a1");
  BOOST_TEST(r.company_id == "c1");
  BOOST_TEST(r.user_id == "u1");
  BOOST_TEST(r.ip_address == "10.1.2.3");
  BOOST_TEST(r.user_agent == "agent/1");
  BOOST_TEST(r.data == e4.data);
  auto cp = log->checkpoint();
  BOOST_REQUIRE_MESSAGE(cp, why(cp));
  BOOST_TEST(*cp == 5u);
}

BOOST_AUTO_TEST_CASE(catch_up_records_what_a_crash_left_out) {
  // Appended without their records, as if the process died in between.
  append_one(make_event("customer", "cu1", "customer.created"));
  append_one(make_event("customer", "cu1", "call.started"));
  append_one(make_event("customer", "cu1", "customer.updated"));
  BOOST_TEST(seqs_of(log->by_model("c1", "customer", "cu1", 0, 10)).empty());
  auto written = log->catch_up(*w, 2);
  BOOST_REQUIRE_MESSAGE(written, why(written));
  BOOST_TEST(*written == 2u);
  BOOST_TEST(seqs_of(log->by_model("c1", "customer", "cu1", 0, 10))
                 == (seqs{1, 3}),
             boost::test_tools::per_element());
  auto cp = log->checkpoint();
  BOOST_REQUIRE_MESSAGE(cp, why(cp));
  BOOST_TEST(*cp == 3u);
  // Again: nothing left to do.
  written = log->catch_up(*w, 2);
  BOOST_REQUIRE_MESSAGE(written, why(written));
  BOOST_TEST(*written == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
