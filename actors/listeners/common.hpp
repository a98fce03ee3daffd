#pragma once

// What the seed's queued listeners share (actors/listeners/*.cpp): the
// commit of a job's effects with its processed mark, the appointment as
// it is now, the channel rules and channel jobs. Not for other parts:
// they include actors/listeners.hpp.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include <boost/json/object.hpp>

#include <actors/event_visit.hpp>
#include <actors/listeners.hpp>
#include <messages/json.hpp>
#include <messages/time.hpp>
#include <messages/time_zone.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/writer.hpp>

namespace switchboard::listener_detail {

constexpr timestamp_ms hour_ms = 3600 * 1000;

inline std::string text(const char* s) {
  return std::string{s};
}

/// True when `e` is an event of type `E` (its registry name, typed).
template <class E>
bool is_a(const envelope& e) {
  return e.type == event_traits<E>::wire_name;
}

/// Effects of one job, run inside the writer's transaction.
using effects_fn = std::function<store::result<void>(store::write_txn&)>;

/// Commits `effects` together with the processed mark of (`mark`, the
/// event `event_id` of `company`): when the mark exists, the effects are
/// skipped. Answers `rp` after the commit.
void commit_once(queued_listener_actor::pointer self,
                 const listener_context& ctx, std::string mark,
                 std::string company, std::string event_id, effects_fn effects,
                 caf::typed_response_promise<ok_atom> rp,
                 std::vector<std::string> wake = {});

/// Sends `op` to the writer on the background lane (a queued listener's
/// writes yield to requests), isolated as `iso`; then runs `then` on this
/// actor with no error once stored, or with the error.
void write_background(queued_listener_actor::pointer self,
                      const store_writer_actor& writer, store::writer::op_fn op,
                      store::isolation iso,
                      std::function<void(caf::error)> then);

/// Marks (`mark`, the event `event_id` of `company`) processed, a step of
/// a job done, in a commit of its own (validated, on the background lane)
/// together with `effects` (when set); then runs `then` on this actor with
/// no error once stored, or with the error.
void mark_step(queued_listener_actor::pointer self, const listener_context& ctx,
               std::string mark, std::string company, std::string event_id,
               effects_fn effects, std::function<void(caf::error)> then);

/// Enqueues `jobs` in the transaction of the processed mark of `req`'s
/// listener and event (see commit_once) and wakes the notifications
/// queue; answers `rp`.
void enqueue_once(queued_listener_actor::pointer self,
                  const listener_context& ctx, const job_request& req,
                  std::vector<store::job> jobs,
                  caf::typed_response_promise<ok_atom> rp);

/// Enqueues each of `jobs` in `txn`.
store::result<void> enqueue_all_in(store::job_queue& queue,
                                   store::write_txn& txn,
                                   const std::vector<store::job>& jobs);

/// The appointment `id` of `company` as it is now (the read a queued
/// notification makes when it runs, as Laravel's SerializesModels reloads
/// the model), and whether its confirmation has been handled. Read from
/// the stream's last event (and its first, for the confirmation), not
/// folded; `known`, an event the caller holds (the job's own), is not read
/// again when it is one of those, nor decoded again when it is an
/// appointment.created and `known_created` is its appointment. With
/// `confirmation` false, `confirmation_handled` is not read (left false).
struct current_appointment {
  appointment appt;
  bool exists = false;
  bool confirmation_handled = false;
};

expected<current_appointment, caf::error>
load_current(const listener_context& ctx, const std::string& company,
             const std::string& id, const envelope* known = nullptr,
             const appointment* known_created = nullptr,
             bool confirmation = true);

/// The error of a job whose event does not decode: it fails at once.
caf::error bad_event(const job_request& req, const decode_error& err);

/// The behaviour of a queued listener: `handle(req)` runs a job, and
/// `failed(req, error)` is the failed() hook, run once after the last try.
template <class Handle, class Failed>
queued_listener_actor::behavior_type listener_behavior(Handle handle,
                                                       Failed failed) {
  return {
      [handle](handle_atom, const job_request& req) -> caf::result<ok_atom> {
        return handle(req);
      },
      [failed](failed_atom, const job_request& req, const std::string& error) {
        failed(req, error);
      },
  };
}

/// The behaviour of a queued listener of events of type `E`: as
/// `listener_behavior`, with `handle(req, ev)` given the job's event
/// decoded (a job whose event does not decode fails at once: bad_event).
template <class E, class Handle, class Failed>
queued_listener_actor::behavior_type event_listener_behavior(Handle handle,
                                                             Failed failed) {
  return listener_behavior(
      [handle](const job_request& req) -> caf::result<ok_atom> {
        auto ev = decoded_events<E>::instance().get(req.event);
        if (!ev)
          return bad_event(req, ev.error());
        return handle(req, **ev);
      },
      std::move(failed));
}

/// The channels a customer wants, by the seed's rules.
std::vector<std::string> channels_for(const customer& c);

/// The address of `c` on `channel` (email or phone).
std::string recipient_for(const customer& c, const std::string& channel);

/// The Idempotency-Key of a call or message for `event` (`what`: its step
/// or channel): "company:event id:what". Event ids are unique only within
/// a company (a client may choose them), and a provider keeps the keys of
/// every company the node serves under one account: without the company,
/// a company could have another's call taken for a repeat of its own, and
/// get the answer to its own call back.
std::string idempotency_key(const envelope& event, std::string_view what);

/// The calendar day (YYYY-MM-DD, UTC) of `t`.
std::string day_of(timestamp_ms t);

/// The time zone of appointment `a` of the company of `req`'s event (its
/// branch's, else the company's): times in messages to customers are its
/// wall-clock times, with their offset.
time_zone zone_of(const listener_context& ctx, const job_request& req,
                  const appointment& a);

/// A job of queue notifications for `listener`, caused by the event of
/// `req`, with the channel workers' retry policy, created at `now` and due
/// at `due`; the caller adds its payload (and a unique key).
store::job notification_job(const job_request& req, std::string listener,
                            timestamp_ms now, timestamp_ms due);

/// The payload of a channel job for `kind` ("confirmation", "rescheduled",
/// ...) to customer `c` on `channel` about `a` (times in `tz`).
boost::json::object channel_payload(const time_zone& tz, const customer& c,
                                    const std::string& channel,
                                    const appointment& a,
                                    const std::string& kind);

/// A channel job for `msg_kind` ("confirmation", "rescheduled", ...).
store::job channel_job(const time_zone& tz, const job_request& req,
                       const customer& c, const std::string& channel,
                       const appointment& a, const std::string& kind,
                       timestamp_ms now);

/// The text of a message to a customer of `payload` (a channel job's:
/// kind, customer_name, start_time, ...).
std::string message_body(const boost::json::object& payload);

/// The message the channel job of `payload` (channel, recipient, kind,
/// ...) for `event` writes to the outbox: `listener` is the channel job's
/// ("notify.email"), its idempotency key's part; `causation` what caused
/// it ("job:<id>"). The caller checks the recipient.
store::outbound_message customer_message(const envelope& event,
                                         const std::string& listener,
                                         const boost::json::object& payload,
                                         timestamp_ms now,
                                         std::string causation);

} // namespace switchboard::listener_detail
