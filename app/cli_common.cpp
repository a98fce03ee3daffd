#include "app/cli_common.hpp"

#include <charconv>
#include <chrono>

#include <app/provider_config.hpp>
#include <app/store_options.hpp>

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

namespace cli {

namespace {

/// Takes `value_flags` and `switch_flags` out of `args` into `out`; the
/// other arguments go to `rest`. Returns an error naming the flag, or "".
std::string take_flags(const std::vector<std::string>& args,
                       const std::set<std::string>& value_flags,
                       const std::set<std::string>& switch_flags,
                       parsed_args& out, std::vector<std::string>& rest) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto eq = a.find('=');
    auto name = a.rfind("--", 0) == 0 ? a.substr(0, eq) : std::string{};
    if (!name.empty() && value_flags.count(name) > 0) {
      if (eq != std::string::npos) {
        out.values[name] = a.substr(eq + 1);
      } else {
        if (i + 1 >= args.size())
          return name + " needs a value";
        out.values[name] = args[++i];
      }
    } else if (!name.empty() && eq == std::string::npos
               && switch_flags.count(name) > 0) {
      out.switches.insert(name);
    } else {
      rest.push_back(a);
    }
  }
  return {};
}

} // namespace

expected<parsed_args, std::string>
parse_args(const std::vector<std::string>& args,
           const std::set<std::string>& value_flags,
           const std::set<std::string>& switch_flags) {
  parsed_args out;
  std::vector<std::string> rest;
  if (auto err = take_flags(args, value_flags, switch_flags, out, rest);
      !err.empty())
    return make_unexpected(std::move(err));
  auto common = parse_common_flags(rest);
  if (!common)
    return make_unexpected(common.error());
  out.common = std::move(*common);
  return out;
}

expected<parsed_args, int>
parse_tool_args(const std::string& cmd, const char* usage,
                const std::vector<std::string>& args,
                const std::set<std::string>& value_flags,
                const std::set<std::string>& switch_flags, bool operands,
                const char* one_operand) {
  parsed_args out;
  std::vector<std::string> rest;
  if (auto err = take_flags(args, value_flags, switch_flags, out, rest);
      !err.empty()) {
    std::cerr << "switchboard " << cmd << ": " << err << '\n';
    return make_unexpected(2);
  }
  auto common = parse_command_flags(cmd, usage, rest, operands);
  if (!common)
    return make_unexpected(common.error());
  if (one_operand != nullptr && common->rest.size() != 1) {
    std::cerr << "switchboard " << cmd << ": " << one_operand << usage;
    return make_unexpected(2);
  }
  out.common = std::move(*common);
  return out;
}

bool read_uints(
    const std::string& cmd, const parsed_args& a,
    std::initializer_list<std::pair<const char*, std::uint64_t*>> flags) {
  for (auto [flag, out] : flags) {
    if (auto i = a.values.find(flag); i != a.values.end()) {
      auto n = to_uint(flag, i->second);
      if (!n) {
        std::cerr << "switchboard " << cmd << ": " << n.error() << '\n';
        return false;
      }
      *out = *n;
    }
  }
  return true;
}

expected<std::uint64_t, std::string> to_uint(const std::string& flag,
                                             const std::string& text) {
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty())
    return make_unexpected(flag + " expects a non-negative integer, got \""
                           + text + "\"");
  return n;
}

std::unique_ptr<node_store> open_store(const std::string& cmd,
                                       const common_flags& flags,
                                       bool rebuild_stream_index) {
  auto where = locate_store(cmd, flags);
  if (!where)
    return nullptr;
  auto opts = store_options(where->cfg);
  opts.path = where->path;
  auto st = node_store::open(opts, rebuild_stream_index);
  if (!st) {
    std::cerr << "switchboard " << cmd << ": cannot open the store at "
              << opts.path << ": " << st.error() << '\n';
    return nullptr;
  }
  return std::move(*st);
}

int unknown_value(const std::string& cmd, const char* flag, const char* what,
                  const std::string& value,
                  const std::vector<std::string_view>& known) {
  std::cerr << "switchboard " << cmd << ": " << flag << ": unknown " << what
            << " \"" << value << '"';
  for (std::size_t i = 0; i < known.size(); ++i)
    std::cerr << (i == 0 ? " (one of " : ", ") << known[i];
  std::cerr << (known.empty() ? "\n" : ")\n");
  return 2;
}

timestamp_ms wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace cli

} // namespace switchboard::app
