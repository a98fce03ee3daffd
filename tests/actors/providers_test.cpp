// The real providers (libcurl) against real servers on 127.0.0.1 started by
// the test: an HTTP server that answers 200, 500, 400 or hangs, a closed
// port that refuses, and an SMTP listener. The node is deterministic
// (simulated time for the retry policy); the provider calls run inline and
// really go over the loopback.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <actors/errors.hpp>
#include <actors/listeners.hpp>
#include <actors/providers.hpp>
#include <actors/testing.hpp>
#include <store/event_store.hpp>
#include <store/hmac.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/processed.hpp>

#include "tests/actors/helpers.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/times.hpp"

using namespace switchboard;
using namespace switchboard::test;
using namespace std::chrono_literals;
using switchboard::testing::deterministic_node;

namespace {

/// A port on which nothing listens: connections are refused.
std::uint16_t closed_port() {
  int fd = listen_on(0);
  auto p = port_of(fd);
  ::close(fd);
  return p;
}

/// One message an SMTP listener got.
struct smtp_record {
  std::string helo, mail_from;
  std::vector<std::string> rcpt_to;
  std::string data;
};

/// An SMTP listener that speaks enough SMTP for libcurl: 220, EHLO/HELO
/// 250, MAIL/RCPT 250, DATA 354 up to ".", QUIT 221.
class smtp_server {
public:
  smtp_server()
      : st_(std::make_shared<record_list<smtp_record>>()),
        server_([st = st_](int fd, const std::atomic<bool>& stop) {
          serve(fd, stop, *st);
        }) {}

  std::uint16_t port() const {
    return server_.port();
  }
  std::vector<smtp_record> messages() const {
    return st_->all();
  }

private:
  static void serve(int fd, const std::atomic<bool>& stop,
                    record_list<smtp_record>& st) {
    write_all(fd, "220 localhost ESMTP test\r\n");
    std::string buf;
    smtp_record rec;
    for (;;) {
      if (!read_until(fd, buf, "\r\n", stop))
        return;
      auto end = buf.find("\r\n");
      auto line = buf.substr(0, end);
      buf.erase(0, end + 2);
      auto upper = line.substr(0, 4);
      for (auto& ch : upper)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (upper == "EHLO" || upper == "HELO") {
        rec.helo = line;
        write_all(fd, "250 localhost\r\n");
      } else if (upper == "MAIL") {
        rec.mail_from = line.substr(line.find(':') + 1);
        write_all(fd, "250 OK\r\n");
      } else if (upper == "RCPT") {
        rec.rcpt_to.push_back(line.substr(line.find(':') + 1));
        write_all(fd, "250 OK\r\n");
      } else if (upper == "DATA") {
        write_all(fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
        if (!read_until(fd, buf, "\r\n.\r\n", stop))
          return;
        auto dot = buf.find("\r\n.\r\n");
        rec.data = buf.substr(0, dot + 2);
        buf.erase(0, dot + 5);
        st.add(std::exchange(rec, smtp_record{}));
        write_all(fd, "250 OK: queued\r\n");
      } else if (upper == "QUIT") {
        write_all(fd, "221 Bye\r\n");
        return;
      } else {
        write_all(fd, "250 OK\r\n");
      }
    }
  }

  std::shared_ptr<record_list<smtp_record>> st_;
  tcp_server server_;
};

std::string header(const http_record& r, const std::string& name) {
  auto i = r.headers.find(name);
  return i == r.headers.end() ? std::string{} : i->second;
}

boost::json::object body_of(const http_record& r) {
  return boost::json::parse(r.body).as_object();
}

std::vector<store::job> failed_jobs(deterministic_node& n) {
  auto f = n.node().store().jobs->list_failed("", 0, 100);
  BOOST_REQUIRE(f);
  return *f;
}

std::uint64_t pending_in(deterministic_node& n, const std::string& queue) {
  auto c = n.node().store().jobs->counts(queue, n.now());
  BOOST_REQUIRE(c);
  return c->ready + c->delayed + c->leased;
}

/// Whether a pending job of the default queue failed last with an error
/// that holds `text`.
bool pending_error_has(deterministic_node& n, const std::string& text) {
  auto pending = n.node().store().jobs->list_pending("default", 0, 10);
  BOOST_REQUIRE(pending);
  return std::any_of(pending->begin(), pending->end(), [&](const auto& j) {
    return j.last_error.find(text) != std::string::npos;
  });
}

/// A node whose Cal.com and CRM providers are `calcom` and `crm` (CRM
/// signed with a secret).
std::unique_ptr<deterministic_node>
calcom_node(const std::string& calcom_url, const std::string& crm_url,
            std::uint32_t timeout_ms = 2000) {
  return std::make_unique<deterministic_node>([&](node_options& o) {
    o.providers.calcom.base_url = calcom_url;
    o.providers.calcom.api_key = "cal_live_key";
    o.providers.calcom.timeout_ms = timeout_ms;
    o.providers.crm.webhook_url = crm_url;
    o.providers.crm.secret = "crm-secret";
    o.providers.crm.timeout_ms = timeout_ms;
  });
}

/// Books a1 for cu1 (who exists); returns the appointment event's id.
std::string book(deterministic_node& n) {
  auto c = test::sample_customer("cu1");
  BOOST_REQUIRE(n.dispatch_event(customer_created{c, customer_source::phone},
                                 c.id, c.company_id));
  auto a = test::sample_appointment("a1", n.now() + 3 * day_ms);
  auto r = n.dispatch_event(appointment_created{a, "api", {}}, "a1", "c1");
  BOOST_REQUIRE(r);
  auto ev = n.node().store().events->read_by(store::event_index::type,
                                             "appointment.created", 1, 1);
  BOOST_REQUIRE(ev);
  BOOST_REQUIRE(ev->size() == 1u);
  return (*ev)[0].id;
}

} // namespace

BOOST_AUTO_TEST_SUITE(providers_suite)

BOOST_AUTO_TEST_CASE(requests_are_built_as_the_providers_expect) {
  provider_options o;
  o.calcom.base_url = "https://cal.example/";
  o.calcom.api_key = "k";
  auto a = test::sample_appointment("a1", 1893456000000);
  a.service_id = "42";
  auto req = calcom_request(
      o, {"calcom", "booking.create", "e1:calcom", to_json_text(a)});
  BOOST_REQUIRE(req);
  BOOST_TEST(req->url == "https://cal.example/v2/bookings");
  auto body = boost::json::parse(req->body).as_object();
  BOOST_TEST(body.at("eventTypeId").as_int64() == 42);
  BOOST_TEST(body.at("start").as_string() == "2030-01-01T00:00:00Z");
  BOOST_TEST(body.at("lengthInMinutes").as_int64() == 30);
  // Not an appointment: refused, never sent.
  auto bad = calcom_request(o, {"calcom", "booking.create", "k", "[]"});
  BOOST_TEST(!bad);
  // Classification.
  BOOST_TEST(
      (classify_http("x", 201, "").outcome == provider_outcome::delivered));
  BOOST_TEST((classify_http("x", 503, "").outcome == provider_outcome::retry));
  BOOST_TEST((classify_http("x", 429, "").outcome == provider_outcome::retry));
  auto r = classify_http("x", 422, R"({"error":{"message":"bad slot"}})");
  BOOST_TEST((r.outcome == provider_outcome::rejected));
  BOOST_TEST(r.message == "x answered 422: bad slot");
  BOOST_TEST((runtime_code(to_error(r)) == runtime_errc::rejected));
  // An email's Message-ID comes from the idempotency key.
  o.smtp.host = "mail";
  o.smtp.from = "desk@salon.example";
  store::outbound_message msg;
  msg.channel = "email";
  msg.recipient = "ada@example.com";
  msg.subject = "Hi";
  msg.body = "Body\nline 2";
  msg.idempotency_key = "e1:x";
  auto m = email_request(o, message_call(msg), 1893456000000);
  BOOST_REQUIRE(m);
  BOOST_TEST(m->message.find("Message-ID: <e1.x@salon.example>\r\n")
             != std::string::npos);
  BOOST_TEST(m->message.find("Body\r\nline 2") != std::string::npos);
  BOOST_TEST(m->message.find("Date: Tue, 01 Jan 2030 00:00:00 +0000")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(calcom_and_crm_get_the_booking_with_idempotency_keys) {
  http_server cal{[](int) {
    return http_answer{201};
  }};
  http_server crm{[](int) {
    return http_answer{200};
  }};
  auto np = calcom_node(cal.url(), crm.url("/hooks/switchboard"));
  auto& n = *np;
  auto event_id = book(n);
  n.advance(1s);
  auto cr = cal.requests();
  BOOST_REQUIRE(cr.size() == 1u);
  BOOST_TEST(cr[0].method == "POST");
  BOOST_TEST(cr[0].target == "/v2/bookings");
  BOOST_TEST(header(cr[0], "cal-api-version") == "2024-08-13");
  BOOST_TEST(header(cr[0], "authorization") == "Bearer cal_live_key");
  BOOST_TEST(header(cr[0], "idempotency-key") == "c1:" + event_id + ":calcom");
  auto body = body_of(cr[0]);
  BOOST_TEST(body.at("attendee").as_object().at("name").as_string() == "Ada");
  BOOST_TEST(body.at("attendee").as_object().at("email").as_string()
             == "ada@example.com");
  BOOST_TEST(body.at("metadata").as_object().at("appointment_id").as_string()
             == "a1");
  auto rr = crm.requests();
  BOOST_REQUIRE(rr.size() == 1u);
  BOOST_TEST(rr[0].target == "/hooks/switchboard");
  BOOST_TEST(header(rr[0], "idempotency-key") == "c1:" + event_id + ":crm");
  auto ts = header(rr[0], "x-switchboard-timestamp");
  BOOST_TEST(
      header(rr[0], "x-switchboard-signature")
      == "sha256="
             + store::hmac_sha256_hex("crm-secret", ts + "." + rr[0].body));
  auto crm_body = body_of(rr[0]);
  BOOST_TEST(crm_body.at("event").as_string() == "appointment.upsert");
  BOOST_TEST(crm_body.at("data").as_object().at("id").as_string() == "a1");
  BOOST_TEST(pending_in(n, "default") == 0u);
  BOOST_TEST(failed_jobs(n).empty());
  // Nothing went to the outbox for the configured targets.
  auto out = n.node().store().outbox->list(0, 100);
  BOOST_REQUIRE(out);
  for (const auto& m : *out)
    BOOST_TEST((m.channel != "calcom" && m.channel != "crm"));
}

BOOST_AUTO_TEST_CASE(a_500_is_retried_by_the_policy_then_succeeds) {
  http_server cal{[](int n) {
    return n == 1 ? http_answer{500, R"({"message":"database down"})"}
                  : http_answer{201};
  }};
  http_server crm{[](int) {
    return http_answer{200};
  }};
  auto np = calcom_node(cal.url(), crm.url());
  auto& n = *np;
  auto event_id = book(n);
  n.advance(1s);
  BOOST_TEST(cal.requests().size() == 1u);
  BOOST_TEST(crm.requests().size() == 0u);
  BOOST_TEST(pending_in(n, "default") == 1u); // waiting for its retry
  n.advance(5s);
  BOOST_TEST(cal.requests().size() == 1u); // backoff is 10 s
  n.advance(5s);
  auto cr = cal.requests();
  BOOST_REQUIRE(cr.size() == 2u);
  // The retry carries the same key: the provider can deduplicate.
  BOOST_TEST(header(cr[1], "idempotency-key") == "c1:" + event_id + ":calcom");
  BOOST_TEST(crm.requests().size() == 1u);
  BOOST_TEST(pending_in(n, "default") == 0u);
  BOOST_TEST(failed_jobs(n).empty());
}

// With Cal.com a provider and no CRM, the external sync's log reader writes
// every CRM step to the outbox in log order, the booking's with its mark,
// and makes a job of the booking for the Cal.com call alone: the CRM gets
// the booking before its change, even while the Cal.com call is retried.
BOOST_AUTO_TEST_CASE(outbox_steps_keep_log_order_beside_a_provider_job) {
  http_server cal{[](int n) {
    return n == 1 ? http_answer{500, R"({"message":"database down"})"}
                  : http_answer{201};
  }};
  auto np = calcom_node(cal.url(), "");
  auto& n = *np;
  auto event_id = book(n);
  auto changed = test::sample_appointment("a1", n.now() + 3 * day_ms);
  changed.notes = "window seat";
  BOOST_REQUIRE(
      n.dispatch_event(appointment_updated{changed, {}, ""}, "a1", "c1"));
  n.advance(1s);
  BOOST_TEST(cal.requests().size() == 1u);
  auto crm = n.node().store().outbox->list(0, 10, "crm");
  BOOST_REQUIRE(crm);
  BOOST_REQUIRE(crm->size() == 2u);
  BOOST_TEST((*crm)[0].event_id == event_id);
  BOOST_TEST((*crm)[1].body.find("window seat") != std::string::npos);
  std::string sync{listener_names::external_sync};
  auto marked
      = n.node().store().processed->contains("c1", sync + ".crm", event_id);
  BOOST_TEST((marked && *marked));
  auto pending = n.node().store().jobs->list_pending("default", 0, 10);
  BOOST_REQUIRE(pending);
  auto sync_jobs = std::count_if(pending->begin(), pending->end(),
                                 [&](const store::job& j) {
                                   return j.listener == sync;
                                 });
  BOOST_TEST(sync_jobs == 1); // the booking's, for Cal.com
  n.advance(10s);
  BOOST_TEST(cal.requests().size() == 2u);
  crm = n.node().store().outbox->list(0, 10, "crm");
  BOOST_REQUIRE(crm);
  BOOST_TEST(crm->size() == 2u); // the job skipped the marked CRM step
  BOOST_TEST(pending_in(n, "default") == 0u);
  BOOST_TEST(failed_jobs(n).empty());
}

BOOST_AUTO_TEST_CASE(a_400_fails_at_once_with_the_providers_message) {
  http_server cal{[](int) {
    return http_answer{400, R"({"status":"error","message":"eventTypeId )"
                            R"(s1 does not exist"})"};
  }};
  http_server crm{[](int) {
    return http_answer{200};
  }};
  auto np = calcom_node(cal.url(), crm.url());
  auto& n = *np;
  book(n);
  n.advance(1s);
  auto failed = failed_jobs(n);
  BOOST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0].listener == listener_names::external_sync);
  BOOST_TEST(failed[0].attempts == 1u);
  BOOST_TEST(failed[0].last_error.find(
                 "calcom answered 400: eventTypeId s1 does not exist")
             != std::string::npos);
  n.advance(600s);
  BOOST_TEST(cal.requests().size() == 1u); // never retried
  BOOST_TEST(crm.requests().size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_hanging_provider_times_out_and_is_retried) {
  http_server cal{[](int n) {
    http_answer a{201};
    a.hang = n == 1;
    return a;
  }};
  http_server crm{[](int) {
    return http_answer{200};
  }};
  auto np = calcom_node(cal.url(), crm.url(), 300);
  auto& n = *np;
  auto started = std::chrono::steady_clock::now();
  book(n);
  n.advance(1s);
  auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST(cal.requests().size() == 1u);
  BOOST_TEST((waited >= 300ms)); // curl's own timeout ended the call
  BOOST_TEST(pending_error_has(n, "timed out"));
  n.advance(10s);
  BOOST_TEST(cal.requests().size() == 2u);
  BOOST_TEST(crm.requests().size() == 1u);
  BOOST_TEST(pending_in(n, "default") == 0u);
  BOOST_TEST(failed_jobs(n).empty());
}

BOOST_AUTO_TEST_CASE(a_refused_connection_is_retried_until_the_server_is_up) {
  auto port = closed_port();
  http_server crm{[](int) {
    return http_answer{200};
  }};
  auto np = calcom_node("http://127.0.0.1:" + std::to_string(port), crm.url());
  auto& n = *np;
  book(n);
  n.advance(1s);
  BOOST_TEST(pending_error_has(n, "unreachable"));
  BOOST_TEST(failed_jobs(n).empty());
  // The provider comes up on that port; the next try (10 s) gets through.
  http_server cal{[](int) {
                    return http_answer{201};
                  },
                  port};
  n.advance(10s);
  BOOST_TEST(cal.requests().size() == 1u);
  BOOST_TEST(crm.requests().size() == 1u);
  BOOST_TEST(pending_in(n, "default") == 0u);
}

BOOST_AUTO_TEST_CASE(refused_for_good_after_the_last_try) {
  auto port = closed_port();
  auto np = calcom_node("http://127.0.0.1:" + std::to_string(port),
                        "http://127.0.0.1:" + std::to_string(port));
  auto& n = *np;
  book(n);
  n.advance(std::chrono::seconds(1 + 10 + 30 + 60 + 120));
  auto failed = failed_jobs(n);
  BOOST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0].attempts == 5u);
  BOOST_TEST(failed[0].last_error.find("unreachable") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sms_and_email_go_to_their_providers) {
  http_server sms{[](int) {
    return http_answer{202};
  }};
  smtp_server smtp;
  deterministic_node n{[&](node_options& o) {
    o.providers.sms.url = sms.url("/messages");
    o.providers.sms.token = "sms-token";
    o.providers.smtp.host = "127.0.0.1";
    o.providers.smtp.port = smtp.port();
    o.providers.smtp.from = "desk@salon.example";
  }};
  auto event_id = book(n); // Ada prefers SMS and email
  n.advance(6s);           // the notification listener waits 5 s
  auto sr = sms.requests();
  BOOST_REQUIRE(sr.size() == 1u);
  BOOST_TEST(sr[0].target == "/messages");
  BOOST_TEST(header(sr[0], "authorization") == "Bearer sms-token");
  BOOST_TEST(header(sr[0], "idempotency-key")
             == "c1:" + event_id + ":notify.sms");
  auto body = body_of(sr[0]);
  BOOST_TEST(body.at("to").as_string() == "+4930123456");
  BOOST_TEST(body.at("channel").as_string() == "sms");
  BOOST_TEST(std::string{body.at("body").as_string()}.find("confirmed")
             != std::string::npos);
  auto mails = smtp.messages();
  BOOST_REQUIRE(mails.size() == 1u);
  BOOST_TEST(mails[0].mail_from.find("<desk@salon.example>")
             != std::string::npos);
  BOOST_REQUIRE(mails[0].rcpt_to.size() == 1u);
  BOOST_TEST(mails[0].rcpt_to[0].find("<ada@example.com>")
             != std::string::npos);
  const auto& data = mails[0].data;
  BOOST_TEST(data.find("Subject: Appointment confirmed\r\n")
             != std::string::npos);
  BOOST_TEST(data.find("To: ada@example.com\r\n") != std::string::npos);
  BOOST_TEST(data.find("Message-ID: <c1." + event_id + ".notify.email@")
             != std::string::npos);
  BOOST_TEST(data.find("confirmed") != std::string::npos);
  // Nothing for these channels in the outbox (Cal.com and CRM, with no
  // provider here, are); no job is left but the reminders of later.
  for (const char* ch : {"sms", "email"}) {
    auto out = n.node().store().outbox->list(0, 100, ch);
    BOOST_REQUIRE(out);
    BOOST_TEST(out->empty());
  }
  auto pending = n.node().store().jobs->list_pending("notifications", 0, 100);
  BOOST_REQUIRE(pending);
  for (const auto& j : *pending)
    BOOST_TEST(j.listener.rfind("reminder.", 0) == 0u);
  BOOST_TEST(failed_jobs(n).empty());
}

BOOST_AUTO_TEST_CASE(a_rejected_sms_fails_at_once_and_email_still_goes_out) {
  http_server sms{[](int) {
    return http_answer{422, R"({"error":"invalid phone number"})"};
  }};
  deterministic_node n{[&](node_options& o) {
    o.providers.sms.url = sms.url();
  }};
  book(n);
  n.advance(6s);
  BOOST_TEST(sms.requests().size() == 1u);
  auto failed = failed_jobs(n);
  BOOST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0].listener == listener_names::notify_sms);
  BOOST_TEST(failed[0].last_error.find("sms answered 422: invalid phone number")
             != std::string::npos);
  // Email has no provider here: the outbox, the embedded default.
  auto out = n.node().store().outbox->list(0, 100, "email");
  BOOST_REQUIRE(out);
  BOOST_TEST(out->size() == 1u);
  n.advance(120s);
  BOOST_TEST(sms.requests().size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
