#include "actors/calendar_commands.hpp"

#include <optional>
#include <utility>

#include <actors/payload.hpp>

namespace switchboard {

namespace {

bool from_calcom(const appointment_ref& ref) {
  return ref.metadata.source == "calcom";
}

/// Moves an optional field's value into `to`; true when there was one.
template <class T>
bool take(std::optional<T>& v, T& to) {
  if (!v)
    return false;
  to = std::move(*v);
  return true;
}

} // namespace

expected<book_appointment, caf::error>
decode_book(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  book_appointment out;
  auto staff_id = p.str("staff_id", true);
  if (!p.valid())
    return make_unexpected(p.error());
  auto customer_id = p.str("customer_id", true);
  auto service_id = p.str("service_id", true);
  auto start = p.time("start_time", true);
  auto branch = p.str("branch_id");
  auto notes = p.str("notes");
  auto source = p.str("source");
  auto calcom_uid = from_calcom(ref) ? p.str("calcom_uid") : std::nullopt;
  if (!p.valid())
    return make_unexpected(p.error());
  out.ref = std::move(ref);
  out.staff_id = std::move(*staff_id);
  out.customer_id = std::move(*customer_id);
  out.service_id = std::move(*service_id);
  out.start_time = *start;
  out.set_branch = take(branch, out.branch_id);
  take(notes, out.notes);
  take(source, out.source);
  take(calcom_uid, out.calcom_uid);
  return out;
}

expected<reschedule_appointment, caf::error>
decode_reschedule(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  reschedule_appointment out;
  auto start = p.time("start_time", true);
  auto notes = p.str("notes");
  auto calcom_uid = from_calcom(ref) ? p.str("calcom_uid") : std::nullopt;
  if (!p.valid())
    return make_unexpected(p.error());
  out.ref = std::move(ref);
  out.start_time = *start;
  out.set_notes = take(notes, out.notes);
  take(calcom_uid, out.calcom_uid);
  return out;
}

expected<reassign_appointment, caf::error>
decode_reassign(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  reassign_appointment out;
  auto staff_id = p.str("staff_id", true);
  if (!p.valid())
    return make_unexpected(p.error());
  auto start = p.time("start_time");
  auto notes = p.str("notes");
  if (!p.valid())
    return make_unexpected(p.error());
  out.ref = std::move(ref);
  out.staff_id = std::move(*staff_id);
  out.set_start_time = take(start, out.start_time);
  out.set_notes = take(notes, out.notes);
  return out;
}

expected<cancel_appointment, caf::error>
decode_cancel(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  auto reason = p.str("reason");
  if (!p.valid())
    return make_unexpected(p.error());
  cancel_appointment out;
  out.ref = std::move(ref);
  take(reason, out.reason);
  return out;
}

expected<complete_appointment, caf::error>
decode_complete(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  if (!p.valid())
    return make_unexpected(p.error());
  complete_appointment out;
  out.ref = std::move(ref);
  return out;
}

expected<link_calcom_booking, caf::error>
decode_link_calcom(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  auto uid = p.str("calcom_uid", true);
  if (!p.valid())
    return make_unexpected(p.error());
  link_calcom_booking out;
  out.ref = std::move(ref);
  out.calcom_uid = std::move(*uid);
  return out;
}

expected<set_appointment_no_show, caf::error>
decode_no_show(const boost::json::value& body, appointment_ref ref) {
  payload_reader p{body};
  auto no_show = p.boolean("no_show", true);
  if (!p.valid())
    return make_unexpected(p.error());
  set_appointment_no_show out;
  out.ref = std::move(ref);
  out.no_show = *no_show;
  return out;
}

} // namespace switchboard
