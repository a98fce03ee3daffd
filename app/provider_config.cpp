#include "app/provider_config.hpp"

#include <cstdint>

namespace switchboard::app {

provider_options provider_options_from(const config& cfg) {
  auto ms = [&](const char* key) {
    return static_cast<std::uint32_t>(cfg.get_int(key));
  };
  provider_options p;
  p.calcom.base_url = cfg.get_string("providers.calcom_base_url");
  p.calcom.api_key = cfg.get_string("providers.calcom_api_key");
  p.calcom.api_version = cfg.get_string("providers.calcom_api_version");
  p.calcom.timeout_ms = ms("providers.calcom_timeout_ms");
  p.crm.webhook_url = cfg.get_string("providers.crm_webhook_url");
  p.crm.secret = cfg.get_string("providers.crm_secret");
  p.crm.token = cfg.get_string("providers.crm_token");
  p.crm.timeout_ms = ms("providers.crm_timeout_ms");
  p.sms.url = cfg.get_string("providers.sms_url");
  p.sms.token = cfg.get_string("providers.sms_token");
  p.sms.timeout_ms = ms("providers.messaging_timeout_ms");
  p.whatsapp.url = cfg.get_string("providers.whatsapp_url");
  p.whatsapp.token = cfg.get_string("providers.whatsapp_token");
  p.whatsapp.timeout_ms = ms("providers.messaging_timeout_ms");
  p.smtp.host = cfg.get_string("providers.smtp_host");
  p.smtp.port = static_cast<std::uint16_t>(cfg.get_int("providers.smtp_port"));
  p.smtp.tls = cfg.get_string("providers.smtp_tls");
  p.smtp.from = cfg.get_string("providers.smtp_from");
  p.smtp.user = cfg.get_string("providers.smtp_user");
  p.smtp.password = cfg.get_string("providers.smtp_password");
  p.smtp.timeout_ms = ms("providers.smtp_timeout_ms");
  p.smtp.ca_file = cfg.get_string("providers.smtp_ca_file");
  p.smtp.auth = cfg.get_string("providers.smtp_auth");
  if (p.smtp.auth == "any")
    p.smtp.auth.clear();
  auto& t = p.twilio;
  t.base_url = cfg.get_string("providers.twilio_base_url");
  t.account_sid = cfg.get_string("providers.twilio_account_sid");
  t.auth_token = cfg.get_string("providers.twilio_auth_token");
  t.api_key_sid = cfg.get_string("providers.twilio_api_key_sid");
  t.api_key_secret = cfg.get_string("providers.twilio_api_key_secret");
  t.sms_from = cfg.get_string("providers.twilio_sms_from");
  t.whatsapp_from = cfg.get_string("providers.twilio_whatsapp_from");
  t.messaging_service_sid
      = cfg.get_string("providers.twilio_messaging_service_sid");
  t.status_callback_url = cfg.get_string("providers.twilio_status_callback");
  t.timeout_ms = ms("providers.messaging_timeout_ms");
  p.workers = ms("providers.workers");
  return p;
}

} // namespace switchboard::app
