// The call's ids and state: the derived ids (events, appointments,
// customers by phone), a call's record folded from its events, loaded
// from the store and rendered as JSON, and the customer a phone number
// belongs to. The call actor and its follow-up listener are in
// actors/call_workflow.cpp.
#include "actors/call_workflow.hpp"

#include <messages/aggregate_types.hpp>

#include <map>

#include <boost/json.hpp>

#include <openssl/sha.h>

#include <actors/aggregate_state.hpp>
#include <actors/errors.hpp>
#include <actors/event_visit.hpp>
#include <actors/payload.hpp>
#include <messages/ids.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <store/event_store.hpp>
#include <store/hmac.hpp>

namespace switchboard {

// -- ids ----------------------------------------------------------------------

std::string derived_id(std::string_view key) {
  // sha256_bytes falls back to OpenSSL's one-shot call itself: it is
  // empty only when libcrypto cannot hash at all.
  auto digest = store::sha256_bytes(key);
  digest.resize(SHA256_DIGEST_LENGTH, '\0');
  auto* md = reinterpret_cast<unsigned char*>(digest.data());
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x80); // version 8
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80); // RFC variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out.push_back('-');
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0x0f]);
  }
  return out;
}

std::string call_appointment_id(const std::string& company_id,
                                const std::string& call_id) {
  return derived_id("call-appointment\n" + company_id + "\n" + call_id);
}

std::string phone_customer_id(const std::string& company_id,
                              const std::string& phone) {
  return derived_id("phone-customer\n" + company_id + "\n"
                    + normalize_phone(phone));
}

std::string normalize_phone(std::string_view phone) {
  std::string out;
  for (char c : phone)
    if ((c >= '0' && c <= '9') || (c == '+' && out.empty()))
      out.push_back(c);
  return out;
}

// -- state --------------------------------------------------------------------

void apply_call_event(call_record& rec, const envelope& ev) {
  rec.version = ev.version;
  rec.exists = true;
  auto& c = rec.call;
  c.id = ev.aggregate_id;
  c.company_id = ev.company_id;
  // call.completed only records the analysis, already applied.
  visit_event(ev, overloaded{
                      [&](const call_started& e) {
                        c.from_number = e.from_number;
                        c.to_number = e.to_number;
                        c.started_at = e.started_at;
                        c.state = call_state::started;
                      },
                      [&](const call_connected&) {
                        c.state = call_state::in_progress;
                      },
                      [&](const call_ended& e) {
                        c.ended_at = e.ended_at;
                        c.duration_s = e.duration_s;
                        c.transcript = e.transcript;
                        c.state = call_state::ended;
                      },
                      [&](const call_analyzed& e) {
                        rec.analysis = e.analysis;
                        c.state = call_state::analyzed;
                      },
                      [&](const appointment_requested& e) {
                        rec.customer_id = e.customer_id;
                        c.state = call_state::appointment_requested;
                      },
                      [&](const appointment_failed& e) {
                        rec.failure_reason = e.reason;
                        c.state = call_state::appointment_failed;
                      },
                      [&](const follow_up_scheduled& e) {
                        rec.follow_up_due_at = e.due_at;
                        c.state = call_state::follow_up_scheduled;
                      },
                      [&](const call_information_only&) {
                        c.state = call_state::information_only;
                      },
                  });
}

expected<call_record, caf::error> load_call(const store::event_store& events,
                                            const std::string& company_id,
                                            const std::string& call_id) {
  call_record rec;
  rec.call.id = call_id;
  rec.call.company_id = company_id;
  std::uint64_t from = 1;
  for (;;) {
    auto batch
        = events.read_stream(company_id, aggregates::call, call_id, from, 1024);
    if (!batch)
      return make_unexpected(to_caf_error(batch.error()));
    for (const auto& ev : *batch) // the company's own stream
      apply_call_event(rec, ev);
    if (batch->size() < 1024)
      break;
    from = batch->back().version + 1;
  }
  // Booked: the appointment of the call exists (its id is derived).
  if (rec.call.state == call_state::appointment_requested) {
    auto appt_id = call_appointment_id(company_id, call_id);
    auto appt = events.read_stream(company_id, aggregates::appointment, appt_id,
                                   1, 1);
    if (appt && !appt->empty()) {
      rec.call.state = call_state::appointment_created;
      rec.appointment_id = appt_id;
    }
  }
  return rec;
}

std::string render_call(const call_record& rec) {
  auto out = to_json(rec.call).as_object();
  out["state"] = std::string{to_string(rec.call.state)};
  out["version"] = rec.version;
  out["customer_id"] = rec.customer_id;
  out["appointment_id"] = rec.appointment_id;
  if (rec.call.state >= call_state::analyzed)
    out["analysis"] = to_json(rec.analysis);
  if (!rec.failure_reason.empty())
    out["failure_reason"] = rec.failure_reason;
  if (rec.follow_up_due_at != 0)
    out["follow_up_due_at"] = format_rfc3339(rec.follow_up_due_at);
  return boost::json::serialize(out);
}

expected<std::string, caf::error>
find_customer_by_phone(const store::event_store& events,
                       const std::string& company_id,
                       const std::string& phone) {
  auto wanted = normalize_phone(phone);
  if (wanted.empty())
    return std::string{};
  auto customers = current_customers(events, company_id);
  if (!customers)
    return make_unexpected(std::move(customers.error()));
  for (const auto& [id, c] : *customers)
    if (normalize_phone(c.phone) == wanted)
      return id;
  return std::string{};
}

} // namespace switchboard
