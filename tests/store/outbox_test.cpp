// The message outbox: messages a provider took are found by the
// provider's id and their status is replaced in place; both survive a
// reopen.

#include "store/outbox.hpp"

#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/store/prelude.hpp"
#include <optional>

namespace {

struct outbox_fixture : store_fixture {
  std::unique_ptr<message_outbox>& outbox = part<message_outbox>();

  outbound_message message(const std::string& sid) {
    auto m = sms_message("acme", "+4930123456", "Hello");
    m.event_id = "e1";
    m.idempotency_key = "e1:notify.sms";
    m.created_at = 1700000000000;
    m.provider = sid.empty() ? "" : "twilio";
    m.provider_id = sid;
    m.status = sid.empty() ? "" : "queued";
    return m;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(outbox_suite, outbox_fixture)

BOOST_AUTO_TEST_CASE(provider_ids_find_messages_and_statuses_change) {
  std::uint64_t plain = 0, sent = 0;
  auto res = w->execute([&](write_txn& txn) -> result<void> {
    auto a = outbox->add_in(txn, message(""));
    if (!a)
      return make_unexpected(a.error());
    plain = *a;
    auto b = outbox->add_in(txn, message("SM1"));
    if (!b)
      return make_unexpected(b.error());
    sent = *b;
    return {};
  });
  BOOST_REQUIRE_MESSAGE(res, why(res));
  std::optional<outbound_message> found;
  res = w->execute([&](write_txn& txn) -> result<void> {
    auto m = outbox->find_in(txn, "twilio", "SM1");
    if (!m)
      return make_unexpected(m.error());
    BOOST_TEST(!outbox->find_in(txn, "twilio", "SM2"));
    BOOST_TEST(outbox->find_in(txn, "twilio", "SM2").error().code
               == errc::not_found);
    BOOST_TEST(!outbox->find_in(txn, "", ""));
    m->status = "delivered";
    m->status_at = 1700000001000;
    m->status_error = "";
    m->provider_id = "changed"; // kept as stored
    found = *m;
    return outbox->update_in(txn, *m);
  });
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_TEST(found->id == sent);
  reopen();
  auto m = outbox->get(sent);
  BOOST_REQUIRE(m);
  BOOST_TEST(m->provider == "twilio");
  BOOST_TEST(m->provider_id == "SM1");
  BOOST_TEST(m->status == "delivered");
  BOOST_TEST(m->status_at == 1700000001000);
  BOOST_TEST(m->body == "Hello");
  auto p = outbox->get(plain);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->provider.empty());
  BOOST_TEST(p->status.empty());
  outbound_message missing;
  missing.id = 99;
  res = w->execute([&](write_txn& txn) {
    return outbox->update_in(txn, missing);
  });
  BOOST_REQUIRE(!res);
  BOOST_TEST(res.error().code == errc::not_found);
}

BOOST_AUTO_TEST_SUITE_END()
