// Catch-up listeners: the log after a checkpoint, folded a batch at a time.
#include "actors/listeners/catch_up.hpp"

#include <algorithm>
#include <cstddef>
#include <map>

#include <actors/branches.hpp>
#include <actors/dispatcher.hpp>
#include <actors/errors.hpp>
#include <actors/listeners/pause.hpp>
#include <actors/log.hpp>
#include <actors/metrics.hpp>
#include <messages/registry.hpp>
#include <store/codec.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/processed.hpp>
#include <store/projections.hpp>
#include <store/writer.hpp>

namespace switchboard {

std::string checkpoint_key(std::string_view listener) {
  std::string k{"checkpoint/"};
  k.append(listener);
  return k;
}

namespace {

store::result<std::optional<std::uint64_t>>
decode_checkpoint(store::result<std::string> value) {
  if (!value) {
    if (value.error().code == store::errc::not_found)
      return std::optional<std::uint64_t>{};
    return make_unexpected(value.error());
  }
  if (value->size() != 8)
    return store::fail(store::errc::corrupt, "checkpoint: bad value size");
  return std::optional<std::uint64_t>{store::get_be64(value->data())};
}

} // namespace

store::result<std::optional<std::uint64_t>>
read_checkpoint(const store::projections& proj, std::string_view listener) {
  return decode_checkpoint(proj.get(checkpoint_key(listener)));
}

store::result<std::optional<std::uint64_t>>
read_first_checkpoint(const store::projections& proj,
                      std::string_view listener) {
  return decode_checkpoint(proj.get(checkpoint_key(listener) + "/start"));
}

store::result<std::optional<std::uint64_t>>
read_checkpoint_in(store::write_txn& txn, const store::projections& proj,
                   std::string_view listener) {
  return decode_checkpoint(proj.get_in(txn, checkpoint_key(listener)));
}

store::result<void> write_checkpoint_in(store::write_txn& txn,
                                        store::projections& proj,
                                        std::string_view listener,
                                        std::uint64_t seq) {
  char v[8];
  store::put_be64(v, seq);
  return proj.put_in(txn, checkpoint_key(listener), std::string_view{v, 8});
}

store::result<std::uint64_t> settle_checkpoint(store::writer& writer,
                                               store::projections& proj,
                                               const store::event_store& events,
                                               std::string_view listener,
                                               bool from_start) {
  std::uint64_t at = 0;
  auto op = [&](store::write_txn& txn) -> store::result<void> {
    auto cp = read_checkpoint_in(txn, proj, listener);
    if (!cp)
      return make_unexpected(cp.error());
    if (*cp) {
      at = **cp;
      return {};
    }
    at = 0;
    if (!from_start) {
      auto last = events.last_sequence_in(txn.handle());
      if (!last)
        return make_unexpected(last.error());
      at = *last;
    }
    char v[8];
    store::put_be64(v, at);
    if (auto r = proj.put_in(txn, checkpoint_key(listener) + "/start",
                             std::string_view{v, 8});
        !r)
      return r;
    return write_checkpoint_in(txn, proj, listener, at);
  };
  if (auto r = writer.execute(op); !r)
    return make_unexpected(r.error());
  return at;
}

std::shared_ptr<catch_up_progress>
catch_up_board::of(const std::string& listener) {
  std::lock_guard<std::mutex> g{mtx_};
  auto& p = readers_[listener];
  if (!p)
    p = std::make_shared<catch_up_progress>();
  return p;
}

std::shared_ptr<const catch_up_progress>
catch_up_board::find(const std::string& listener) const {
  std::lock_guard<std::mutex> g{mtx_};
  auto i = readers_.find(listener);
  if (i == readers_.end())
    return nullptr;
  return i->second;
}

store::result<std::vector<catch_up_position>>
catch_up_positions(const listener_registry& reg, const store::projections& proj,
                   const store::event_store& events,
                   const catch_up_board* board) {
  std::vector<catch_up_position> out;
  std::optional<std::uint64_t> last;
  for (const auto& name : reg.queued_listener_names()) {
    const auto* spec = reg.find_queued(name);
    if (spec == nullptr || !spec->catch_up)
      continue;
    auto cp = read_checkpoint(proj, name);
    if (!cp)
      return make_unexpected(cp.error());
    if (!last) {
      auto l = events.last_sequence();
      if (!l)
        return make_unexpected(l.error());
      last = *l;
    }
    catch_up_position p;
    p.listener = name;
    p.queue = spec->queue;
    p.checkpoint = cp->value_or(0);
    p.last = *last;
    p.delay_ms = spec->first_delay_ms();
    if (board != nullptr)
      if (auto told = board->find(name)) {
        auto from = told->delayed_from.load(std::memory_order_relaxed);
        // Told before or after the checkpoint was read: only what lies
        // past it and within the log counts.
        auto through = std::min(
            told->read_through.load(std::memory_order_relaxed), p.last);
        if (from != 0 && std::max(from, p.checkpoint + 1) <= through) {
          p.delayed_from = std::max(from, p.checkpoint + 1);
          p.delayed_through = through;
        }
      }
    out.push_back(std::move(p));
  }
  return out;
}

job_request reader_request(const queued_listener_spec& spec,
                           const envelope& ev) {
  job_request req;
  req.queue = spec.queue;
  req.listener = spec.name;
  req.event = ev;
  return req;
}

catch_up_deps catch_up_deps_of(const listener_context& ctx,
                               const queued_listener_spec& spec,
                               const listener_registry& reg, fold_fn fold) {
  catch_up_deps d;
  d.ctx = ctx;
  d.spec = spec;
  if (ctx.readers)
    d.progress = ctx.readers->of(spec.name);
  if (spec.poll_ms)
    d.busy = d.idle = std::chrono::milliseconds(*spec.poll_ms);
  for (const auto& info : all_event_types())
    if (reg.is_listening(info.wire_name, spec.name))
      d.types.emplace(info.wire_name);
  d.fold = std::move(fold);
  return d;
}

namespace {

/// The processed mark of an event brought in: the name of no listener of
/// ours, nor of any step of one ("<listener>.<step>").
constexpr std::string_view brought_in_mark = "#brought_in";

} // namespace

store::result<void> mark_brought_in_in(store::write_txn& txn,
                                       store::processed_set& processed,
                                       const envelope& event) {
  auto marked
      = processed.mark_in(txn, event.company_id, brought_in_mark, event.id);
  if (!marked)
    return make_unexpected(marked.error());
  return {};
}

store::result<catch_up_read>
read_events(const store::event_store& events, std::uint64_t after,
            std::size_t max, const std::set<std::string, std::less<>>& types,
            const store::processed_set* brought_in) {
  catch_up_read r;
  r.through = after;
  auto scanned = events.scan(after + 1, [&](const store::envelope_view& v) {
    if (r.read >= max)
      return false;
    ++r.read;
    r.through = v.sequence;
    if (types.find(v.type) == types.end())
      return true;
    auto ev = v.to_envelope();
    if (brought_in != nullptr) {
      auto marked = brought_in->contains(ev.company_id, brought_in_mark, ev.id);
      if (marked && *marked)
        return true;
    }
    r.events.push_back(std::move(ev));
    return true;
  });
  if (!scanned)
    return make_unexpected(scanned.error());
  return r;
}

catch_up_batch fold_events(std::uint64_t after, std::uint64_t through,
                           std::vector<envelope> events, const fold_fn& fold) {
  // The batch's events mostly share a company and branch: each zone is
  // read once for all of them.
  zone_memo_scope zones;
  catch_up_batch b;
  b.after = after;
  b.through = through;
  b.read = events.size();
  std::map<std::string, std::size_t, std::less<>> index;
  std::vector<std::map<std::string, std::int64_t>> sums;
  for (auto& ev : events) {
    auto effect = fold(ev);
    if (!effect || (effect->as_job && effect->writes_nothing())) {
      b.jobs.push_back(std::move(ev));
      continue;
    }
    if (effect->as_job)
      b.jobs.push_back(ev);
    if (effect->writes_nothing())
      continue;
    auto [it, fresh] = index.try_emplace(ev.company_id, b.companies.size());
    if (fresh) {
      b.companies.emplace_back(ev.company_id, catch_up_batch::company_part{});
      sums.emplace_back();
    }
    auto& part = b.companies[it->second].second;
    part.last_seq = ev.sequence;
    auto& mine = sums[it->second];
    for (auto& [key, delta] : effect->counters)
      mine[std::move(key)] += delta;
    for (auto& call : effect->calls)
      part.calls.push_back(std::move(call));
    for (auto& w : effect->writes)
      part.writes.push_back(std::move(w));
  }
  for (std::size_t i = 0; i < sums.size(); ++i)
    b.companies[i].second.sums.assign(sums[i].begin(), sums[i].end());
  return b;
}

namespace {

using self_ptr = catch_up_actor::stateful_pointer<catch_up_state>;

void arm(self_ptr self, std::chrono::milliseconds wait) {
  if (wait.count() <= 0)
    self->send(self, tick_atom::value);
  else
    self->delayed_send(self, wait, tick_atom::value);
}

/// The wait until the oldest held event is due, at most `cap`.
std::chrono::milliseconds until_due(self_ptr self,
                                    std::chrono::milliseconds cap) {
  auto& st = self->state;
  if (st.held.empty())
    return cap;
  auto due = st.held.front().second
             + std::chrono::milliseconds(st.deps.spec.first_delay_ms());
  auto now = self->clock().now();
  if (due <= now)
    return std::chrono::milliseconds(0);
  auto left = std::chrono::ceil<std::chrono::milliseconds>(due - now);
  return std::min(cap, left);
}

/// The wait before the next tick after one that did not end in an empty
/// read: none while the log has more to read and there is room, else
/// until the oldest held event is due (at most `busy`).
std::chrono::milliseconds next_wait(self_ptr self) {
  auto& st = self->state;
  if (st.full && st.held.size() < st.deps.max_held)
    return std::chrono::milliseconds(0);
  return until_due(self, st.deps.busy);
}

/// Commits `batch`, the first `n` held events (`runs` of them per
/// company, counted as the listener's runs once committed): its counters,
/// outbox messages and other writes (but those of a company forgotten
/// since the read), the jobs of its events that need one and the new
/// checkpoint, all or nothing, provided the checkpoint is still the one
/// the batch was read after (a replay may have moved it).
void write_batch(self_ptr self, std::shared_ptr<catch_up_batch> batch,
                 std::size_t n,
                 std::shared_ptr<std::map<std::string, std::uint64_t>> runs) {
  auto& st = self->state;
  st.writing = true;
  auto* proj = st.deps.ctx.projections;
  auto* events = st.deps.ctx.events;
  auto* jobs = st.deps.ctx.jobs;
  auto* outbox = st.deps.ctx.outbox;
  auto* processed = st.deps.ctx.processed;
  auto spec = st.deps.spec;
  auto now = st.deps.ctx.clock();
  auto op = [=](store::write_txn& txn) -> store::result<void> {
    auto at = read_checkpoint_in(txn, *proj, spec.name);
    if (!at)
      return make_unexpected(at.error());
    if (at->value_or(0) != batch->after)
      return store::fail(store::errc::version_conflict,
                         "the checkpoint of " + spec.name + " moved");
    for (const auto& [company, part] : batch->companies) {
      auto kept = events->has_event_in(txn.handle(), part.last_seq);
      if (!kept)
        return make_unexpected(kept.error());
      if (!*kept)
        continue; // the company was forgotten since the read
      for (const auto& [key, delta] : part.sums)
        if (auto r = proj->add_in(txn, key, delta); !r)
          return r;
      for (const auto& call : part.calls)
        if (auto r = queue_call_in(txn, *outbox, *processed, call, now); !r)
          return r;
      for (const auto& w : part.writes)
        if (auto r = w(txn); !r)
          return r;
    }
    for (const auto& ev : batch->jobs) {
      auto kept = events->has_event_in(txn.handle(), ev.sequence);
      if (!kept)
        return make_unexpected(kept.error());
      if (*kept) {
        // Its delay is over: it waited in the reader.
        auto j = listener_job(spec, ev, now);
        j.due_at = now;
        if (auto id = jobs->enqueue_in(txn, j); !id)
          return make_unexpected(id.error());
      }
    }
    return write_checkpoint_in(txn, *proj, spec.name, batch->through);
  };
  auto done = [self, batch, n, runs](caf::error err) {
    auto& st = self->state;
    st.writing = false;
    if (err) {
      // Read again from the stored checkpoint (moved by a replay, or
      // unchanged after a failed commit).
      auto cp = read_checkpoint(*st.deps.ctx.projections, st.deps.spec.name);
      if (cp && *cp)
        st.position = **cp;
      st.read_through = st.position;
      st.held.clear();
      st.full = false;
      st.log->warn("{}: a batch of {} event(s) after {} was not applied ({}); "
                   "reading again from {}",
                   st.deps.spec.name, batch->read, batch->after, describe(err),
                   st.position);
      arm(self, std::chrono::milliseconds(250));
      return;
    }
    st.position = batch->through;
    // The events applied are the listener's runs, per company too.
    if (n > 0)
      metrics().listener_runs.with({st.deps.spec.name, "catch_up"}).inc(n);
    for (const auto& [company, count] : *runs)
      per_company_metrics()
          .listener_runs.with({company, st.deps.spec.name})
          .inc(count);
    st.held.erase(st.held.begin(),
                  st.held.begin() + static_cast<std::ptrdiff_t>(n));
    auto wake = [&](const std::string& name) {
      auto q = st.deps.ctx.queues->find(name);
      if (q != st.deps.ctx.queues->end())
        self->send(q->second, wake_atom::value);
    };
    if (!batch->jobs.empty())
      wake(st.deps.spec.queue);
    if (!batch->companies.empty())
      for (const auto& name : st.deps.wake)
        wake(name);
    st.wait = st.deps.busy;
    arm(self, next_wait(self));
  };
  // Nested: a step that fails leaves nothing of the batch.
  self->request(st.deps.ctx.writer, caf::infinite, write_atom::value,
                make_write_op(std::move(op), store::isolation::nested,
                              store::lane::background))
      .then(
          [done](ok_atom) {
            done(caf::error{});
          },
          [done](caf::error& err) {
            done(std::move(err));
          });
}

/// Reads on while there is room, then applies the held events whose delay
/// is over (at most a batch): the checkpoint moves to just before the
/// first event still held, or to the last sequence read.
void on_tick(self_ptr self) {
  auto& st = self->state;
  if (st.writing)
    return;
  if (st.deps.ctx.pause && st.deps.ctx.pause->paused(st.deps.spec.queue)) {
    // Paused: nothing read or applied; look again shortly.
    arm(self, std::chrono::milliseconds(250));
    return;
  }
  std::size_t read = 0;
  if (st.held.size() < st.deps.max_held) {
    auto room = std::min(st.deps.max_batch, st.deps.max_held - st.held.size());
    auto got = read_events(
        *st.deps.ctx.events, st.read_through, room, st.deps.types,
        st.deps.skips_brought_in ? st.deps.ctx.processed : nullptr);
    if (!got) {
      st.log->warn("{}: reading the log after {}: {}", st.deps.spec.name,
                   st.read_through, store::to_string(got.error()));
      arm(self, std::chrono::seconds(1));
      return;
    }
    read = got->read;
    st.full = got->read >= room;
    st.read_through = got->through;
    auto now = self->clock().now();
    for (auto& ev : got->events)
      st.held.emplace_back(std::move(ev), now);
  }
  auto delay = std::chrono::milliseconds(st.deps.spec.first_delay_ms());
  auto now = self->clock().now();
  std::size_t n = 0;
  while (n < st.held.size() && n < st.deps.max_batch
         && st.held[n].second + delay <= now)
    ++n;
  if (st.deps.progress) {
    // The first event still held once the due ones are applied; the
    // prefix past `max_batch` is due and counts as behind.
    std::size_t waiting = n;
    while (waiting < st.held.size() && st.held[waiting].second + delay <= now)
      ++waiting;
    st.deps.progress->read_through.store(st.read_through,
                                         std::memory_order_relaxed);
    st.deps.progress->delayed_from.store(
        waiting < st.held.size() ? st.held[waiting].first.sequence : 0,
        std::memory_order_relaxed);
  }
  auto through
      = n < st.held.size() ? st.held[n].first.sequence - 1 : st.read_through;
  // Nothing due: wait (moving the checkpoint over other types' events
  // alone only once nothing is held).
  if (through <= st.position || (n == 0 && !st.held.empty())) {
    if (read == 0 && st.held.empty()) {
      st.wait = std::min(st.deps.idle, std::max(st.deps.busy, st.wait * 2));
      arm(self, st.wait);
    } else {
      arm(self, next_wait(self));
    }
    return;
  }
  // Moved out: held events leave the deque whether the commit succeeds
  // (the first n) or fails (all of them).
  std::vector<envelope> due;
  due.reserve(n);
  auto runs = std::make_shared<std::map<std::string, std::uint64_t>>();
  for (std::size_t i = 0; i < n; ++i) {
    ++(*runs)[st.held[i].first.company_id];
    due.push_back(std::move(st.held[i].first));
  }
  auto batch = std::make_shared<catch_up_batch>(
      fold_events(st.position, through, std::move(due), st.deps.fold));
  write_batch(self, std::move(batch), n, std::move(runs));
}

} // namespace

catch_up_actor::behavior_type catch_up_listener(self_ptr self,
                                                catch_up_deps deps) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.log = log::get(log::subsystem::listeners);
  st.wait = st.deps.busy;
  auto cp = read_checkpoint(*st.deps.ctx.projections, st.deps.spec.name);
  if (cp && *cp)
    st.position = **cp;
  st.read_through = st.position;
  if (!cp)
    st.log->error("{}: reading its checkpoint: {}", st.deps.spec.name,
                  store::to_string(cp.error()));
  self->send(self, tick_atom::value);
  return {
      [self](tick_atom) {
        on_tick(self);
      },
  };
}

} // namespace switchboard
