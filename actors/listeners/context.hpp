#pragma once

// What every queued listener is given (listener_context), the endpoint of
// external calls, the listeners' names and what they share with other
// parts (the customer they load, the projection keys they write).

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include <actors/clock.hpp>
#include <actors/interfaces.hpp>
#include <actors/listener_registry.hpp>
#include <messages/decode_error.hpp>
#include <messages/entities.hpp>
#include <store/error.hpp>

namespace switchboard::store {
class event_store;
class job_queue;
class processed_set;
class projections;
class message_outbox;
class tenants;
class write_txn;
} // namespace switchboard::store

namespace switchboard {

class customer_view;

/// A new, empty customer view (actors/listeners/customer_view.hpp).
std::shared_ptr<customer_view> new_customer_view();

// -- outbound endpoints
// ---------------------------------------------------------

using sync_atom = caf::atom_constant<caf::atom("sync")>;

/// An external service endpoint; it answers the provider's reply body
/// ("" when there is none, e.g. the outbox). An error answer fails the
/// attempt (one with `runtime_errc::rejected` fails the job at once).
using endpoint_actor = caf::typed_actor<
    caf::replies_to<sync_atom, outbound_call>::with<std::string>>;

/// Writes `call` to the outbox in `txn`, created at `now`, together with
/// its processed mark when it has one (`call.mark` for `call.mark_event`):
/// when that mark exists already (the step was done), writes nothing.
/// What an endpoint that only queues calls does with each.
store::result<void> queue_call_in(store::write_txn& txn,
                                  store::message_outbox& outbox,
                                  store::processed_set& processed,
                                  const outbound_call& call, timestamp_ms now);

/// What a listener needs from the node; handed over at spawn.
class catch_up_board;
class listener_pause;

struct listener_context {
  store::event_store* events = nullptr;
  store::job_queue* jobs = nullptr;
  store::processed_set* processed = nullptr;
  store::projections* projections = nullptr;
  store::message_outbox* outbox = nullptr;
  /// The companies, for their time zones (none: UTC).
  const store::tenants* tenants = nullptr;
  store_writer_actor writer;
  clock_fn clock;
  /// The queue supervisors by queue name, filled once they run: a listener
  /// that enqueues jobs wakes their queue.
  std::shared_ptr<std::map<std::string, queue_supervisor_actor>> queues
      = std::make_shared<std::map<std::string, queue_supervisor_actor>>();
  /// The aggregate router, set once it runs: a listener that records a
  /// provider's answer on an aggregate (a Cal.com booking uid) sends it a
  /// command.
  std::shared_ptr<router_actor> router = std::make_shared<router_actor>();
  /// The provider endpoint of channel messages (see actors/providers.hpp),
  /// used for the channels in `provider_channels`; the others go to the
  /// outbox.
  endpoint_actor messenger;
  std::set<std::string> provider_channels;
  /// The targets of external calls that a provider takes, when the calls
  /// to any other target go to the outbox (the node's own endpoints): a
  /// listener may then write those itself (`queue_call_in`), several in
  /// one transaction, instead of asking the endpoint for each. Null: the
  /// endpoint takes every call (one given by the caller, e.g. a test's).
  std::shared_ptr<const std::set<std::string>> provider_targets;
  /// The customers the listeners read, folded once per change of any
  /// customer rather than once per job (see `customer_of`).
  std::shared_ptr<customer_view> customers = new_customer_view();
  /// Where the catch-up listeners' readers tell how far they read (see
  /// `catch_up_board`); null: they tell no one.
  std::shared_ptr<catch_up_board> readers;
  /// Whether the listeners are paused (see pause.hpp); null: never.
  std::shared_ptr<listener_pause> pause;
};

// -- names --------------------------------------------------------------------

namespace listener_names {

constexpr const char* audit_logger = "audit_logger";
constexpr const char* cache_invalidator = "cache_invalidator";
constexpr const char* send_notification = "send_appointment_notification";
constexpr const char* send_thank_you_note = "send_thank_you_note";
constexpr const char* update_analytics = "update_analytics";
constexpr const char* external_sync = "sync_with_external_services";
constexpr const char* appointment_subscriber = "appointment_event_subscriber";
constexpr const char* notify_sms = "notify.sms";
constexpr const char* notify_email = "notify.email";
constexpr const char* notify_whatsapp = "notify.whatsapp";
constexpr const char* reminder_24h = "reminder.24h";
constexpr const char* reminder_1h = "reminder.1h";

} // namespace listener_names

/// The retry policy of channel and reminder jobs.
retry_policy channel_retry_policy();

/// The current state of customer `id` of company `company_id`,
/// rehydrated from its stream. Errors: `runtime_errc::rejected` when the
/// stream is another company's (an event that names it fails its job at
/// once), `not_found` when there is no such customer, `storage` when the
/// stream cannot be read.
expected<customer, caf::error> load_customer(const store::event_store& events,
                                             const std::string& company_id,
                                             const std::string& id);

/// The customer `id` of `company_id` as a job needs it: from
/// `ctx.customers` (the stream folded again only after a customer commit),
/// or folded by `load_customer` when the context has no view. Errors: those
/// of `load_customer`.
expected<customer, caf::error> customer_of(const listener_context& ctx,
                                           const std::string& company_id,
                                           const std::string& id);

/// The projection keys the listeners write, for readers and tests.
namespace projection_keys {

std::string slot(const std::string& company, const std::string& staff,
                 timestamp_ms start);
std::string slots_of_staff(const std::string& company,
                           const std::string& staff);
std::string analytics(const std::string& what, const std::string& company);
std::string branch_stats(const std::string& company, const std::string& branch);

} // namespace projection_keys

} // namespace switchboard
