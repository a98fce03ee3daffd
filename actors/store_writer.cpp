#include "actors/store_writer.hpp"

#include <optional>
#include <utility>
#include <vector>

#include <caf/send.hpp>

#include <actors/errors.hpp>
#include <store/run_isolated.hpp>

namespace switchboard {

namespace {

using self_ptr = store_writer_actor::stateful_pointer<store_writer_state>;

/// Submits one op alone; its answer goes to `rp`.
void submit_alone(self_ptr self, std::shared_ptr<store::writer::op_fn> fn,
                  store::isolation iso, store::lane ln,
                  caf::typed_response_promise<ok_atom> rp) {
  auto token = self->state.next_token++;
  self->state.pending.emplace(token, std::move(rp));
  store_writer_actor me = self;
  self->state.writer->submit(
      *fn,
      [me, token](const store::result<void>& res) {
        caf::anon_send(me, done_atom::value, token,
                       res ? caf::error{} : to_caf_error(res.error()));
      },
      iso, ln);
}

/// Runs every op of a group in one nested transaction of `txn`, none in
/// one of its own: a nested transaction costs LMDB a copy of its dirty
/// page list, and its commit a merge into the parent's, so one per group
/// is cheaper than one per op. Returns what the group's writer op returns
/// when every op succeeded (`results` all set) or one poisoned the
/// transaction; nothing when one failed alone, after undoing them all: the
/// caller then runs each in its own, so that only that one fails.
std::optional<store::result<void>>
run_together(store::write_txn& txn, const std::vector<coalesced_op>& ops,
             std::vector<store::result<void>>& results) {
  if (ops.size() < 2)
    return std::nullopt;
  auto child = txn.begin_nested();
  if (!child)
    return store::result<void>{make_unexpected(child.error())};
  for (const auto& op : ops) {
    auto r = store::run_isolated(*child, *op.fn, store::isolation::validated);
    if (!r) {
      child->abort();
      if (store::poisons_txn(r.error().code))
        return r;
      return std::nullopt;
    }
  }
  if (auto c = child->commit(); !c)
    return c;
  for (auto& r : results)
    r = {};
  return store::result<void>{};
}

/// Sends the waiting background ops to the writer, in groups of at most
/// max_group, while fewer than max_groups_in_flight are there.
void flush_groups(self_ptr self) {
  auto& st = self->state;
  while (!st.waiting.empty() && st.groups.size() < max_groups_in_flight) {
    coalesced_group g;
    auto n = std::min(st.waiting.size(), st.max_group);
    g.ops.assign(std::make_move_iterator(st.waiting.begin()),
                 std::make_move_iterator(st.waiting.begin() + n));
    st.waiting.erase(st.waiting.begin(), st.waiting.begin() + n);
    g.results = std::make_shared<std::vector<store::result<void>>>(n);
    // The ops' functions, shared with the group kept here (they stay put
    // until the group's answer arrives).
    std::vector<coalesced_op> ops;
    ops.reserve(n);
    for (const auto& op : g.ops)
      ops.push_back(coalesced_op{op.fn, op.iso, {}});
    auto results = g.results;
    auto token = st.next_token++;
    st.groups.emplace(token, std::move(g));
    store_writer_actor me = self;
    st.writer->submit(
        [ops = std::move(ops),
         results](store::write_txn& txn) -> store::result<void> {
          // Run again from the start when the writer redoes the batch.
          if (auto all = run_together(txn, ops, *results))
            return *all;
          for (std::size_t i = 0; i < ops.size(); ++i) {
            (*results)[i] = store::run_isolated(txn, *ops[i].fn, ops[i].iso);
            if (!(*results)[i]
                && store::poisons_txn((*results)[i].error().code))
              return (*results)[i];
          }
          return {};
        },
        [me, token](const store::result<void>& res) {
          caf::anon_send(me, done_atom::value, token,
                         res ? caf::error{} : to_caf_error(res.error()));
        },
        store::isolation::validated, store::lane::background);
  }
}

/// Asks for a flush after the messages already in the mailbox: the ops
/// among them join the same groups.
void schedule_flush(self_ptr self) {
  auto& st = self->state;
  if (st.flush_pending)
    return;
  st.flush_pending = true;
  self->send(self, done_atom::value, flush_token, caf::error{});
}

/// The group `token` ended with `err`: answers each op, or, when the
/// group failed as a whole, submits each op alone.
void group_done(self_ptr self, coalesced_group g, caf::error err) {
  if (err) {
    for (auto& op : g.ops)
      submit_alone(self, op.fn, op.iso, store::lane::background,
                   std::move(op.rp));
  } else {
    for (std::size_t i = 0; i < g.ops.size(); ++i) {
      const auto& r = (*g.results)[i];
      if (r)
        g.ops[i].rp.deliver(ok_atom::value);
      else
        g.ops[i].rp.deliver(to_caf_error(r.error()));
    }
  }
  if (!self->state.waiting.empty())
    schedule_flush(self);
}

} // namespace

store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self,
             store::writer* w, bool blocking, std::size_t max_group) {
  self->state.writer = w;
  self->state.max_group = blocking ? 0 : max_group;
  return {
      [=](write_atom, write_op& op) -> caf::result<ok_atom> {
        if (!op.fn)
          return make_runtime_error(runtime_errc::invalid_argument,
                                    "write_op without a function");
        if (blocking) {
          auto res = self->state.writer->execute(*op.fn, op.iso, op.lane);
          if (!res)
            return to_caf_error(res.error());
          return ok_atom::value;
        }
        auto rp = self->make_response_promise<ok_atom>();
        auto& st = self->state;
        if (op.lane == store::lane::background && st.max_group > 1) {
          st.waiting.push_back(coalesced_op{op.fn, op.iso, rp});
          schedule_flush(self);
          return rp;
        }
        submit_alone(self, op.fn, op.iso, op.lane, rp);
        return rp;
      },
      [=](done_atom, std::uint64_t token, caf::error& err) {
        auto& st = self->state;
        if (token == flush_token) {
          st.flush_pending = false;
          flush_groups(self);
          return;
        }
        if (auto g = st.groups.find(token); g != st.groups.end()) {
          auto group = std::move(g->second);
          st.groups.erase(g);
          group_done(self, std::move(group), std::move(err));
          return;
        }
        auto i = st.pending.find(token);
        if (i == st.pending.end())
          return;
        if (err)
          i->second.deliver(std::move(err));
        else
          i->second.deliver(ok_atom::value);
        st.pending.erase(i);
      },
  };
}

} // namespace switchboard
