// Webhooks: the call provider's call events, signed with HMAC-SHA256 over
// "timestamp.body" (X-Switchboard-Timestamp, X-Switchboard-Signature:
// sha256=<hex>), and Cal.com's bookings, signed as Cal.com signs them
// (X-Cal-Signature-256: hex HMAC-SHA256 of the raw body, no timestamp).
// Forged, stale or replayed deliveries get 401 and change nothing; a
// redelivered event changes state once (derived event and appointment ids).
// Twilio's message status callbacks are signed as Twilio signs them
// (X-Twilio-Signature, base64 HMAC-SHA1 over the URL and the sorted form
// parameters); a forged one gets 403.

#include "app/http/webhooks.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>

#include <caf/event_based_actor.hpp>

#include <actors/aggregate_state.hpp>
#include <actors/calcom.hpp>
#include <actors/calendar_commands.hpp>
#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <actors/providers.hpp>
#include <actors/retell.hpp>
#include <actors/twilio.hpp>
#include <app/config.hpp>
#include <app/http/bridge.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/routes.hpp>
#include <messages/id_check.hpp>
#include <messages/json.hpp>
#include <store/event_store.hpp>
#include <store/outbox.hpp>

namespace switchboard::app::http {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct webhook_state {
  std::mutex mtx;
  webhook_options opts;
  /// Signatures seen within the tolerance → their timestamp (replays).
  std::map<std::string, std::int64_t> seen;
};

webhook_state& state() {
  static webhook_state st;
  return st;
}

/// Checks the call provider's signature, timestamp and replay; answers
/// 401/503 and returns false when the delivery is refused.
bool verify(const context_ptr& ctx) {
  auto& st = state();
  std::string secret;
  std::int64_t tolerance = 0;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    secret = st.opts.call_provider_secret;
    tolerance = st.opts.tolerance_s;
  }
  if (secret.empty()) {
    ctx->fail(503, "webhooks_disabled",
              "call provider webhooks are not configured");
    return false;
  }
  const auto& req = ctx->req();
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto checked = check_signature(secret, req.header("x-switchboard-timestamp"),
                                 req.header("x-switchboard-signature"),
                                 req.body, now, tolerance);
  if (!checked.problem.empty()) {
    ctx->fail(401, "unauthorized", checked.problem);
    return false;
  }
  auto& expected = checked.signature;
  auto ts = checked.timestamp;
  // The secret is the provider's; the path must still name a company of
  // ours, so that a signed delivery cannot create data for anyone else.
  if (auto c = ctx->tenants().company(ctx->param("company_id")); !c) {
    ctx->fail(404, "not_found",
              "no company " + std::string{ctx->param("company_id")});
    return false;
  }
  std::lock_guard<std::mutex> guard{st.mtx};
  for (auto i = st.seen.begin(); i != st.seen.end();)
    i = i->second < now - tolerance ? st.seen.erase(i) : std::next(i);
  if (!st.seen.emplace(expected, ts).second) {
    ctx->fail(401, "unauthorized", "replayed delivery");
    return false;
  }
  return true;
}

const json::object* object_body(const context_ptr& ctx) {
  const auto* body = ctx->json_body();
  if (body == nullptr)
    return nullptr;
  if (!body->is_object()) {
    ctx->fail_fields({{"body", "wrong_type: expects an object"}});
    return nullptr;
  }
  return &body->get_object();
}

std::string str_of(const json::object& o, const char* key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string())
    return std::string{v->get_string()};
  return {};
}

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

void call_webhook(const context_ptr& ctx) {
  if (!verify(ctx))
    return;
  const auto* o = object_body(ctx);
  if (o == nullptr)
    return;
  auto type = str_of(*o, "type");
  auto call_id = str_of(*o, "call_id");
  field_errors errs;
  static const std::map<std::string_view, std::string> commands{
      {event_traits<call_started>::wire_name, "start"},
      {event_traits<call_connected>::wire_name, "connect"},
      {event_traits<call_ended>::wire_name, "end"},
      {event_traits<call_analyzed>::wire_name, "analyze"}};
  auto cmd_name = commands.find(type);
  if (cmd_name == commands.end())
    errs["type"] = "invalid: expects call.started, call.connected, "
                   "call.ended or call.analyzed";
  if (auto bad = id_problem(call_id))
    errs["call_id"] = *bad;
  json::object data;
  if (const auto* d = o->if_contains("data"); d != nullptr && !d->is_null()) {
    if (d->is_object())
      data = d->get_object();
    else
      errs["data"] = "wrong_type: expects an object";
  }
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  const auto& company = ctx->param("company_id");
  // One event per call and kind: a redelivery appends the same id.
  data["event_id"]
      = derived_id("call-provider\n" + company + "\n" + call_id + "\n" + type);
  aggregate_command cmd;
  cmd.aggregate_type = "call";
  cmd.aggregate_id = call_id;
  cmd.company_id = company;
  cmd.name = cmd_name->second;
  cmd.payload = json::serialize(data);
  cmd.metadata.source = "call_provider";
  cmd.metadata.correlation_id = call_id;
  cmd.metadata.user_agent = std::string{ctx->req().header("user-agent")};
  run_command(ctx, std::move(cmd), "call");
}

// -- Cal.com ------------------------------------------------------------------

/// The company's Cal.com settings; none stored: the defaults.
calcom_settings company_calcom(const context_ptr& ctx,
                               const std::string& company) {
  auto text = ctx->tenants().setting(company, calcom_setting);
  if (!text)
    return {};
  auto s = parse_calcom_settings(*text);
  return s ? *s : calcom_settings{};
}

/// Checks X-Cal-Signature-256 (lowercase hex HMAC-SHA256 of the raw body
/// under the company's secret, else `webhooks.calcom_secret`); answers 401
/// (or 404 for a well-signed delivery to no company) and returns false
/// when the delivery is refused. A company without a secret answers as
/// one with another secret, so that a refusal says nothing of a company.
bool verify_calcom(const context_ptr& ctx, const calcom_settings& settings) {
  std::string secret = settings.secret;
  if (secret.empty()) {
    std::lock_guard<std::mutex> guard{state().mtx};
    secret = state().opts.calcom_secret;
  }
  auto given = std::string{ctx->req().header("x-cal-signature-256")};
  if (given.empty()) {
    ctx->fail(401, "unauthorized", "missing X-Cal-Signature-256");
    return false;
  }
  for (auto& c : given)
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
  auto expected = secret.empty() ? std::string{}
                                 : hmac_sha256_hex(secret, ctx->req().body);
  if (expected.empty() || given.size() != expected.size()
      || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    ctx->fail(401, "unauthorized",
              "X-Cal-Signature-256 does not match the company's Cal.com "
              "secret (PUT /api/integrations/calcom, or "
              "webhooks.calcom_secret)");
    return false;
  }
  if (auto c = ctx->tenants().company(ctx->param("company_id")); !c) {
    ctx->fail(404, "not_found",
              "no company " + std::string{ctx->param("company_id")});
    return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

/// The appointment synced with Cal.com booking `uid`: by the uids stored
/// on appointments, else the id a Cal.com booking is created under.
std::string calcom_appointment(const context_ptr& ctx,
                               const std::string& company,
                               const std::string& uid) {
  auto& events = *ctx->node().store().events;
  auto found = events.read_by_ref(calcom_booking_ref(company, uid), 1, 1);
  if (found && !found->empty() && found->front().company_id == company)
    return found->front().aggregate_id;
  return derived_id("calcom\n" + company + "\n" + uid);
}

/// The customer of a Cal.com attendee: the company's customer with its
/// email or phone, else one to create (source web) under a derived id.
struct attendee_customer {
  std::string id;
  bool exists = false;
  json::object create; ///< The create payload when it does not exist.
};

expected<attendee_customer, caf::error>
resolve_attendee(const context_ptr& ctx, const std::string& company,
                 const json::object& attendee) {
  auto email = lower(str_of(attendee, "email"));
  auto phone = normalize_phone(str_of(attendee, "phoneNumber"));
  const auto& events = *ctx->node().store().events;
  attendee_customer out;
  out.id = derived_id("calcom-customer\n" + company + "\n"
                      + (email.empty() ? phone : email));
  // Created by an earlier delivery: one probe.
  auto made = events.read_stream(company, "customer", out.id, 1, 1);
  if (made && !made->empty()) {
    out.exists = true;
    return out;
  }
  // Else the company's customers, newest state of each.
  std::map<std::string, std::pair<std::string, std::string>> contacts;
  std::uint64_t from = 1;
  for (;;) {
    auto batch = events.read_by_company(company, from, 4096);
    if (!batch)
      return make_unexpected(to_caf_error(batch.error()));
    for (const auto& ev : *batch) {
      from = ev.sequence + 1;
      if (ev.aggregate_type != "customer")
        continue;
      if (auto change = customer_change_of(ev)) {
        const auto& c = change->now;
        contacts[c.id] = {lower(c.email), normalize_phone(c.phone)};
        if (!change->merged_away.empty())
          contacts.erase(change->merged_away);
      }
    }
    if (batch->size() < 4096)
      break;
  }
  for (const auto& [id, c] : contacts)
    if ((!email.empty() && c.first == email)
        || (!phone.empty() && c.second == phone)) {
      out.id = id;
      out.exists = true;
      return out;
    }
  auto name = str_of(attendee, "name");
  out.create = {{"name", name.empty() ? (email.empty() ? phone : email) : name},
                {"source", "web"}};
  if (!email.empty()) {
    out.create["email"] = email;
    out.create["prefers_email"] = true;
  }
  if (!phone.empty())
    out.create["phone"] = phone;
  return out;
}

/// Answers a redelivery whose event `company` has stored: 200, duplicate.
bool already_delivered(const context_ptr& ctx, const std::string& company,
                       const std::string& event_id) {
  auto seq = ctx->node().store().events->find_event(company, event_id);
  if (!seq)
    return false;
  ctx->respond(200, json::object{{"status", "accepted"}, {"duplicate", true}});
  return true;
}

/// Creates the attendee's customer when needed, then books.
void calcom_book(const context_ptr& ctx, attendee_customer cust,
                 book_appointment book) {
  auto* events = ctx->node().store().events.get();
  // Booked by a delivery in flight at the same time: "appointment X exists".
  std::function<bool(const caf::error&)> dup
      = [events, id = book.ref.appointment_id,
         company = book.ref.company_id](const caf::error& e) {
          if (runtime_code(e) != runtime_errc::conflict)
            return false;
          auto s = events->read_stream(company, "appointment", id, 1, 1);
          return s && !s->empty();
        };
  if (cust.exists) {
    run_command(ctx, std::move(book), "appointment", dup);
    return;
  }
  aggregate_command c;
  c.aggregate_type = "customer";
  c.aggregate_id = cust.id;
  c.company_id = book.ref.company_id;
  c.name = "create";
  c.payload = json::serialize(cust.create);
  c.metadata = book.ref.metadata;
  ctx->with_actor([ctx, c = std::move(c), book = std::move(book),
                   dup](caf::event_based_actor* self) {
    self->request(ctx->node().router(), 60s, command_atom::value, c)
        .then(
            [ctx, book, dup](const command_result&) {
              run_command(ctx, book, "appointment", dup);
            },
            [ctx, book, dup](caf::error& e) {
              // Made by a delivery in flight at the same time.
              if (runtime_code(e) == runtime_errc::conflict)
                run_command(ctx, book, "appointment", dup);
              else
                fail_with(*ctx, e);
            });
  });
}

void calcom_webhook(const context_ptr& ctx) {
  const auto company = std::string{ctx->param("company_id")};
  auto settings = company_calcom(ctx, company);
  if (!verify_calcom(ctx, settings))
    return;
  const auto* o = object_body(ctx);
  if (o == nullptr)
    return;
  auto trigger = str_of(*o, "triggerEvent");
  if (trigger == "PING") {
    ctx->respond(200, json::object{{"status", "ok"}});
    return;
  }
  static const std::set<std::string> triggers{
      "BOOKING_CREATED",   "BOOKING_REQUESTED", "BOOKING_RESCHEDULED",
      "BOOKING_CANCELLED", "BOOKING_REJECTED",  "BOOKING_NO_SHOW_UPDATED"};
  field_errors errs;
  const json::object* p = nullptr;
  if (const auto* v = o->if_contains("payload"); v && v->is_object())
    p = &v->get_object();
  else
    errs["payload"] = "missing: expects an object";
  if (triggers.count(trigger) == 0)
    errs["triggerEvent"]
        = "invalid: expects BOOKING_CREATED, BOOKING_REQUESTED, "
          "BOOKING_RESCHEDULED, BOOKING_CANCELLED, BOOKING_REJECTED or "
          "BOOKING_NO_SHOW_UPDATED";
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  auto uid = str_of(*p, "uid");
  if (trigger == "BOOKING_NO_SHOW_UPDATED" && uid.empty())
    uid = str_of(*p, "bookingUid");
  if (uid.empty()) {
    ctx->fail_fields(
        {{trigger == "BOOKING_NO_SHOW_UPDATED" ? "payload.bookingUid"
                                               : "payload.uid",
          "missing"}});
    return;
  }
  appointment_ref ref;
  ref.company_id = company;
  ref.metadata.source = "calcom";
  ref.metadata.correlation_id = uid;
  ref.metadata.user_agent = std::string{ctx->req().header("user-agent")};
  // Cal.com signs no timestamp and redelivers: each delivery's event has
  // an id derived from the booking and the trigger, so it is stored once.
  auto event_key = "calcom\n" + company + "\n" + uid + "\n" + trigger;
  json::object payload;
  if (trigger == "BOOKING_CREATED" || trigger == "BOOKING_REQUESTED") {
    // A request the host confirms arrives again as BOOKING_CREATED: the
    // one appointment, booked when it was requested.
    event_key = "calcom\n" + company + "\n" + uid + "\nbooked";
    auto event_id = derived_id(event_key);
    if (already_delivered(ctx, company, event_id))
      return;
    // A booking made here and created on Cal.com comes back as Cal.com's
    // BOOKING_CREATED: its uid is on the appointment already.
    if (auto linked = ctx->node().store().events->read_by_ref(
            calcom_booking_ref(company, uid), 1, 1);
        linked && !linked->empty()) {
      ctx->respond(200, json::object{{"status", "accepted"},
                                     {"duplicate", true},
                                     {"id", linked->front().aggregate_id}});
      return;
    }
    std::string type_id;
    if (const auto* t = p->if_contains("eventTypeId")) {
      if (t->is_int64())
        type_id = std::to_string(t->get_int64());
      else if (t->is_uint64())
        type_id = std::to_string(t->get_uint64());
      else if (t->is_string())
        type_id = std::string{t->get_string()};
    }
    std::string host;
    if (const auto* org = p->if_contains("organizer"); org && org->is_object())
      host = str_of(org->get_object(), "email");
    const json::object* attendee = nullptr;
    if (const auto* as = p->if_contains("attendees");
        as && as->is_array() && !as->get_array().empty()
        && as->get_array().front().is_object())
      attendee = &as->get_array().front().get_object();
    auto start = str_of(*p, "startTime");
    auto service = settings.service_of(type_id);
    auto staff = settings.staff_of(host);
    if (type_id.empty())
      errs["payload.eventTypeId"] = "missing";
    else if (service.empty())
      errs["payload.eventTypeId"] = "unmapped: no service is mapped to Cal.com "
                                    "event type "
                                    + type_id
                                    + " (PUT /api/integrations/calcom)";
    if (host.empty())
      errs["payload.organizer.email"] = "missing";
    else if (staff.empty())
      errs["payload.organizer.email"]
          = "unmapped: no staff member is mapped to host " + host
            + " (PUT /api/integrations/calcom)";
    if (attendee == nullptr)
      errs["payload.attendees"] = "missing: expects at least one attendee";
    else if (str_of(*attendee, "email").empty()
             && normalize_phone(str_of(*attendee, "phoneNumber")).empty())
      errs["payload.attendees[0]"] = "missing: expects an email or phoneNumber";
    if (start.empty())
      errs["payload.startTime"] = "missing";
    if (!errs.empty()) {
      ctx->fail(422, "unmapped_booking", "the booking cannot be mapped", errs);
      return;
    }
    ref.appointment_id = derived_id("calcom\n" + company + "\n" + uid);
    ref.event_id = event_id;
    // Matching the attendee reads the company's customers: on the read
    // pool, off the gateway's threads, within its deadline.
    run_read(ctx, company,
             [ctx, company, who = *attendee, ref = std::move(ref), service,
              staff, start, uid, trigger](const read_deadline&) mutable {
               auto cust = resolve_attendee(ctx, company, who);
               if (!cust) {
                 fail_with(*ctx, cust.error());
                 return;
               }
               json::object payload{
                   {"customer_id", cust->id}, {"service_id", service},
                   {"staff_id", staff},       {"start_time", start},
                   {"source", "calcom"},      {"calcom_uid", uid}};
               if (trigger == "BOOKING_REQUESTED")
                 payload["notes"] = "requested on Cal.com, awaiting the "
                                    "host's confirmation";
               auto book = decode_book(payload, std::move(ref));
               if (!book) {
                 fail_with(*ctx, book.error());
                 return;
               }
               calcom_book(ctx, std::move(*cust), std::move(*book));
             });
    return;
  }
  std::string original = uid;
  if (trigger == "BOOKING_RESCHEDULED") {
    original = str_of(*p, "rescheduleUid");
    if (original.empty())
      original = str_of(*p, "fromReschedule");
    if (original.empty()) {
      ctx->fail_fields({{"payload.rescheduleUid", "missing"}});
      return;
    }
  }
  bool no_show = false;
  if (trigger == "BOOKING_NO_SHOW_UPDATED") {
    // Cal.com lists the attendees whose mark changed, each with noShow.
    if (const auto* as = p->if_contains("attendees"); as && as->is_array())
      for (const auto& a : as->get_array())
        if (a.is_object())
          if (const auto* n = a.get_object().if_contains("noShow");
              n && n->is_bool() && n->get_bool())
            no_show = true;
    event_key += no_show ? "\ntrue" : "\nfalse";
  }
  auto event_id = derived_id(event_key);
  if (already_delivered(ctx, company, event_id))
    return;
  ref.appointment_id = calcom_appointment(ctx, company, original);
  ref.event_id = event_id;
  auto known = ctx->node().store().events->stream_version(
      company, "appointment", ref.appointment_id);
  if (!known || *known == 0) {
    ctx->fail(
        422, "unmapped_booking", "the booking is not known here",
        {{trigger == "BOOKING_RESCHEDULED"
              ? "payload.rescheduleUid"
              : (trigger == "BOOKING_NO_SHOW_UPDATED" ? "payload.bookingUid"
                                                      : "payload.uid"),
          "unknown: no appointment is synced with Cal.com booking "
              + original}});
    return;
  }
  // Each decoded as a request's command is, then sent to the router.
  auto send
      = [&ctx](auto cmd, std::function<bool(const caf::error&)> dup = {}) {
          if (!cmd)
            fail_with(*ctx, cmd.error());
          else
            run_command(ctx, std::move(*cmd), "appointment", std::move(dup));
        };
  if (trigger == "BOOKING_RESCHEDULED") {
    auto start = str_of(*p, "startTime");
    if (start.empty()) {
      ctx->fail_fields({{"payload.startTime", "missing"}});
      return;
    }
    send(decode_reschedule(
        json::object{{"start_time", start}, {"calcom_uid", uid}},
        std::move(ref)));
  } else if (trigger == "BOOKING_NO_SHOW_UPDATED") {
    send(decode_no_show(json::object{{"no_show", no_show}}, std::move(ref)));
  } else {
    auto reason
        = str_of(*p, trigger == "BOOKING_REJECTED" ? "rejectionReason"
                                                   : "cancellationReason");
    if (trigger == "BOOKING_REJECTED")
      reason = "rejected on Cal.com" + (reason.empty() ? "" : ": " + reason);
    send(decode_cancel(json::object{{"reason", reason}}, std::move(ref)),
         [](const caf::error& e) {
           return runtime_code(e) == runtime_errc::conflict
                  && describe(e).find("already cancelled") != std::string::npos;
         });
  }
}

// -- Retell AI
// ------------------------------------------------------------------

/// Checks `x-retell-signature: v=<ms>,d=<hex>`: hex HMAC-SHA256 under
/// `webhooks.retell_api_key` of the raw body followed by the decimal
/// milliseconds, at most `tolerance_s` from now, compared in constant
/// time. Answers 503, 401 or 404 and returns false when refused.
bool verify_retell(const context_ptr& ctx) {
  std::string key;
  std::int64_t tolerance_ms = 0;
  {
    std::lock_guard<std::mutex> guard{state().mtx};
    key = state().opts.retell_api_key;
    tolerance_ms = state().opts.tolerance_s * 1000;
  }
  if (key.empty()) {
    ctx->fail(503, "webhooks_disabled",
              "Retell webhooks are not configured: set "
              "webhooks.retell_api_key");
    return false;
  }
  auto header = std::string{ctx->req().header("x-retell-signature")};
  std::string ms, given;
  for (std::size_t at = 0; at < header.size();) {
    auto comma = header.find(',', at);
    auto part = header.substr(at, comma == std::string::npos ? std::string::npos
                                                             : comma - at);
    if (part.rfind("v=", 0) == 0)
      ms = part.substr(2);
    else if (part.rfind("d=", 0) == 0)
      given = part.substr(2);
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  if (ms.empty() || ms.size() > 15
      || ms.find_first_not_of("0123456789") != std::string::npos
      || given.empty()) {
    ctx->fail(401, "unauthorized",
              "missing or malformed x-retell-signature (v=<ms>,d=<hex>)");
    return false;
  }
  for (auto& c : given)
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
  auto expected = hmac_sha256_hex(key, ctx->req().body + ms);
  if (given.size() != expected.size()
      || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    ctx->fail(401, "unauthorized", "bad x-retell-signature");
    return false;
  }
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto at = std::stoll(ms);
  if (at < now - tolerance_ms || at > now + tolerance_ms) {
    ctx->fail(401, "unauthorized", "stale x-retell-signature timestamp");
    return false;
  }
  if (auto c = ctx->tenants().company(ctx->param("company_id")); !c) {
    ctx->fail(404, "not_found",
              "no company " + std::string{ctx->param("company_id")});
    return false;
  }
  return true;
}

/// A JSON scalar as text ("" for null, objects and arrays).
std::string scalar_text(const json::value& v) {
  if (v.is_string())
    return std::string{v.get_string()};
  if (v.is_bool())
    return v.get_bool() ? "true" : "false";
  if (v.is_int64() || v.is_uint64() || v.is_double())
    return json::serialize(v);
  return {};
}

std::int64_t ms_of(const json::object& o, const char* key) {
  if (const auto* v = o.if_contains(key)) {
    if (v->is_int64())
      return v->get_int64();
    if (v->is_uint64())
      return static_cast<std::int64_t>(v->get_uint64());
    if (v->is_double())
      return static_cast<std::int64_t>(v->get_double());
  }
  return 0;
}

/// The analysis of a Retell call: user_sentiment (lower case; "unknown"
/// is none), call_summary, the appointment request read from
/// custom_analysis_data by the company's field map, the other custom
/// fields as extra.
json::object retell_analysis(const json::object& call,
                             const retell_settings& settings) {
  json::object analysis;
  json::object request;
  json::object extra;
  const json::object* ca = nullptr;
  if (const auto* v = call.if_contains("call_analysis"); v && v->is_object())
    ca = &v->get_object();
  if (ca != nullptr) {
    auto sentiment = str_of(*ca, "user_sentiment");
    for (auto& c : sentiment)
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c - 'A' + 'a');
    if (!sentiment.empty() && sentiment != "unknown")
      analysis["sentiment"] = sentiment;
    analysis["summary"] = str_of(*ca, "call_summary");
    for (const char* flag : {"call_successful", "in_voicemail"})
      if (const auto* f = ca->if_contains(flag); f && f->is_bool())
        extra[flag] = f->get_bool() ? "true" : "false";
    if (const auto* d = ca->if_contains("custom_analysis_data");
        d && d->is_object()) {
      std::set<std::string> used;
      for (const auto& [field, key] : settings.fields)
        if (const auto* v = d->get_object().if_contains(key)) {
          auto text = scalar_text(*v);
          if (!text.empty())
            request[field] = text;
          used.insert(key);
        }
      for (const auto& [k, v] : d->get_object())
        if (used.count(std::string{k}) == 0)
          if (auto text = scalar_text(v); !text.empty())
            extra[k] = text;
    }
  }
  if (!request.empty())
    analysis["appointment_request"] = std::move(request);
  analysis["extra"] = std::move(extra);
  return analysis;
}

/// Runs `steps` one after another through the router, then answers 204.
void run_steps(const context_ptr& ctx,
               std::shared_ptr<std::vector<aggregate_command>> steps,
               std::size_t i = 0) {
  if (i == steps->size()) {
    ctx->respond_empty(204);
    return;
  }
  ctx->with_actor([ctx, steps, i](caf::event_based_actor* self) {
    self->request(ctx->node().router(), 60s, command_atom::value, (*steps)[i])
        .then(
            [ctx, steps, i](const command_result&) {
              run_steps(ctx, steps, i + 1);
            },
            [ctx](caf::error& e) {
              fail_with(*ctx, e);
            });
  });
}

void retell_webhook(const context_ptr& ctx) {
  if (!verify_retell(ctx))
    return;
  const auto* o = object_body(ctx);
  if (o == nullptr)
    return;
  auto event = str_of(*o, "event");
  field_errors errs;
  static const std::map<std::string, std::size_t> depth{
      {"call_started", 2}, {"call_ended", 3}, {"call_analyzed", 4}};
  auto d = depth.find(event);
  if (d == depth.end())
    errs["event"] = "invalid: expects call_started, call_ended or "
                    "call_analyzed";
  const json::object* call = nullptr;
  if (const auto* v = o->if_contains("call"); v && v->is_object())
    call = &v->get_object();
  else
    errs["call"] = "missing: expects an object";
  std::string call_id;
  if (call != nullptr) {
    call_id = str_of(*call, "call_id");
    if (auto bad = id_problem(call_id))
      errs["call.call_id"] = *bad;
  }
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  const auto company = std::string{ctx->param("company_id")};
  auto settings = retell_settings::defaults();
  if (auto text = ctx->tenants().setting(company, retell_setting))
    if (auto s = parse_retell_settings(*text))
      settings = *s;
  auto started = ms_of(*call, "start_timestamp");
  auto ended = ms_of(*call, "end_timestamp");
  auto when = [](std::int64_t ms) {
    return ms > 0 ? json::value(format_rfc3339(ms)) : json::value(nullptr);
  };
  // Retell's events are steps of our workflow; each step has an event id
  // derived from the call and the step, so a call_ended without its
  // call_started (a call that never connected, or a lost delivery) takes
  // the steps before it, and a later or repeated delivery changes nothing.
  auto steps = std::make_shared<std::vector<aggregate_command>>();
  auto step = [&](const char* name, json::object payload) {
    payload["event_id"]
        = derived_id("retell\n" + company + "\n" + call_id + "\n" + name);
    aggregate_command cmd;
    cmd.aggregate_type = "call";
    cmd.aggregate_id = call_id;
    cmd.company_id = company;
    cmd.name = name;
    cmd.payload = json::serialize(payload);
    cmd.metadata.source = "retell";
    cmd.metadata.correlation_id = call_id;
    cmd.metadata.user_agent = std::string{ctx->req().header("user-agent")};
    steps->push_back(std::move(cmd));
  };
  step("start", {{"from_number", str_of(*call, "from_number")},
                 {"to_number", str_of(*call, "to_number")},
                 {"started_at", when(started)}});
  step("connect", {{"connected_at", when(started)}});
  if (d->second >= 3) {
    auto duration = ms_of(*call, "duration_ms");
    if (duration == 0 && started > 0 && ended >= started)
      duration = ended - started;
    step("end", {{"ended_at", when(ended)},
                 {"duration_s", duration / 1000},
                 {"end_reason", str_of(*call, "disconnection_reason")},
                 {"transcript", str_of(*call, "transcript")}});
  }
  if (d->second >= 4)
    step("analyze", {{"analysis", retell_analysis(*call, settings)}});
  run_steps(ctx, steps);
}

// -- Twilio -------------------------------------------------------------------

/// What a status callback came to, decided inside the write transaction.
struct status_outcome {
  bool known = false;
  bool applied = false;
  std::string status; ///< The message's status after the callback.
};

void twilio_status(const context_ptr& ctx) {
  auto& st = state();
  std::string token, account, url;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    token = st.opts.twilio_auth_token;
    account = st.opts.twilio_account_sid;
    url = st.opts.twilio_status_url;
  }
  if (token.empty()) {
    ctx->fail(503, "webhooks_disabled",
              "Twilio status callbacks are not configured "
              "(providers.twilio_auth_token)");
    return;
  }
  const auto& req = ctx->req();
  auto parsed = parse_query(req.body);
  form_fields params(parsed.begin(), parsed.end());
  if (url.empty())
    url = "http://" + std::string{req.header("host")} + req.target;
  auto expected = twilio_signature(token, url, params);
  auto given = req.header("x-twilio-signature");
  if (given.empty()) {
    ctx->fail(403, "forbidden", "missing X-Twilio-Signature");
    return;
  }
  if (given.size() != expected.size()
      || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    ctx->fail(403, "forbidden", "bad X-Twilio-Signature");
    return;
  }
  auto field = [&](const char* k) {
    auto i = parsed.find(k);
    return i == parsed.end() ? std::string{} : i->second;
  };
  auto sid = field("MessageSid");
  auto status = field("MessageStatus");
  auto error_code = field("ErrorCode");
  field_errors errs;
  if (sid.empty())
    errs["MessageSid"] = "missing: the SID of the message";
  if (status.empty())
    errs["MessageStatus"]
        = std::string{"missing: expects "} + twilio_statuses();
  else if (twilio_status_rank(status) < 0)
    errs["MessageStatus"]
        = std::string{"invalid: expects "} + twilio_statuses();
  if (auto a = field("AccountSid");
      !a.empty() && !account.empty() && a != account)
    errs["AccountSid"] = "invalid: not providers.twilio_account_sid";
  if (!errs.empty()) {
    ctx->fail_fields(errs);
    return;
  }
  auto* outbox = ctx->node().store().outbox.get();
  auto out = std::make_shared<status_outcome>();
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto op = [outbox, out, sid, status, error_code,
             now](store::write_txn& txn) -> store::result<void> {
    *out = status_outcome{};
    auto m = outbox->find_in(txn, "twilio", sid);
    if (!m) {
      if (m.error().code == store::errc::not_found)
        return {};
      return make_unexpected(m.error());
    }
    out->known = true;
    out->status = m->status;
    // Only forward: a repeated or late (out of order) callback changes
    // nothing.
    if (twilio_status_rank(status) <= twilio_status_rank(m->status))
      return {};
    m->status = status;
    m->status_at = now;
    m->status_error = error_code;
    if (auto r = outbox->update_in(txn, *m); !r)
      return r;
    out->applied = true;
    out->status = status;
    return {};
  };
  ctx->with_actor([ctx, op, out](caf::event_based_actor* self) {
    self->request(ctx->node().writer(), 60s, write_atom::value,
                  make_write_op(op))
        .then(
            [ctx, out](ok_atom) {
              if (!out->known) {
                ctx->fail_fields(
                    {{"MessageSid",
                      "unknown: no message sent through Twilio has this "
                      "SID"}});
                return;
              }
              ctx->respond(200, json::object{{"status", "accepted"},
                                             {"applied", out->applied},
                                             {"message_status", out->status}});
            },
            [ctx](caf::error& e) {
              fail_with(*ctx, e);
            });
  });
}

/// The company a settings route acts on: the token's, or for an admin
/// token `?company_id=`; "" after answering 422.
std::string settings_company(const context_ptr& ctx) {
  const auto& who = ctx->who();
  auto id = who.admin ? std::string{ctx->query("company_id")} : who.company_id;
  if (id.empty())
    ctx->fail_fields({{"company_id", "admin tokens must name the company"}});
  return id;
}

void get_calcom_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  if (auto c = ctx->tenants().company(company); !c) {
    ctx->fail_store(c.error());
    return;
  }
  auto v = json::parse(to_public_json(company_calcom(ctx, company)));
  v.as_object()["company_id"] = company;
  ctx->respond(200, v);
}

/// Stores a company's integration setting through the writer and answers
/// 200 with `shown` (the setting as the API shows it) once it is durable.
void save_setting(const context_ptr& ctx, std::string_view name,
                  std::string company, std::string stored, json::value shown) {
  auto* tenants = &ctx->tenants();
  ctx->with_actor([ctx, tenants, name, company = std::move(company),
                   stored = std::move(stored),
                   shown = std::move(shown)](caf::event_based_actor* self) {
    self->request(ctx->node().writer(), 60s, write_atom::value,
                  make_write_op([tenants, name, company,
                                 stored](store::write_txn& txn) {
                    return tenants->set_setting_in(txn, company, name, stored);
                  }))
        .then(
            [ctx, shown](ok_atom) {
              ctx->respond(200, shown);
            },
            [ctx](caf::error& e) {
              fail_with(*ctx, e);
            });
  });
}

void put_calcom_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  if (auto c = ctx->tenants().company(company); !c) {
    ctx->fail_store(c.error());
    return;
  }
  // A body without "secret" keeps the one set before.
  auto parsed
      = parse_calcom_settings(ctx->req().body, company_calcom(ctx, company));
  if (!parsed) {
    ctx->fail_fields(parsed.error());
    return;
  }
  auto stored = to_stored_json(*parsed);
  auto shown = json::parse(to_public_json(*parsed));
  shown.as_object()["company_id"] = company;
  save_setting(ctx, calcom_setting, company, std::move(stored),
               std::move(shown));
}

void get_retell_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  if (auto c = ctx->tenants().company(company); !c) {
    ctx->fail_store(c.error());
    return;
  }
  auto settings = retell_settings::defaults();
  if (auto text = ctx->tenants().setting(company, retell_setting))
    if (auto s = parse_retell_settings(*text))
      settings = *s;
  auto v = json::parse(retell_json(settings));
  v.as_object()["company_id"] = company;
  ctx->respond(200, v);
}

void put_retell_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  if (auto c = ctx->tenants().company(company); !c) {
    ctx->fail_store(c.error());
    return;
  }
  auto parsed = parse_retell_settings(ctx->req().body);
  if (!parsed) {
    ctx->fail_fields(parsed.error());
    return;
  }
  auto stored = retell_json(*parsed);
  auto shown = json::parse(stored);
  shown.as_object()["company_id"] = company;
  save_setting(ctx, retell_setting, company, std::move(stored),
               std::move(shown));
}

} // namespace

webhook_options webhook_options_from(const config& cfg) {
  webhook_options o;
  o.call_provider_secret = cfg.get_string("webhooks.call_provider_secret");
  o.calcom_secret = cfg.get_string("webhooks.calcom_secret");
  o.retell_api_key = cfg.get_string("webhooks.retell_api_key");
  o.tolerance_s = cfg.get_int("webhooks.tolerance_s");
  o.twilio_auth_token = cfg.get_string("providers.twilio_auth_token");
  o.twilio_account_sid = cfg.get_string("providers.twilio_account_sid");
  o.twilio_status_url = cfg.get_string("providers.twilio_status_callback");
  return o;
}

void configure_webhooks(webhook_options opts) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  st.opts = std::move(opts);
  st.seen.clear();
}

void add_webhook_routes(router& r) {
  r.add("POST", "/webhooks/calls/{company_id}", access::open, call_webhook,
        "Call-provider webhook (call.started, call.connected, call.ended, "
        "call.analyzed); HMAC-SHA256 signed");
  r.add("POST", "/webhooks/calcom/{company_id}", access::open, calcom_webhook,
        "Cal.com webhook (BOOKING_CREATED, BOOKING_REQUESTED, "
        "BOOKING_RESCHEDULED, BOOKING_CANCELLED, BOOKING_REJECTED, "
        "BOOKING_NO_SHOW_UPDATED), signed with X-Cal-Signature-256");
  r.add("POST", "/webhooks/retell/{company_id}", access::open, retell_webhook,
        "Retell AI webhook (call_started, call_ended, call_analyzed), "
        "signed with x-retell-signature; answers 204");
  r.add("POST", "/webhooks/twilio/status", access::open, twilio_status,
        "Twilio message status callback (MessageSid, MessageStatus), "
        "signed with X-Twilio-Signature; moves the message's delivery "
        "status forward");
  r.add("GET", "/api/integrations/retell", access::company, get_retell_settings,
        "The company's Retell map: custom_analysis_data key of each "
        "appointment request field");
  r.add("PUT", "/api/integrations/retell", access::company, put_retell_settings,
        "Sets the company's Retell map (admin tokens: ?company_id=)");
  r.add("GET", "/api/integrations/calcom", access::company, get_calcom_settings,
        "The company's Cal.com settings: event type → service and host "
        "email → staff maps; the secret shown as ***");
  r.add("PUT", "/api/integrations/calcom", access::company, put_calcom_settings,
        "Sets the company's Cal.com webhook secret and its event type and "
        "host maps (admin tokens: ?company_id=)");
}

} // namespace switchboard::app::http
