#pragma once

// What the webhook sources share (app/http/webhook_routes.cpp: the call
// provider's and Twilio's webhooks, the settings routes' helpers and the
// route table; app/http/webhook_calcom.cpp: Cal.com;
// app/http/webhook_retell.cpp: Retell AI): the webhook options, the body
// helpers, running a command, and the handlers the route table names. Not
// for other parts: they include app/http/webhooks.hpp.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <caf/event_based_actor.hpp>

#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <app/http/bridge.hpp>
#include <app/http/context.hpp>
#include <app/http/webhooks.hpp>
#include <messages/json_string.hpp>

namespace switchboard::app::http {

namespace json = boost::json;

namespace webhook_detail {

using namespace std::chrono_literals;

struct webhook_state {
  std::mutex mtx;
  webhook_options opts;
  /// Signatures seen within the tolerance → their timestamp (replays).
  std::map<std::string, std::int64_t> seen;
};

/// The webhook options and the signatures seen, shared by every thread.
webhook_state& state();

/// The request's body as a JSON object; nullptr after answering 400/422.
const json::object* object_body(const context_ptr& ctx);

/// Whether the path's {company_id} is a company of ours; false after
/// answering 404. A signed delivery must still name one, so that it
/// cannot create data for anyone else.
bool path_company_known(const context_ptr& ctx);

/// The request's body as a JSON object once `verify` accepted the
/// delivery; nullptr after `verify` or `object_body` answered.
const json::object* verified_body(const context_ptr& ctx,
                                  bool (*verify)(const context_ptr&));

/// The command `name` to the call `call_id` of the path's company, with
/// `payload`, as webhook `source` delivers it: correlated by the call, the
/// request's user agent kept.
aggregate_command call_command(const context_ptr& ctx,
                               const std::string& call_id, std::string name,
                               const json::object& payload, std::string source);

/// Sends `cmd` (a command) to the router and answers with the aggregate's
/// state.
template <class Command>
void run_command(const context_ptr& ctx, Command cmd, std::string kind,
                 std::function<bool(const caf::error&)> is_duplicate = {}) {
  ctx->with_actor([ctx, cmd = std::move(cmd), kind = std::move(kind),
                   is_duplicate](caf::event_based_actor* self) {
    self->request(ctx->node().router(), 60s, command_atom::value, cmd)
        .then(
            [ctx, kind](const command_result& r) {
              json::object o{{"status", "accepted"},
                             {"duplicate", r.sequences.empty()},
                             {"id", r.aggregate_id}};
              json::error_code ec;
              auto st = json::parse(r.state, ec);
              if (!ec)
                o[kind] = std::move(st);
              ctx->respond(200, o);
            },
            [ctx, is_duplicate](caf::error& e) {
              if (is_duplicate && is_duplicate(e)) {
                ctx->respond(200, json::object{{"status", "accepted"},
                                               {"duplicate", true}});
                return;
              }
              fail_with(*ctx, e);
            });
  });
}

/// The company a settings route acts on: the token's, or for an admin
/// token `?company_id=`; "" after answering 422 (none named) or the
/// store's error (an unknown company: 404).
std::string settings_company(const context_ptr& ctx);

/// A company's integration setting as the settings routes answer it: the
/// JSON object `shown` (the setting as the API shows it) with the
/// company's id.
json::value shown_setting(std::string_view shown, const std::string& company);

/// Stores a company's integration setting through the writer and answers
/// 200 with `shown_setting(shown, company)` once it is durable.
void save_setting(const context_ptr& ctx, std::string_view name,
                  std::string company, std::string stored,
                  std::string_view shown);

// -- in app/http/webhook_calcom.cpp -------------------------------------------

void calcom_webhook(const context_ptr& ctx);
void get_calcom_settings(const context_ptr& ctx);
void put_calcom_settings(const context_ptr& ctx);

// -- in app/http/webhook_retell.cpp -------------------------------------------

void retell_webhook(const context_ptr& ctx);
void get_retell_settings(const context_ptr& ctx);
void put_retell_settings(const context_ptr& ctx);

} // namespace webhook_detail

} // namespace switchboard::app::http
