#pragma once

#include <messages/fields.hpp>

#include <messages/envelope.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

/// Plain domain entities: the state that events carry. Data only; JSON codecs
/// live in messages/json.hpp and CAF inspectors in messages/inspect.hpp.

namespace switchboard {

// -- enum helpers -------------------------------------------------------------

/// Returns the wire name of an enum value (its JSON form), or "" when `x`
/// is out of range. Works for every enum with an `enum_names` overload.
template <class E, class = decltype(enum_names(E{}))>
std::string to_string(E x) {
  const auto& names = enum_names(E{});
  const auto i = static_cast<std::size_t>(x);
  return i < names.size() ? std::string{names[i]} : std::string{};
}

/// Looks up an enum value by its wire name; returns false if unknown.
template <class E, class = decltype(enum_names(E{}))>
bool parse_enum(std::string_view name, E& out) noexcept {
  const auto& names = enum_names(E{});
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

// -- company, branch ----------------------------------------------------------

/// A tenant. Every other record belongs to exactly one company.
struct company {
  std::string id;
  std::string name;
  std::string timezone; ///< IANA name, e.g. "Europe/Berlin".
};

/// A location of a company where appointments take place.
struct branch {
  std::string id;
  std::string company_id;
  std::string name;
  std::string address;
  std::string phone;
};

// -- staff --------------------------------------------------------------------

/// Day of the week; the JSON form is the lower-case English name.
enum class weekday : std::uint8_t {
  monday,
  tuesday,
  wednesday,
  thursday,
  friday,
  saturday,
  sunday,
};

constexpr std::array<std::string_view, 7> enum_names(weekday) {
  return {"monday", "tuesday",  "wednesday", "thursday",
          "friday", "saturday", "sunday"};
}

/// One working interval on a weekday, in minutes since local midnight
/// (0 <= start_minute < end_minute <= 1440). A day may have several
/// intervals (split shifts); a day without one is a day off.
struct work_interval {
  weekday day = weekday::monday;
  std::int32_t start_minute = 0;
  std::int32_t end_minute = 0;
};

/// A member of staff who performs services at a branch.
struct staff {
  std::string id;
  std::string company_id;
  std::string branch_id;
  std::string name;
  std::string email;
  std::string phone;
  std::vector<std::string> service_ids; ///< Services this person performs.
  std::vector<work_interval> working_hours;
  bool active = true;
};

// -- service, customer --------------------------------------------------------

/// Something a customer can book.
struct service {
  std::string id;
  std::string company_id;
  std::string name;
  std::int64_t price_cents = 0;
  std::int32_t duration_minutes = 0;
};

/// A person who books appointments, with their notification preferences.
struct customer {
  std::string id;
  std::string company_id;
  std::string name;
  std::string phone; ///< E.164, e.g. "+4930123456".
  std::string email;
  bool prefers_sms = false;
  bool prefers_email = false;
  bool prefers_whatsapp = false;
};

// -- appointment --------------------------------------------------------------

/// Lifecycle state of an appointment.
enum class appointment_status : std::uint8_t {
  scheduled,
  cancelled,
  completed,
  no_show,
};

constexpr std::array<std::string_view, 4> enum_names(appointment_status) {
  return {"scheduled", "cancelled", "completed", "no_show"};
}

/// A booked slot: who serves whom, where, when and for which service.
struct appointment {
  std::string id;
  std::string company_id;
  std::string branch_id;
  std::string service_id;
  std::string staff_id;
  std::string customer_id;
  timestamp_ms start_time = 0;
  timestamp_ms end_time = 0;
  appointment_status status = appointment_status::scheduled;
  std::int64_t price_cents = 0; ///< The service's price when booked.
  std::string notes;
  /// The Cal.com booking it is synced with (its `uid`, the newest after a
  /// reschedule); empty: none known.
  std::string calcom_uid;
};

// -- call ---------------------------------------------------------------------

/// State of a phone call in the call workflow (the seed's state machine).
enum class call_state : std::uint8_t {
  started,
  in_progress,
  ended,
  analyzed,
  appointment_requested,
  appointment_created,
  appointment_failed,
  follow_up_scheduled,
  information_only,
};

constexpr std::array<std::string_view, 9> enum_names(call_state) {
  return {"started",
          "in_progress",
          "ended",
          "analyzed",
          "appointment_requested",
          "appointment_created",
          "appointment_failed",
          "follow_up_scheduled",
          "information_only"};
}

/// A phone call handled by the AI agent.
struct call {
  std::string id;
  std::string company_id;
  std::string from_number;
  std::string to_number;
  call_state state = call_state::started;
  timestamp_ms started_at = 0;
  timestamp_ms ended_at = 0; ///< 0 while the call is not over.
  std::int32_t duration_s = 0;
  std::string transcript;
};

// -- equality -----------------------------------------------------------------

// -- field lists (messages/fields.hpp) ----------------------------------------

SB_FIELDS(company, SB_FIELD(id), SB_FIELD(name), SB_FIELD(timezone, opt))

SB_FIELDS(branch, SB_FIELD(id), SB_FIELD(company_id), SB_FIELD(name),
          SB_FIELD(address, opt), SB_FIELD(phone, opt))

SB_FIELDS(work_interval, SB_FIELD(day), SB_FIELD(start_minute),
          SB_FIELD(end_minute))

template <class V>
void checks(V& v, const work_interval& x) {
  v.check(x.start_minute >= 0 && x.start_minute < 1440, "start_minute",
          "must be in [0, 1440)");
  v.check(x.end_minute > x.start_minute && x.end_minute <= 1440, "end_minute",
          "must be after start_minute and at most 1440");
}

SB_FIELDS(staff, SB_FIELD(id), SB_FIELD(company_id), SB_FIELD(branch_id, opt),
          SB_FIELD(name), SB_FIELD(email, opt), SB_FIELD(phone, opt),
          SB_FIELD(service_ids, opt), SB_FIELD(working_hours, opt),
          SB_FIELD(active, opt))

SB_FIELDS(service, SB_FIELD(id), SB_FIELD(company_id), SB_FIELD(name),
          SB_FIELD(price_cents), SB_FIELD(duration_minutes))

template <class V>
void checks(V& v, const service& x) {
  v.check(x.price_cents >= 0, "price_cents", "must not be negative");
  v.check(x.duration_minutes > 0, "duration_minutes", "must be positive");
}

SB_FIELDS(customer, SB_FIELD(id), SB_FIELD(company_id), SB_FIELD(name, opt),
          SB_FIELD(phone, opt), SB_FIELD(email, opt),
          SB_FIELD(prefers_sms, opt), SB_FIELD(prefers_email, opt),
          SB_FIELD(prefers_whatsapp, opt))

SB_FIELDS(appointment, SB_FIELD(id), SB_FIELD(company_id), SB_FIELD(branch_id),
          SB_FIELD(service_id), SB_FIELD(staff_id), SB_FIELD(customer_id),
          SB_TIME(start_time), SB_TIME(end_time), SB_FIELD(status),
          SB_FIELD(price_cents, opt), SB_FIELD(notes, opt),
          SB_FIELD(calcom_uid, omit))

template <class V>
void checks(V& v, const appointment& x) {
  v.check(x.end_time >= x.start_time, "end_time",
          "must not be before start_time");
  v.check(x.price_cents >= 0, "price_cents", "must not be negative");
}

SB_FIELDS(call, SB_FIELD(id), SB_FIELD(company_id), SB_FIELD(from_number, opt),
          SB_FIELD(to_number, opt), SB_FIELD(state), SB_TIME(started_at),
          SB_TIME(ended_at, opt), SB_FIELD(duration_s, opt),
          SB_FIELD(transcript, opt))

template <class V>
void checks(V& v, const call& x) {
  v.check(x.duration_s >= 0, "duration_s", "must not be negative");
}

} // namespace switchboard
