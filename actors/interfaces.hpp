#pragma once

// Every typed actor interface of the runtime, and its atoms. A reader learns
// the whole message surface of the system from this file.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <messages/calendar_commands.hpp>
#include <messages/cluster.hpp>
#include <messages/commands.hpp>
#include <messages/envelope.hpp>
#include <messages/inspect.hpp>
#include <store/writer.hpp>

namespace switchboard {

// -- atoms --------------------------------------------------------------------

using write_atom = caf::atom_constant<caf::atom("write")>;
using handle_atom = caf::atom_constant<caf::atom("handle")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using ok_atom = caf::atom_constant<caf::atom("ok")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Times out the calls whose deadline has passed (see deadlines.hpp).
using expire_atom = caf::atom_constant<caf::atom("expire")>;
/// Asks an actor that stops when idle whether it has been.
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using command_atom = caf::atom_constant<caf::atom("command")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using availability_atom = caf::atom_constant<caf::atom("avail")>;
/// The cluster's handshake, liveness, forwarding and replication.
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using auth_atom = caf::atom_constant<caf::atom("auth")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;
using events_atom = caf::atom_constant<caf::atom("events")>;
using tenants_atom = caf::atom_constant<caf::atom("tenants")>;
/// The placement table, and moving a company between members.
using placement_atom = caf::atom_constant<caf::atom("placement")>;
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;
using move_atom = caf::atom_constant<caf::atom("move")>;
using import_atom = caf::atom_constant<caf::atom("import")>;
/// Broadcasting across the cluster: presence members, channel frames.
using presence_atom = caf::atom_constant<caf::atom("presence")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;

// -- local-only message types
// ---------------------------------------------------

/// A write to run inside the group-commit transaction (see store/writer.hpp
/// for the rules an op follows). Local to one node: it holds a callable.
struct write_op {
  std::shared_ptr<store::writer::op_fn> fn;
  store::isolation iso = store::isolation::validated;
  store::lane lane = store::lane::foreground;
};

/// Wraps a callable as a write_op.
inline write_op make_write_op(store::writer::op_fn fn,
                              store::isolation iso
                              = store::isolation::validated,
                              store::lane ln = store::lane::foreground) {
  return {std::make_shared<store::writer::op_fn>(std::move(fn)), iso, ln};
}

} // namespace switchboard

// A write_op holds a callable and never leaves its node.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(switchboard::write_op)

namespace switchboard {

// -- interfaces ---------------------------------------------------------------

/// The store writer: the one owner of LMDB write transactions, wrapping the
/// group-commit writer thread so that no scheduler thread blocks on LMDB.
using store_writer_actor = caf::typed_actor<
    /// Runs the op in the next group commit; answers after the sync, or with
    /// the op's error (the op then wrote nothing).
    caf::replies_to<write_atom, write_op>::with<ok_atom>,
    /// Internal: the writer thread reports that op `token` committed (or
    /// failed with the error).
    caf::reacts_to<done_atom, std::uint64_t, caf::error>>;

/// A synchronous listener: runs while the dispatcher waits, with a timeout.
using sync_listener_actor = caf::typed_actor<
    /// Handles one committed event; an error answer is logged and counted by
    /// the dispatcher and never fails the dispatch.
    caf::replies_to<handle_atom, envelope>::with<ok_atom>>;

/// A queued listener: receives jobs from its queue's supervisor.
using queued_listener_actor = caf::typed_actor<
    /// Handles one attempt of a job; an error answer (or a timeout, or the
    /// actor dying) schedules the next try by the listener's backoff.
    caf::replies_to<handle_atom, job_request>::with<ok_atom>,
    /// The job failed for good (the seed's failed() hook); runs once.
    caf::reacts_to<failed_atom, job_request, std::string>>;

/// A catch-up listener (actors/listeners/catch_up.hpp): reads the log
/// after its checkpoint and commits each batch's effects with the new
/// checkpoint.
using catch_up_actor = caf::typed_actor<
    /// Its timer: write the batch due, or read the next.
    caf::reacts_to<tick_atom>>;

/// One supervisor per named queue: leases due jobs and hands them to the
/// listener actors, up to the queue's concurrency.
using queue_supervisor_actor = caf::typed_actor<
    /// New jobs may be due: lease and run them.
    caf::reacts_to<wake_atom>,
    /// Periodic: reclaims expired leases and re-arms the due-time timer.
    caf::reacts_to<tick_atom>,
    /// Times out the jobs whose listener has not answered in time.
    caf::reacts_to<expire_atom>,
    /// Counts of the queue (LMDB) and of this supervisor.
    caf::replies_to<stats_atom>::with<queue_stats>,
    /// Stops leasing; answers once every running job has ended.
    caf::replies_to<drain_atom>::with<ok_atom>,
    /// A commit submitted to the writer thread directly has ended.
    caf::reacts_to<done_atom, std::uint64_t, caf::error>>;

/// Writes what the runtime did since the last tick into the minute
/// buckets of store/stats.hpp (from the /metrics counters: nothing more is
/// counted on the hot paths), and prunes buckets past their retention.
using stats_recorder_actor = caf::typed_actor<
    /// Periodic: records the interval's activity.
    caf::reacts_to<tick_atom>,
    /// Records now; answers once the buckets are committed.
    caf::replies_to<flush_atom>::with<ok_atom>,
    /// The commit of a recording has ended (its token, an error or none).
    caf::reacts_to<done_atom, std::uint64_t, caf::error>>;

/// The dispatcher: stores events with their outbox jobs in one transaction,
/// runs the synchronous listeners, wakes the queues.
using dispatcher_actor = caf::typed_actor<
    caf::replies_to<dispatch_atom, dispatch_request>::with<dispatch_result>,
    /// Times out the sync listener calls whose deadline has passed.
    caf::reacts_to<expire_atom>,
    /// A commit submitted to the writer thread directly has ended (token,
    /// error or none).
    caf::reacts_to<done_atom, std::uint64_t, caf::error>>;

/// The tagged cache used by the read API and flushed by the
/// CacheInvalidator.
using cache_actor = caf::typed_actor<
    /// Looks up a key (expired entries count as misses).
    caf::replies_to<get_atom, std::string>::with<cache_lookup>,
    /// Stores key → value with tags and a TTL in milliseconds (0 = none).
    caf::replies_to<put_atom, std::string, std::string,
                    std::vector<std::string>, std::uint32_t>::with<ok_atom>,
    /// Removes every entry carrying any of the tags; answers how many.
    caf::replies_to<flush_atom, std::vector<std::string>>::with<std::uint64_t>,
    /// Hit, miss and flush counters.
    caf::replies_to<stats_atom>::with<cache_stats>,
    /// Drops the entries whose TTL has passed (the cache's own timer).
    caf::reacts_to<tick_atom>>;

/// What every actor the router spawns answers (entity, call and calendar
/// actors alike): the messages that end it.
using routed_actor = caf::typed_actor<
    /// Stops the actor if it has had nothing to do for its idle timeout.
    caf::reacts_to<idle_atom>,
    /// Passivation by the router (too many live aggregates): stops the
    /// actor now unless it has work in flight.
    caf::reacts_to<drain_atom>>;

/// An aggregate with a state of its own (customer, staff, service, call):
/// one actor per key serialises its commands.
using aggregate_actor = routed_actor::extend<
    /// Validates the command against the state, stores and dispatches the
    /// events it decides, answers the new state.
    caf::replies_to<command_atom, aggregate_command>::with<command_result>,
    /// The current state as JSON (not_found when it does not exist).
    caf::replies_to<get_atom, std::string>::with<std::string>>;

/// The staff calendar's commands (messages/calendar_commands.hpp), decoded
/// where they enter the runtime. Each stores and dispatches the events
/// the calendar decides and answers the appointment's new state.
using calendar_command_actor = caf::typed_actor<
    caf::replies_to<command_atom, book_appointment>::with<command_result>,
    caf::replies_to<command_atom, reschedule_appointment>::with<command_result>,
    caf::replies_to<command_atom, reassign_appointment>::with<command_result>,
    caf::replies_to<command_atom, cancel_appointment>::with<command_result>,
    caf::replies_to<command_atom, complete_appointment>::with<command_result>,
    caf::replies_to<command_atom, link_calcom_booking>::with<command_result>,
    caf::replies_to<command_atom,
                    set_appointment_no_show>::with<command_result>>;

/// The calendar of one staff member: decides every appointment command
/// of that staff member, which is what makes double booking impossible.
using calendar_actor
    = routed_actor::extend_with<calendar_command_actor>::extend<
        /// Forgets an appointment that moved to another staff member.
        caf::reacts_to<release_atom, std::string>,
        /// Free start times on a day (its midnight) for a service, as JSON.
        caf::replies_to<availability_atom, std::string,
                        timestamp_ms>::with<std::string>>;

/// The router: spawns aggregate and calendar actors on demand (rehydrated
/// from their stream), forwards commands and reads to them, and forgets
/// them when they stop after being idle. Appointment commands go to the
/// calendar of their staff member.
using router_actor = calendar_command_actor::extend<
    /// A customer, staff, service or call command.
    caf::replies_to<command_atom, aggregate_command>::with<command_result>,
    /// Reads aggregate (type, company, id) as JSON.
    caf::replies_to<get_atom, std::string, std::string,
                    std::string>::with<std::string>,
    /// Free start times of (company, staff, service, day "YYYY-MM-DD"),
    /// served from the tagged cache when possible.
    caf::replies_to<availability_atom, std::string, std::string, std::string,
                    std::string>::with<std::string>,
    /// Passivates every live actor of a company and flushes its cached
    /// availability: its cluster owner changed, and what this node held
    /// of it may be stale when it comes back.
    caf::reacts_to<drain_atom, std::string>>;

/// The one actor a node publishes on its cluster port (actors/cluster.hpp).
/// Messages from other nodes are taken only from nodes that have joined
/// by the handshake, and only with the link key that handshake gave the
/// sender (its first `std::string`): CAF's transport takes the sending
/// node's id from the message itself, so the id alone proves nothing. The
/// local-only ones carry the node's local key (a random number that never
/// leaves the process), since a message sent without a sender cannot be
/// told from one sent by a remote node.
using cluster_actor = caf::typed_actor<
    /// Handshake (a joining node's proof first): answers only a proof, with
    /// this node's; strangers get nothing. The joiner has then joined.
    caf::replies_to<hello_atom, cluster_hello>::with<cluster_hello>,
    /// Reserved for a later protocol version: answers nothing.
    caf::replies_to<auth_atom, cluster_hello>::with<ok_atom>,
    /// A joined member is alive (link key, its name).
    caf::reacts_to<heartbeat_atom, std::string, std::string>,
    /// From a joined member: runs an HTTP request here, as if received.
    caf::replies_to<forward_atom, std::string,
                    forward_request>::with<forward_response>,
    /// Local (key): sends an HTTP request to its owner (a member's name).
    caf::replies_to<forward_atom, std::uint64_t, std::string,
                    forward_request>::with<forward_response>,
    /// Local (key): the answer of a request a member forwarded here.
    caf::reacts_to<done_atom, std::uint64_t, std::uint64_t, forward_response>,
    /// From a joined member: events it committed (for local subscribers).
    caf::reacts_to<events_atom, std::string, std::vector<envelope>>,
    /// Local (key): events committed here, for every member.
    caf::reacts_to<events_atom, std::uint64_t, std::vector<envelope>>,
    /// From a joined member: its tenants, to merge.
    caf::reacts_to<tenants_atom, std::string, tenant_digest>,
    /// From a joined member: its placement table (taken when newer).
    caf::reacts_to<placement_atom, std::string, cluster_placement>,
    /// From the member moving a company: the table to take before the
    /// answer (the epoch this node then has).
    caf::replies_to<adopt_atom, std::string,
                    cluster_placement>::with<std::uint64_t>,
    /// Local (key): moves a company (this node owns it) to a member;
    /// answers as the HTTP route does.
    caf::replies_to<move_atom, std::uint64_t, std::string,
                    std::string>::with<forward_response>,
    /// Local (key): the next step of the move of a company.
    caf::reacts_to<move_atom, std::uint64_t, std::string>,
    /// From the member moving a company here: a part of its data; answers
    /// the events stored.
    caf::replies_to<import_atom, std::string,
                    company_transfer>::with<std::uint64_t>,
    /// From a joined member: the presence members connected to it.
    caf::reacts_to<presence_atom, std::string, presence_digest>,
    /// Local (key): this node's presence members changed (`true`: the
    /// delayed send of them is due).
    caf::reacts_to<presence_atom, std::uint64_t, bool>,
    /// From a joined member: a frame for the subscribers of a channel.
    caf::reacts_to<publish_atom, std::string, channel_message>,
    /// Local (key): a frame published here, for every member.
    caf::reacts_to<publish_atom, std::uint64_t, channel_message>,
    /// Periodic: connects, heartbeats, notices silence, sends tenants.
    caf::reacts_to<tick_atom>>;

} // namespace switchboard
