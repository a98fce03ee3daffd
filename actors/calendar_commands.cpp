#include "actors/calendar_commands.hpp"

#include <optional>
#include <utility>

#include <actors/payload.hpp>

namespace switchboard {

namespace {

bool from_calcom(const appointment_ref& ref) {
  return ref.metadata.source == "calcom";
}

// The fields of each command from `p` (see decode_command); `ref` is the
// command's appointment.

void read_fields(payload_reader& p, book_appointment& out,
                 const appointment_ref& ref) {
  take(p.str("staff_id", true), out.staff_id);
  if (!p.valid())
    return;
  take(p.str("customer_id", true), out.customer_id);
  take(p.str("service_id", true), out.service_id);
  take(p.time("start_time", true), out.start_time);
  out.set_branch = take(p.str("branch_id"), out.branch_id);
  take(p.str("notes"), out.notes);
  take(p.str("source"), out.source);
  if (from_calcom(ref))
    take(p.str("calcom_uid"), out.calcom_uid);
}

void read_fields(payload_reader& p, reschedule_appointment& out,
                 const appointment_ref& ref) {
  take(p.time("start_time", true), out.start_time);
  out.set_notes = take(p.str("notes"), out.notes);
  if (from_calcom(ref))
    take(p.str("calcom_uid"), out.calcom_uid);
}

void read_fields(payload_reader& p, reassign_appointment& out,
                 const appointment_ref&) {
  take(p.str("staff_id", true), out.staff_id);
  if (!p.valid())
    return;
  out.set_start_time = take(p.time("start_time"), out.start_time);
  out.set_notes = take(p.str("notes"), out.notes);
}

void read_fields(payload_reader& p, cancel_appointment& out,
                 const appointment_ref&) {
  take(p.str("reason"), out.reason);
}

void read_fields(payload_reader&, complete_appointment&,
                 const appointment_ref&) {}

void read_fields(payload_reader& p, link_calcom_booking& out,
                 const appointment_ref&) {
  take(p.str("calcom_uid", true), out.calcom_uid);
}

void read_fields(payload_reader& p, set_appointment_no_show& out,
                 const appointment_ref&) {
  take(p.boolean("no_show", true), out.no_show);
}

} // namespace

/// The problems payload_reader found in `body`, or the command.
template <class Command>
expected<Command, caf::error>
calendar_decoder<Command>::decode(const boost::json::value& body,
                                  appointment_ref ref) {
  payload_reader p{body};
  Command out;
  read_fields(p, out, ref);
  if (!p.valid())
    return make_unexpected(p.error());
  out.ref = std::move(ref);
  return out;
}

template struct calendar_decoder<book_appointment>;
template struct calendar_decoder<reschedule_appointment>;
template struct calendar_decoder<reassign_appointment>;
template struct calendar_decoder<cancel_appointment>;
template struct calendar_decoder<complete_appointment>;
template struct calendar_decoder<link_calcom_booking>;
template struct calendar_decoder<set_appointment_no_show>;

} // namespace switchboard
