#pragma once

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

inline bool operator==(const company& a, const company& b) {
  return a.id == b.id && a.name == b.name && a.timezone == b.timezone;
}

inline bool operator==(const branch& a, const branch& b) {
  return a.id == b.id && a.company_id == b.company_id && a.name == b.name
         && a.address == b.address && a.phone == b.phone;
}

inline bool operator==(const work_interval& a, const work_interval& b) {
  return a.day == b.day && a.start_minute == b.start_minute
         && a.end_minute == b.end_minute;
}

inline bool operator==(const staff& a, const staff& b) {
  return a.id == b.id && a.company_id == b.company_id
         && a.branch_id == b.branch_id && a.name == b.name && a.email == b.email
         && a.phone == b.phone && a.service_ids == b.service_ids
         && a.working_hours == b.working_hours && a.active == b.active;
}

inline bool operator==(const service& a, const service& b) {
  return a.id == b.id && a.company_id == b.company_id && a.name == b.name
         && a.price_cents == b.price_cents
         && a.duration_minutes == b.duration_minutes;
}

inline bool operator==(const customer& a, const customer& b) {
  return a.id == b.id && a.company_id == b.company_id && a.name == b.name
         && a.phone == b.phone && a.email == b.email
         && a.prefers_sms == b.prefers_sms && a.prefers_email == b.prefers_email
         && a.prefers_whatsapp == b.prefers_whatsapp;
}

inline bool operator==(const appointment& a, const appointment& b) {
  return a.id == b.id && a.company_id == b.company_id
         && a.branch_id == b.branch_id && a.service_id == b.service_id
         && a.staff_id == b.staff_id && a.customer_id == b.customer_id
         && a.start_time == b.start_time && a.end_time == b.end_time
         && a.status == b.status && a.price_cents == b.price_cents
         && a.notes == b.notes && a.calcom_uid == b.calcom_uid;
}

inline bool operator==(const call& a, const call& b) {
  return a.id == b.id && a.company_id == b.company_id
         && a.from_number == b.from_number && a.to_number == b.to_number
         && a.state == b.state && a.started_at == b.started_at
         && a.ended_at == b.ended_at && a.duration_s == b.duration_s
         && a.transcript == b.transcript;
}

} // namespace switchboard
