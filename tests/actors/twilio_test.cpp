// The pure parts of Twilio's protocol: numbers, form bodies, answers,
// errors, the retry classification, status order and X-Twilio-Signature
// (checked against Twilio's documented example).

#include <boost/test/unit_test.hpp>

#include <actors/errors.hpp>
#include <actors/providers.hpp>
#include <actors/twilio.hpp>

using namespace switchboard;

namespace {

twilio_options configured() {
  twilio_options o;
  o.account_sid = "AC00000000000000000000000000000001";
  o.auth_token = "token";
  o.sms_from = "+15005550006";
  o.whatsapp_from = "whatsapp:+14155238886";
  return o;
}

std::string field(const form_fields& f, const std::string& name) {
  for (const auto& [k, v] : f)
    if (k == name)
      return v;
  return "<none>";
}

} // namespace

BOOST_AUTO_TEST_SUITE(twilio_protocol_suite)

BOOST_AUTO_TEST_CASE(numbers_are_e164) {
  BOOST_TEST(*e164("+49 (30) 123-456") == "+4930123456");
  BOOST_TEST(*e164("+15005550006") == "+15005550006");
  BOOST_TEST(!e164("030 123456"));
  BOOST_TEST(!e164("+0123"));
  BOOST_TEST(!e164("+1234567890123456")); // 16 digits
  BOOST_TEST(!e164("+49abc"));
  BOOST_TEST(!e164(""));
}

BOOST_AUTO_TEST_CASE(forms_name_the_channel_and_the_sender) {
  auto o = configured();
  BOOST_TEST(o.takes("sms"));
  BOOST_TEST(o.takes("whatsapp"));
  BOOST_TEST(!o.takes("email"));
  auto sms = twilio_message_form(o, "sms", "+49 30 123456", "Hi & bye");
  BOOST_REQUIRE(sms.error.empty());
  BOOST_TEST(field(sms.fields, "To") == "+4930123456");
  BOOST_TEST(field(sms.fields, "From") == "+15005550006");
  BOOST_TEST(field(sms.fields, "Body") == "Hi & bye");
  BOOST_TEST(field(sms.fields, "StatusCallback") == "<none>");
  BOOST_TEST(form_encode(sms.fields)
             == "To=%2B4930123456&From=%2B15005550006&Body=Hi%20%26%20bye");
  auto wa = twilio_message_form(o, "whatsapp", "+4930123456", "Hi");
  BOOST_TEST(field(wa.fields, "To") == "whatsapp:+4930123456");
  BOOST_TEST(field(wa.fields, "From") == "whatsapp:+14155238886");
  // A messaging service replaces From; the callback URL is asked for.
  o.messaging_service_sid = "MG00000000000000000000000000000001";
  o.status_callback_url = "https://sb.example/webhooks/twilio/status";
  wa = twilio_message_form(o, "whatsapp", "whatsapp:+4930123456", "Hi");
  BOOST_TEST(field(wa.fields, "To") == "whatsapp:+4930123456");
  BOOST_TEST(field(wa.fields, "From") == "<none>");
  BOOST_TEST(field(wa.fields, "MessagingServiceSid")
             == "MG00000000000000000000000000000001");
  BOOST_TEST(field(wa.fields, "StatusCallback")
             == "https://sb.example/webhooks/twilio/status");
  // Bad numbers name the field.
  auto bad = twilio_message_form(configured(), "sms", "call me", "Hi");
  BOOST_TEST(bad.error.rfind("To:", 0) == 0u);
  auto no_sender = configured();
  no_sender.sms_from = "me";
  bad = twilio_message_form(no_sender, "sms", "+4930123456", "Hi");
  BOOST_TEST(bad.error.find("twilio_sms_from") != std::string::npos);
  // Without a sender or service a channel is not Twilio's.
  auto partial = configured();
  partial.whatsapp_from.clear();
  BOOST_TEST(!partial.takes("whatsapp"));
  BOOST_TEST(partial.takes("sms"));
}

BOOST_AUTO_TEST_CASE(requests_use_basic_auth_and_the_accounts_path) {
  auto o = configured();
  o.base_url = "http://127.0.0.1:9/";
  outbound_call call{"sms", "message.send", "k1",
                     R"({"to":"+4930123456","body":"Hi","channel":"sms"})"};
  auto req = twilio_request(o, call);
  BOOST_REQUIRE(req);
  BOOST_TEST(req->url
             == "http://127.0.0.1:9/2010-04-01/Accounts/"
                "AC00000000000000000000000000000001/Messages.json");
  bool basic = false;
  for (const auto& [k, v] : req->headers)
    if (k == "Authorization")
      // base64("AC00000000000000000000000000000001:token")
      basic = v
              == "Basic "
                 "QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTp0b2tlbg==";
  BOOST_TEST(basic);
  o.api_key_sid = "SK1";
  o.api_key_secret = "s";
  req = twilio_request(o, call);
  BOOST_REQUIRE(req);
  for (const auto& [k, v] : req->headers)
    if (k == "Authorization")
      BOOST_TEST(v == "Basic U0sxOnM="); // base64("SK1:s")
  outbound_call bad{"sms", "message.send", "k2", R"({"to":"nobody"})"};
  BOOST_TEST(!twilio_request(o, bad));
}

BOOST_AUTO_TEST_CASE(answers_and_errors_are_twilios) {
  auto m = twilio_message(R"({"sid":"SM1","account_sid":"AC1",
                              "status":"queued"})");
  BOOST_REQUIRE(m);
  BOOST_TEST(m->sid == "SM1");
  BOOST_TEST(m->status == "queued");
  BOOST_TEST(!twilio_message(R"({"status":"success"})"));
  BOOST_TEST(!twilio_message("not json"));
  auto text = twilio_error_text(400, R"({"code":21211,
      "message":"Invalid 'To' Phone Number","more_info":"https://x/21211",
      "status":400})");
  BOOST_TEST(text.find("\"code\":21211") != std::string::npos);
  BOOST_TEST(text.find("\"more_info\":\"https://x/21211\"")
             != std::string::npos);
  BOOST_TEST(twilio_error_text(502, "<html>bad gateway</html>").find("html")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(only_429_and_5xx_are_retried) {
  auto r = classify_twilio(201, "{}", 0);
  BOOST_TEST((r.outcome == provider_outcome::delivered));
  r = classify_twilio(429, R"({"code":20429})", 7000);
  BOOST_TEST((r.outcome == provider_outcome::retry));
  BOOST_TEST(r.retry_after_ms == 7000);
  auto err = to_error(r);
  BOOST_TEST(retry_after_ms(err) == 7000);
  BOOST_TEST(describe(err).find("20429") != std::string::npos);
  BOOST_TEST((runtime_code(err) == runtime_errc::unavailable));
  r = classify_twilio(503, "{}", 0);
  BOOST_TEST((r.outcome == provider_outcome::retry));
  BOOST_TEST(retry_after_ms(to_error(r)) == 0);
  for (long status : {400L, 401L, 404L, 408L, 409L})
    BOOST_TEST((classify_twilio(status, "{}", 0).outcome
                == provider_outcome::rejected));
  BOOST_TEST(
      (runtime_code(to_error(classify_twilio(400, R"({"code":21211})", 0)))
       == runtime_errc::rejected));
}

BOOST_AUTO_TEST_CASE(statuses_only_move_forward) {
  BOOST_TEST(twilio_status_rank("queued") < twilio_status_rank("sent"));
  BOOST_TEST(twilio_status_rank("sent") < twilio_status_rank("delivered"));
  BOOST_TEST(twilio_status_rank("delivered") < twilio_status_rank("read"));
  BOOST_TEST(twilio_status_rank("undelivered")
             == twilio_status_rank("delivered"));
  BOOST_TEST(twilio_status_rank("") < 0);
  BOOST_TEST(twilio_status_rank("received") < 0);
}

BOOST_AUTO_TEST_CASE(signature_is_twilios) {
  // Twilio's documented example of request validation.
  BOOST_TEST(twilio_signature("12345",
                              "https://mycompany.com/myapp.php?foo=1&bar=2",
                              {{"Digits", "1234"},
                               {"To", "+18005551212"},
                               {"From", "+14158675309"},
                               {"Caller", "+14158675309"},
                               {"CallSid", "CA1234567890ABCDE"}})
             == "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  BOOST_TEST(twilio_signature("12345",
                              "https://mycompany.com/myapp.php?foo=1&bar=3",
                              {{"Digits", "1234"}})
             != "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

BOOST_AUTO_TEST_CASE(options_that_cannot_work_are_named) {
  provider_options p;
  BOOST_TEST(p.problem().empty());
  p.twilio = configured();
  BOOST_TEST(p.problem().empty());
  BOOST_TEST(p.configured().count("sms") == 1u);
  p.sms.url = "http://127.0.0.1:9/sms";
  BOOST_TEST(p.problem().find("providers.sms_url") != std::string::npos);
  p.sms.url.clear();
  p.twilio.auth_token.clear();
  p.twilio.api_key_sid = "SK1";
  p.twilio.api_key_secret = "s";
  BOOST_TEST(p.problem().find("twilio_auth_token") != std::string::npos);
  provider_options smtp;
  smtp.smtp.host = "mail.example";
  smtp.smtp.user = "u";
  BOOST_TEST(smtp.problem().find("smtp_tls") != std::string::npos);
  smtp.smtp.tls = "starttls";
  BOOST_TEST(smtp.problem().empty());
}

BOOST_AUTO_TEST_SUITE_END()
