// Email over SMTP with STARTTLS and AUTH against a real SMTP host started by
// the test (tests/app/scripts/smtp_server.py, Debian's python3-aiosmtpd)
// with a self-signed certificate the test makes with the openssl CLI. The
// daemon sends a booking's confirmation there: over TLS, authenticated
// with PLAIN or LOGIN, verifying the certificate against the configured
// CA file; it refuses an untrusted certificate and a server that offers
// no STARTTLS before it sends the password or the message, and a wrong
// password fails the job at once.

#include <chrono>
#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

using switchboard::test::temp_dir;

namespace {

constexpr const char* smtp_user = "mailer";
constexpr const char* smtp_password = "s3cret-pass";

bool have_aiosmtpd() {
  child_process py{{"/usr/bin/python3", "-c", "import aiosmtpd"}};
  return py.wait(30s) == 0;
}

/// A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `dir`),
/// and an unrelated one (other.pem) that trusts nothing of it.
void make_certificates(const std::string& dir) {
  for (const auto& [cert, key] : {std::pair{"cert.pem", "key.pem"},
                                  std::pair{"other.pem", "other-key.pem"}}) {
    child_process ssl{{"/usr/bin/openssl", "req", "-x509", "-newkey",
                       "rsa:2048", "-nodes", "-keyout", dir + "/" + key, "-out",
                       dir + "/" + cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                       "-addext", "subjectAltName=IP:127.0.0.1"}};
    BOOST_TEST_INFO(ssl.output());
    BOOST_REQUIRE(ssl.wait(60s) == 0);
  }
}

/// The SMTP host: aiosmtpd with STARTTLS required (or none at all when
/// `plain`), AUTH required; what it sees goes to a JSON-lines log.
struct smtp_host {
  smtp_host(const std::string& dir, bool plain)
      : log(dir + (plain ? "/plain.jsonl" : "/tls.jsonl")) {
    std::vector<std::string> args{"/usr/bin/python3",
                                  std::string{SWITCHBOARD_SOURCE_DIR}
                                      + "/tests/app/scripts/smtp_server.py",
                                  "--user",
                                  smtp_user,
                                  "--password",
                                  smtp_password,
                                  "--log",
                                  log};
    if (plain)
      args.emplace_back("--plain");
    else
      args.insert(args.end(),
                  {"--cert", dir + "/cert.pem", "--key", dir + "/key.pem"});
    proc = std::make_unique<child_process>(args);
    auto line = proc->wait_for("listening ", 60s);
    BOOST_TEST_INFO(proc->output());
    BOOST_REQUIRE(!line.empty());
    port = std::stoi(line.substr(line.find("listening ") + 10));
  }

  /// The events logged so far.
  std::vector<json::object> events() const {
    std::vector<json::object> out;
    std::ifstream in{log};
    std::string line;
    while (std::getline(in, line))
      if (!line.empty())
        out.push_back(json::parse(line).as_object());
    return out;
  }

  std::vector<json::object> events(const std::string& kind) const {
    std::vector<json::object> out;
    for (auto& e : events())
      if (e.at("event").as_string() == kind)
        out.push_back(e);
    return out;
  }

  std::string log;
  std::unique_ptr<child_process> proc;
  int port = 0;
};

/// The daemon, sending email to `host` with STARTTLS and the CA `ca`.
struct mail_fixture : daemon_fixture {
  mail_fixture(const smtp_host& host, const std::string& ca,
               std::vector<std::string> more = {})
      : daemon_fixture(sets(host, ca, std::move(more))) {
    http_client c{port};
    seed_service(c, acme, "Anna");
    succeeded(c.request("POST", "/api/customers",
                        R"({"id":"ada","name":"Ada","email":"ada@example.com",
                     "prefers_email":true})",
                        acme));
    succeeded(c.request("POST", "/api/appointments",
                        R"({"id":"a1","customer_id":"ada","service_id":"s1",
                     "staff_id":"st1","start_time":"2030-01-07T09:00:00Z"})",
                        acme));
  }

  static std::vector<std::string> sets(const smtp_host& host,
                                       const std::string& ca,
                                       std::vector<std::string> more) {
    std::vector<std::string> s{
        "providers.smtp_host=127.0.0.1",
        "providers.smtp_port=" + std::to_string(host.port),
        "providers.smtp_tls=starttls",
        "providers.smtp_ca_file=" + ca,
        std::string{"providers.smtp_user="} + smtp_user,
        std::string{"providers.smtp_password="} + smtp_password,
        "providers.smtp_from=bookings@salon.example",
        "listener.send_appointment_notification.delay_ms=0"};
    s.insert(s.end(), more.begin(), more.end());
    return s;
  }

  /// The email job's last error ("" while it has none), waiting for a
  /// retry or failed.
  std::string email_job_error(const std::string& state = {}) {
    http_client c{port};
    for (const auto& s : state.empty()
                             ? std::vector<std::string>{"pending", "failed"}
                             : std::vector<std::string>{state}) {
      auto r = c.request(
          "GET", "/api/jobs?state=" + s + "&listener=notify.email&limit=10", "",
          acme);
      BOOST_REQUIRE(r.status == 200);
      auto body = r.json(); // alive while its jobs are read
      for (const auto& j : body.at("jobs").as_array())
        if (const auto* e = j.as_object().if_contains("last_error");
            e && e->is_string() && !e->get_string().empty())
          return std::string{e->get_string()};
    }
    return {};
  }

  /// The email job's first error, waited for (`state` as above).
  std::string awaited_job_error(const std::string& state = {}) {
    std::string error;
    BOOST_REQUIRE(eventually(
        [&] {
          error = email_job_error(state);
          return !error.empty();
        },
        2min));
    return error;
  }
};

/// A daemon trusting the CA file `ca` sends to an SMTP host (`plain`: one
/// that offers no STARTTLS): its email job fails with an error that says
/// `why`, and neither the password nor the message reach the host.
void expect_refused(bool plain, const std::string& ca, const std::string& why) {
  BOOST_REQUIRE(have_aiosmtpd());
  temp_dir dir;
  make_certificates(dir.path());
  smtp_host host{dir.path(), plain};
  mail_fixture f{host, dir.path() + "/" + ca};
  auto error = f.awaited_job_error();
  BOOST_TEST_INFO(error);
  BOOST_TEST(error.find(why) != std::string::npos);
  BOOST_TEST(host.events("auth").empty());
  BOOST_TEST(host.events("message").empty());
}

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_suite)

BOOST_AUTO_TEST_CASE(email_goes_over_starttls_with_auth) {
  if (!have_aiosmtpd()) {
    BOOST_TEST_MESSAGE("python3-aiosmtpd is missing (scripts/setup.sh "
                       "installs it)");
    BOOST_FAIL("python3-aiosmtpd is needed");
  }
  temp_dir dir;
  make_certificates(dir.path());
  smtp_host host{dir.path(), false};
  {
    mail_fixture f{host, dir.path() + "/cert.pem"};
    BOOST_REQUIRE(eventually(
        [&] {
          return host.events("message").size() == 1u;
        },
        2min));
    auto m = host.events("message")[0];
    BOOST_TEST(m.at("tls").as_bool());
    BOOST_TEST(m.at("login").as_string() == smtp_user);
    BOOST_TEST(m.at("mail_from").as_string() == "bookings@salon.example");
    BOOST_REQUIRE(m.at("rcpt_tos").as_array().size() == 1u);
    BOOST_TEST(m.at("rcpt_tos").as_array()[0].as_string() == "ada@example.com");
    std::string data{m.at("data").as_string()};
    BOOST_TEST(data.find("Subject: Appointment confirmed")
               != std::string::npos);
    BOOST_TEST(data.find("To: ada@example.com") != std::string::npos);
    BOOST_TEST(data.find("Hello Ada") != std::string::npos);
    auto auth = host.events("auth");
    BOOST_REQUIRE(auth.size() == 1u);
    BOOST_TEST(auth[0].at("ok").as_bool());
    BOOST_TEST(auth[0].at("tls").as_bool());
    BOOST_TEST(auth[0].at("mechanism").as_string() == "PLAIN");
  }
  // AUTH LOGIN when configured so.
  mail_fixture f{host, dir.path() + "/cert.pem", {"providers.smtp_auth=LOGIN"}};
  BOOST_REQUIRE(eventually(
      [&] {
        return host.events("message").size() == 2u;
      },
      2min));
  auto auth = host.events("auth");
  BOOST_REQUIRE(auth.size() == 2u);
  BOOST_TEST(auth[1].at("mechanism").as_string() == "LOGIN");
  BOOST_TEST(auth[1].at("tls").as_bool());
}

BOOST_AUTO_TEST_CASE(an_untrusted_certificate_gets_nothing) {
  // The CA file names another certificate: the server's is not trusted.
  expect_refused(false, "other.pem", "not trusted");
}

BOOST_AUTO_TEST_CASE(a_server_without_starttls_gets_nothing) {
  // This server would take AUTH and the message in clear.
  expect_refused(true, "cert.pem", "offers no STARTTLS");
}

BOOST_AUTO_TEST_CASE(a_wrong_password_fails_the_job) {
  BOOST_REQUIRE(have_aiosmtpd());
  temp_dir dir;
  make_certificates(dir.path());
  smtp_host host{dir.path(), false};
  mail_fixture f{
      host, dir.path() + "/cert.pem", {"providers.smtp_password=wrong"}};
  auto error = f.awaited_job_error("failed");
  BOOST_TEST_INFO(error);
  BOOST_TEST(error.find("535") != std::string::npos);
  auto auth = host.events("auth");
  BOOST_REQUIRE(auth.size() == 1u); // refused for good: not tried again
  BOOST_TEST(!auth[0].at("ok").as_bool());
  BOOST_TEST(auth[0].at("tls").as_bool());
  BOOST_TEST(host.events("message").empty());
}

BOOST_AUTO_TEST_SUITE_END()
