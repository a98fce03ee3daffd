// Cal.com's booking webhooks (signed as Cal.com signs them:
// X-Cal-Signature-256, hex HMAC-SHA256 of the raw body, no timestamp,
// under the company's own key or `webhooks.calcom_secret`), and the
// routes of a company's Cal.com settings.

#include "app/http/webhook_detail.hpp"

#include <messages/aggregate_types.hpp>

#include <set>

#include <boost/json/serialize.hpp>

#include <actors/aggregate_state.hpp>
#include <actors/calcom.hpp>
#include <actors/calendar_commands.hpp>
#include <actors/call_workflow.hpp>
#include <actors/errors.hpp>
#include <actors/node.hpp>
#include <actors/providers.hpp>
#include <app/http/read_pool.hpp>
#include <app/http/routes.hpp>
#include <messages/id_check.hpp>
#include <messages/json.hpp>
#include <store/event_store.hpp>
#include <store/hmac.hpp>

namespace switchboard::app::http::webhook_detail {

namespace {

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
  auto expected = secret.empty()
                      ? std::string{}
                      : store::hmac_sha256_hex(secret, ctx->req().body);
  if (!store::same_hex_mac(given, expected)) {
    ctx->fail(401, "unauthorized",
              "X-Cal-Signature-256 does not match the company's Cal.com "
              "secret (PUT /api/integrations/calcom, or "
              "webhooks.calcom_secret)");
    return false;
  }
  return path_company_known(ctx);
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
  auto found = events.read_by(store::event_index::ref,
                              calcom_booking_ref(company, uid), 1, 1);
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
  auto made = events.read_stream(company, aggregates::customer, out.id, 1, 1);
  if (made && !made->empty()) {
    out.exists = true;
    return out;
  }
  // Else the company's customers, newest state of each.
  auto customers = current_customers(events, company);
  if (!customers)
    return make_unexpected(std::move(customers.error()));
  for (const auto& [id, c] : *customers)
    if ((!email.empty() && lower(c.email) == email)
        || (!phone.empty() && normalize_phone(c.phone) == phone)) {
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
          auto s
              = events->read_stream(company, aggregates::appointment, id, 1, 1);
          return s && !s->empty();
        };
  if (cust.exists) {
    run_command(ctx, std::move(book), aggregates::appointment, dup);
    return;
  }
  aggregate_command c;
  c.aggregate_type = aggregates::customer;
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
              run_command(ctx, book, aggregates::appointment, dup);
            },
            [ctx, book, dup](caf::error& e) {
              // Made by a delivery in flight at the same time.
              if (runtime_code(e) == runtime_errc::conflict)
                run_command(ctx, book, aggregates::appointment, dup);
              else
                fail_with(*ctx, e);
            });
  });
}

} // namespace

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
      "BOOKING_CANCELLED", "BOOKING_REJECTED",  "BOOKING_NO_SHOW_UPDATED",
      "MEETING_ENDED"};
  field_errors errs;
  const json::object* p = nullptr;
  if (const auto* v = o->if_contains("payload"); v && v->is_object())
    p = &v->get_object();
  else
    errs["payload"] = "missing: expects an object";
  if (triggers.count(trigger) == 0)
    errs["triggerEvent"]
        = "invalid: expects BOOKING_CREATED, BOOKING_REQUESTED, "
          "BOOKING_RESCHEDULED, BOOKING_CANCELLED, BOOKING_REJECTED, "
          "BOOKING_NO_SHOW_UPDATED or MEETING_ENDED";
  if (ctx->fail_fields_if_any(errs))
    return;
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
    if (auto linked = ctx->node().store().events->read_by(
            store::event_index::ref, calcom_booking_ref(company, uid), 1, 1);
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
               auto book
                   = decode_command<book_appointment>(payload, std::move(ref));
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
      company, aggregates::appointment, ref.appointment_id);
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
            run_command(ctx, std::move(*cmd), aggregates::appointment,
                        std::move(dup));
        };
  if (trigger == "BOOKING_RESCHEDULED") {
    auto start = str_of(*p, "startTime");
    if (start.empty()) {
      ctx->fail_fields({{"payload.startTime", "missing"}});
      return;
    }
    send(decode_command<reschedule_appointment>(
        json::object{{"start_time", start}, {"calcom_uid", uid}},
        std::move(ref)));
  } else if (trigger == "BOOKING_NO_SHOW_UPDATED") {
    send(decode_command<set_appointment_no_show>(
        json::object{{"no_show", no_show}}, std::move(ref)));
  } else if (trigger == "MEETING_ENDED") {
    // Cal.com sends it when the booking's time is over, whatever became
    // of it: an appointment cancelled or marked a no-show stays so, and
    // the delivery is answered as one that changes nothing.
    send(decode_command<complete_appointment>(json::object{}, std::move(ref)),
         [](const caf::error& e) {
           return runtime_code(e) == runtime_errc::conflict
                  && describe(e).find(", not scheduled") != std::string::npos;
         });
  } else {
    auto reason
        = str_of(*p, trigger == "BOOKING_REJECTED" ? "rejectionReason"
                                                   : "cancellationReason");
    if (trigger == "BOOKING_REJECTED")
      reason = "rejected on Cal.com" + (reason.empty() ? "" : ": " + reason);
    send(decode_command<cancel_appointment>(json::object{{"reason", reason}},
                                            std::move(ref)),
         [](const caf::error& e) {
           return runtime_code(e) == runtime_errc::conflict
                  && describe(e).find("already cancelled") != std::string::npos;
         });
  }
}

void get_calcom_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  ctx->respond(200, shown_setting(to_public_json(company_calcom(ctx, company)),
                                  company));
}

void put_calcom_settings(const context_ptr& ctx) {
  auto company = settings_company(ctx);
  if (company.empty())
    return;
  // A body without "secret" keeps the one set before.
  auto parsed
      = parse_calcom_settings(ctx->req().body, company_calcom(ctx, company));
  if (!parsed) {
    ctx->fail_fields(parsed.error());
    return;
  }
  save_setting(ctx, calcom_setting, company, to_stored_json(*parsed),
               to_public_json(*parsed));
}

} // namespace switchboard::app::http::webhook_detail
