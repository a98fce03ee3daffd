#include "actors/calendar_commands.hpp"

#include <optional>
#include <utility>

#include <actors/payload.hpp>

namespace switchboard {

namespace {

bool from_calcom(const appointment_ref& ref) {
  return ref.metadata.source == "calcom";
}

/// A command of type `Cmd` for `ref`, whose fields `read(p, out)` takes
/// from `body`: the problems payload_reader found, or the command.
template <class Cmd, class Read>
expected<Cmd, caf::error> decode_as(const boost::json::value& body,
                                    appointment_ref ref, Read read) {
  payload_reader p{body};
  Cmd out;
  read(p, out);
  if (!p.valid())
    return make_unexpected(p.error());
  out.ref = std::move(ref);
  return out;
}

} // namespace

expected<book_appointment, caf::error>
decode_book(const boost::json::value& body, appointment_ref ref) {
  bool calcom = from_calcom(ref);
  return decode_as<book_appointment>(
      body, std::move(ref), [calcom](payload_reader& p, book_appointment& out) {
        take(p.str("staff_id", true), out.staff_id);
        if (!p.valid())
          return;
        take(p.str("customer_id", true), out.customer_id);
        take(p.str("service_id", true), out.service_id);
        take(p.time("start_time", true), out.start_time);
        out.set_branch = take(p.str("branch_id"), out.branch_id);
        take(p.str("notes"), out.notes);
        take(p.str("source"), out.source);
        if (calcom)
          take(p.str("calcom_uid"), out.calcom_uid);
      });
}

expected<reschedule_appointment, caf::error>
decode_reschedule(const boost::json::value& body, appointment_ref ref) {
  bool calcom = from_calcom(ref);
  return decode_as<reschedule_appointment>(
      body, std::move(ref),
      [calcom](payload_reader& p, reschedule_appointment& out) {
        take(p.time("start_time", true), out.start_time);
        out.set_notes = take(p.str("notes"), out.notes);
        if (calcom)
          take(p.str("calcom_uid"), out.calcom_uid);
      });
}

expected<reassign_appointment, caf::error>
decode_reassign(const boost::json::value& body, appointment_ref ref) {
  return decode_as<reassign_appointment>(
      body, std::move(ref), [](payload_reader& p, reassign_appointment& out) {
        take(p.str("staff_id", true), out.staff_id);
        if (!p.valid())
          return;
        out.set_start_time = take(p.time("start_time"), out.start_time);
        out.set_notes = take(p.str("notes"), out.notes);
      });
}

expected<cancel_appointment, caf::error>
decode_cancel(const boost::json::value& body, appointment_ref ref) {
  return decode_as<cancel_appointment>(
      body, std::move(ref), [](payload_reader& p, cancel_appointment& out) {
        take(p.str("reason"), out.reason);
      });
}

expected<complete_appointment, caf::error>
decode_complete(const boost::json::value& body, appointment_ref ref) {
  return decode_as<complete_appointment>(
      body, std::move(ref), [](payload_reader&, complete_appointment&) {});
}

expected<link_calcom_booking, caf::error>
decode_link_calcom(const boost::json::value& body, appointment_ref ref) {
  return decode_as<link_calcom_booking>(
      body, std::move(ref), [](payload_reader& p, link_calcom_booking& out) {
        take(p.str("calcom_uid", true), out.calcom_uid);
      });
}

expected<set_appointment_no_show, caf::error>
decode_no_show(const boost::json::value& body, appointment_ref ref) {
  return decode_as<set_appointment_no_show>(
      body, std::move(ref),
      [](payload_reader& p, set_appointment_no_show& out) {
        take(p.boolean("no_show", true), out.no_show);
      });
}

} // namespace switchboard
