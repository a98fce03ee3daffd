// The cluster actor's placement table and the moves of companies between
// members: the table's wire and store forms, taking a newer table (with
// the parked jobs it settles), the first table, loading it at start, and
// moving a company (its jobs parked, its events, settings and jobs sent a
// part at a time, then the owner switched) and storing what moves here.
// The rest of the actor is in actors/cluster.cpp.
#include "actors/cluster_detail.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <actors/listeners/catch_up.hpp>
#include <actors/log.hpp>
#include <store/audit_log.hpp>
#include <store/cluster_state.hpp>
#include <store/event_store.hpp>
#include <store/job_queue.hpp>
#include <store/outbox.hpp>
#include <store/processed.hpp>
#include <store/tenants.hpp>

namespace switchboard::cluster_detail {

namespace {

/// Runs `op` in the store writer's next commit (nested: all or nothing),
/// then `ok()` or `fail(error)` on this actor.
template <class Ok, class Fail>
void write(cluster_pointer self, store::writer::op_fn op, Ok ok, Fail fail) {
  self->request(self->state.deps.writer, caf::infinite, write_atom::value,
                make_write_op(std::move(op), store::isolation::nested))
      .then(
          [ok](ok_atom) mutable {
            ok();
          },
          [fail](caf::error& e) mutable {
            fail(e);
          });
}

/// Takes `company`'s parked jobs out of the store inside `txn` and, when
/// `enqueue`, puts them back (pending ones in the queues, failed ones
/// among the failed jobs; else they are dropped); returns how many went
/// to the queues.
store::result<std::size_t> settle_parked_in(store::write_txn& txn,
                                            store::cluster_state& cs,
                                            store::job_queue& q,
                                            const std::string& company,
                                            bool enqueue) {
  auto recs = cs.take_parked_in(txn, company);
  if (!recs)
    return make_unexpected(recs.error());
  if (!enqueue)
    return std::size_t{0};
  std::size_t enqueued = 0;
  for (const auto& r : *recs) {
    auto j = store::decode_job_record(r);
    if (!j)
      return make_unexpected(j.error());
    if (j->state == store::job_state::failed) {
      if (auto id = q.restore_failed_in(txn, *j); !id)
        return make_unexpected(id.error());
    } else if (auto e = q.enqueue_in(txn, *j); !e) {
      return make_unexpected(e.error());
    } else {
      ++enqueued;
    }
  }
  return enqueued;
}

/// Puts the parked jobs of `companies` back in the queues in one commit.
/// Then they are no longer parked, the queues wake and `then()` runs; when
/// the commit fails they stay parked and `fail(error)` runs.
void unpark(cluster_pointer self, std::vector<std::string> companies,
            std::function<void()> then, std::function<void(caf::error&)> fail) {
  auto* cs = self->state.deps.cluster_store;
  auto* q = self->state.deps.jobs;
  write(
      self,
      [cs, q, companies](store::write_txn& txn) -> store::result<void> {
        for (const auto& c : companies)
          if (auto n = settle_parked_in(txn, *cs, *q, c, true); !n)
            return make_unexpected(n.error());
        return {};
      },
      [self, companies, then] {
        for (const auto& c : companies)
          self->state.parked.erase(c);
        if (self->state.deps.wake_queues)
          self->state.deps.wake_queues();
        then();
      },
      fail);
}

store::placement_record to_record(const placement_table& t) {
  store::placement_record r;
  r.epoch = t.epoch;
  r.basis = t.basis;
  for (const auto& [company, member] : t.moved)
    r.moved.emplace_back(company, member);
  return r;
}

placement_table from_record(const store::placement_record& r) {
  placement_table t;
  t.epoch = r.epoch;
  t.basis = r.basis;
  for (const auto& [company, member] : r.moved)
    t.moved[company] = member;
  return t;
}

/// A sent message as it travels to the company's new owner: its fields
/// as JSON (its id is the sender's, and is given anew there).
std::string message_to_json(const store::outbound_message& m) {
  boost::json::object o{{"channel", m.channel},
                        {"recipient", m.recipient},
                        {"subject", m.subject},
                        {"body", m.body},
                        {"company_id", m.company_id},
                        {"event_id", m.event_id},
                        {"idempotency_key", m.idempotency_key},
                        {"created_at", m.created_at},
                        {"correlation_id", m.correlation_id},
                        {"causation_id", m.causation_id},
                        {"provider", m.provider},
                        {"provider_id", m.provider_id},
                        {"status", m.status},
                        {"status_at", m.status_at},
                        {"status_error", m.status_error}};
  return boost::json::serialize(o);
}

std::optional<store::outbound_message>
message_from_json(const std::string& text) {
  std::error_code ec;
  auto v = boost::json::parse(text, ec);
  auto* o = ec ? nullptr : v.if_object();
  if (o == nullptr)
    return std::nullopt;
  store::outbound_message m;
  auto str = [o](const char* k, std::string& out) {
    if (auto* p = o->if_contains(k); p != nullptr && p->is_string())
      out = std::string{p->get_string()};
  };
  auto num = [o](const char* k, timestamp_ms& out) {
    if (auto* p = o->if_contains(k); p != nullptr && p->is_int64())
      out = p->get_int64();
  };
  str("channel", m.channel);
  str("recipient", m.recipient);
  str("subject", m.subject);
  str("body", m.body);
  str("company_id", m.company_id);
  str("event_id", m.event_id);
  str("idempotency_key", m.idempotency_key);
  num("created_at", m.created_at);
  str("correlation_id", m.correlation_id);
  str("causation_id", m.causation_id);
  str("provider", m.provider);
  str("provider_id", m.provider_id);
  str("status", m.status);
  num("status_at", m.status_at);
  str("status_error", m.status_error);
  return m;
}

/// Visits `company`'s sent messages in id order (a scan of the outbox:
/// it is kept by id only).
template <class F>
store::result<void> each_message_of(const store::message_outbox& outbox,
                                    const std::string& company, F f) {
  for (std::uint64_t after = 0;;) {
    auto page = outbox.list(after, 1000);
    if (!page)
      return make_unexpected(page.error());
    if (page->empty())
      return {};
    after = page->back().id;
    for (const auto& m : *page)
      if (m.company_id == company)
        f(m);
  }
}

/// `company`'s sent messages, each as JSON.
store::result<std::vector<std::string>>
outbox_of(const store::message_outbox& outbox, const std::string& company) {
  std::vector<std::string> out;
  auto ok = each_message_of(outbox, company,
                            [&out](const store::outbound_message& m) {
                              out.push_back(message_to_json(m));
                            });
  if (!ok)
    return make_unexpected(ok.error());
  return out;
}

/// The idempotency keys of `company`'s messages stored here.
store::result<std::set<std::string>>
outbox_keys(const store::message_outbox& outbox, const std::string& company) {
  std::set<std::string> out;
  auto ok = each_message_of(outbox, company,
                            [&out](const store::outbound_message& m) {
                              out.insert(m.idempotency_key);
                            });
  if (!ok)
    return make_unexpected(ok.error());
  return out;
}

} // namespace

// -- placement ----------------------------------------------------------------

placement_table from_wire(const cluster_placement& p) {
  placement_table t;
  t.epoch = p.epoch;
  t.basis = p.basis;
  for (std::size_t i = 0; i + 1 < p.moved.size(); i += 2)
    t.moved[p.moved[i]] = p.moved[i + 1];
  return t;
}

cluster_placement to_wire(const placement_table& t) {
  cluster_placement p;
  p.epoch = t.epoch;
  p.basis = t.basis;
  for (const auto& [company, member] : t.moved) {
    p.moved.push_back(company);
    p.moved.push_back(member);
  }
  return p;
}

/// Stores table `t` and takes it, when it is newer than any stored; in
/// the same transaction the parked jobs of every company are settled: the
/// member `t` makes its owner enqueues them, any other drops them. Calls
/// `done(true)` once taken, `done(false)` when older or not stored.
void adopt_table(cluster_pointer self, placement_table t,
                 std::function<void(bool)> done) {
  auto& st = self->state;
  if (t.epoch <= st.stored_epoch || t.epoch <= st.deps.view->placement().epoch
      || st.deps.cluster_store == nullptr || st.deps.jobs == nullptr) {
    done(false);
    return;
  }
  st.stored_epoch = t.epoch;
  auto companies = std::vector<std::string>(st.parked.begin(), st.parked.end());
  auto* cs = st.deps.cluster_store;
  auto* q = st.deps.jobs;
  auto me = st.self_name;
  auto enqueued = std::make_shared<std::size_t>(0);
  auto rec = to_record(t);
  write(
      self,
      [cs, q, me, t, rec, companies,
       enqueued](store::write_txn& txn) -> store::result<void> {
        *enqueued = 0;
        if (auto ok = cs->set_placement_in(txn, rec); !ok)
          return ok;
        for (const auto& c : companies) {
          auto n = settle_parked_in(txn, *cs, *q, c, t.owner(c) == me);
          if (!n)
            return make_unexpected(n.error());
          *enqueued += *n;
        }
        return {};
      },
      [self, t, companies, enqueued, done]() {
        auto& st = self->state;
        for (const auto& c : companies)
          st.parked.erase(c);
        // The companies whose owner changed to or from this node: what it
        // holds of them in memory goes (only moved companies can change).
        auto before = st.deps.view->placement();
        auto owner_before = [&](const std::string& c) {
          return before.epoch == 0
                     ? rendezvous_owner(st.deps.view->members(), c)
                     : before.owner(c);
        };
        std::set<std::string> changed;
        using moves = std::map<std::string, std::string, std::less<>>;
        const moves* both[] = {&before.moved, &t.moved};
        for (const moves* m : both)
          for (const auto& [c, member] : *m)
            if (owner_before(c) != t.owner(c)
                && (owner_before(c) == st.self_name
                    || t.owner(c) == st.self_name))
              changed.insert(c);
        st.deps.view->adopt(t);
        if (st.deps.release_company)
          for (const auto& c : changed)
            st.deps.release_company(c);
        log::get(log::subsystem::cluster)
            ->info("placement table epoch {} taken ({} "
                   "compan{} moved; {} parked job(s) "
                   "enqueued)",
                   t.epoch, t.moved.size(), t.moved.size() == 1 ? "y" : "ies",
                   *enqueued);
        if (*enqueued > 0 && st.deps.wake_queues)
          st.deps.wake_queues();
        done(true);
      },
      [self, t, done](caf::error& e) {
        log::get(log::subsystem::cluster)
            ->warn("storing placement table epoch {}: {}", t.epoch,
                   self->system().render(e));
        done(false);
      });
}

/// Sends this node's table to the members that are up.
void send_placement(cluster_pointer self) {
  auto& st = self->state;
  auto wire = to_wire(st.deps.view->placement());
  send_to_up_members(self, placement_atom::value, wire);
}

/// The first table: once every member is up and none has one, each
/// writes the same (epoch 1, the hash over the configured members), so
/// that from then on adding a member moves nothing by itself.
void maybe_first_table(cluster_pointer self) {
  auto& st = self->state;
  if (st.deps.view->placement().epoch != 0 || st.stored_epoch != 0)
    return;
  for (const auto& [name, p] : st.peers)
    if (!p.up || !p.epoch_known || p.epoch != 0)
      return;
  placement_table t;
  t.epoch = 1;
  t.basis = st.deps.view->members();
  adopt_table(self, std::move(t), [self](bool ok) {
    if (ok)
      send_placement(self);
  });
}

// -- moving a company ---------------------------------------------------------

namespace {

/// Ends a move that did not switch the owner: the parked jobs go back to
/// the queues, the company's writes resume, and the caller gets `answer`.
void abort_move(cluster_pointer self, const std::string& company,
                forward_response answer) {
  auto& st = self->state;
  auto i = st.moves.find(company);
  if (i == st.moves.end())
    return;
  log::get(log::subsystem::cluster)
      ->warn("moving company {} to {} failed: {}", company, i->second.to,
             answer.body);
  auto finish = [self, company, answer]() mutable {
    auto& st = self->state;
    auto i = st.moves.find(company);
    if (i == st.moves.end())
      return;
    st.deps.view->unfreeze(company);
    i->second.rp.deliver(std::move(answer));
    st.moves.erase(i);
  };
  if (!i->second.jobs_taken) {
    finish();
    return;
  }
  unpark(self, {company}, finish,
         [self, company, finish](caf::error& e) mutable {
           // They stay parked; the next start of this node enqueues them
           // (it still owns the company).
           log::get(log::subsystem::cluster)
               ->error("putting back the jobs of {}: {}", company,
                       self->system().render(e));
           finish();
         });
}

/// The data is at the new owner: the new table (this node first, then
/// every member), and the answer.
void switch_owner(cluster_pointer self, const std::string& company) {
  auto& st = self->state;
  auto i = st.moves.find(company);
  if (i == st.moves.end())
    return;
  auto t = st.deps.view->placement();
  t.epoch = std::max(t.epoch, st.stored_epoch) + 1;
  if (rendezvous_owner(t.basis, company) == i->second.to)
    t.moved.erase(company);
  else
    t.moved[company] = i->second.to;
  adopt_table(self, t, [self, company, t](bool ok) {
    auto& st = self->state;
    auto i = st.moves.find(company);
    if (i == st.moves.end())
      return;
    if (!ok) {
      abort_move(self, company,
                 error_answer(503, "move_failed",
                              "the new placement table could not be stored "
                              "here; nothing moved"));
      return;
    }
    auto wire = to_wire(t);
    for (auto& [name, p] : st.peers)
      if (p.up)
        self->request(p.handle, std::chrono::seconds(10), adopt_atom::value,
                      p.link, wire)
            .then([](std::uint64_t) {},
                  [self, name = name](caf::error& e) {
                    // It gets the table with the next exchange.
                    log::get(log::subsystem::cluster)
                        ->warn("{} did not take the new "
                               "placement table yet: {}",
                               name, self->system().render(e));
                  });
    auto& m = i->second;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  steady::now() - m.started)
                  .count();
    log::get(log::subsystem::cluster)
        ->info("company {} moved to {} ({} events, {} jobs, "
               "{} settings, {} messages, {} ms; epoch {})",
               company, m.to, m.events, m.parked.size(), m.settings, m.messages,
               ms, t.epoch);
    st.deps.view->unfreeze(company);
    m.rp.deliver(json_answer(200, boost::json::object{{"company_id", company},
                                                      {"from", st.self_name},
                                                      {"to", m.to},
                                                      {"epoch", t.epoch},
                                                      {"events", m.events},
                                                      {"jobs", m.parked.size()},
                                                      {"settings", m.settings},
                                                      {"messages", m.messages},
                                                      {"ms", ms}}));
    st.moves.erase(i);
  });
}

} // namespace

/// One step of a move: wait for the writes in flight, take the jobs, send
/// the events a part at a time, then the settings and jobs, then switch.
void move_step(cluster_pointer self, const std::string& company) {
  auto& st = self->state;
  auto i = st.moves.find(company);
  if (i == st.moves.end())
    return;
  auto& m = i->second;
  auto again = [self, company](std::chrono::milliseconds d) {
    self->delayed_send(self, d, move_atom::value, self->state.deps.local_key,
                       company);
  };
  auto late = steady::now() - m.started > st.deps.move_drain_timeout;
  auto peer = st.peers.find(m.to);
  if (peer == st.peers.end() || !peer->second.up) {
    abort_move(self, company,
               error_answer(503, "member_down",
                            "member " + m.to + " went down; nothing moved"));
    return;
  }
  if (!m.jobs_taken) {
    if (st.deps.view->writes_in_flight(company) > 0) {
      if (late)
        abort_move(self, company,
                   error_answer(503, "move_timeout",
                                "writes of the company were still in flight "
                                "after the move's wait; nothing moved"));
      else
        again(std::chrono::milliseconds(10));
      return;
    }
    // What the catch-up listeners write for its events comes first.
    if (st.deps.readers_through) {
      if (!m.readers_target) {
        auto last = st.deps.events->last_sequence();
        if (!last) {
          abort_move(self, company,
                     error_answer(500, "move_failed",
                                  "reading the log's end: "
                                      + store::to_string(last.error())));
          return;
        }
        m.readers_target = *last;
      }
      auto through = st.deps.readers_through();
      if (!through || *through < *m.readers_target) {
        if (late)
          abort_move(self, company,
                     error_answer(503, "move_timeout",
                                  "the catch-up listeners had not read the "
                                  "company's events after the move's wait; "
                                  "nothing moved"));
        else
          again(std::chrono::milliseconds(50));
        return;
      }
    }
    log::get(log::subsystem::cluster)
        ->debug("taking the pending jobs of {}", company);
    // Its pending jobs leave the queues for the parked list, in one
    // transaction, once none of them runs.
    auto taken = std::make_shared<std::vector<std::string>>();
    auto running = std::make_shared<bool>(false);
    auto* cs = st.deps.cluster_store;
    auto* q = st.deps.jobs;
    write(
        self,
        [cs, q, company, taken,
         running](store::write_txn& txn) -> store::result<void> {
          taken->clear();
          auto jobs = q->take_company_in(txn, company);
          if (!jobs) {
            *running = jobs.error().code == store::errc::version_conflict;
            return make_unexpected(jobs.error());
          }
          for (const auto& j : *jobs)
            taken->push_back(store::encode_job_record(j));
          // Its failed jobs go along (they stay failed there). None of
          // its jobs runs, so none fails meanwhile: the last commit's
          // list is the list.
          for (std::uint64_t after = 0;;) {
            auto page = q->list_failed("", after, 1000);
            if (!page)
              return make_unexpected(page.error());
            if (page->empty())
              break;
            after = page->back().id;
            for (const auto& j : *page) {
              if (j.company_id != company)
                continue;
              if (auto ok = q->delete_failed_in(txn, j.id); !ok)
                return ok;
              taken->push_back(store::encode_job_record(j));
            }
          }
          // Stale ones of an earlier attempt go first.
          if (auto old = cs->take_parked_in(txn, company); !old)
            return make_unexpected(old.error());
          return cs->park_in(txn, company, *taken);
        },
        [self, company, taken]() {
          auto& st = self->state;
          auto i = st.moves.find(company);
          if (i == st.moves.end())
            return;
          st.parked.insert(company);
          i->second.parked = std::move(*taken);
          i->second.jobs_taken = true;
          move_step(self, company);
        },
        [self, company, running, late, again](caf::error& e) {
          if (*running && !late) {
            again(std::chrono::milliseconds(20));
            return;
          }
          abort_move(self, company,
                     error_answer(503,
                                  *running ? "move_timeout" : "move_failed",
                                  *running ? "jobs of the company were still "
                                             "running after the move's wait; "
                                             "nothing moved"
                                           : "taking the company's jobs: "
                                                 + self->system().render(e)));
        });
    return;
  }
  // A read of the company's data that fails ends the move: nothing moved.
  auto read_failed = [self, &company](const char* what, const auto& err) {
    abort_move(self, company,
               error_answer(500, "move_failed",
                            std::string{"reading the company's "} + what + ": "
                                + store::to_string(err)));
  };
  company_transfer tr;
  tr.company = company;
  constexpr std::size_t part_events = 500;
  auto events
      = st.deps.events->read_by_company(company, m.next_seq, part_events);
  if (!events) {
    read_failed("events", events.error());
    return;
  }
  if (!events->empty()) {
    m.next_seq = events->back().sequence + 1;
    tr.events = std::move(*events);
  } else {
    auto settings = st.deps.tenants->settings_of(company);
    if (!settings) {
      read_failed("settings", settings.error());
      return;
    }
    for (auto& [name, text] : *settings) {
      tr.settings.push_back(std::move(name));
      tr.settings.push_back(std::move(text));
    }
    m.settings = settings->size();
    tr.jobs = m.parked;
    if (st.deps.outbox != nullptr) {
      auto sent = outbox_of(*st.deps.outbox, company);
      if (!sent) {
        read_failed("messages", sent.error());
        return;
      }
      m.messages = sent->size();
      tr.outbox = std::move(*sent);
    }
    tr.last = true;
  }
  auto last = tr.last;
  log::get(log::subsystem::cluster)
      ->debug("sending {} events of {} to {}{}", tr.events.size(), company,
              m.to, last ? " (the last part)" : "");
  self->request(peer->second.handle, std::chrono::seconds(60),
                import_atom::value, peer->second.link, std::move(tr))
      .then(
          [self, company, last](std::uint64_t stored) {
            auto i = self->state.moves.find(company);
            if (i == self->state.moves.end())
              return;
            i->second.events += stored;
            if (last)
              switch_owner(self, company);
            else
              move_step(self, company);
          },
          [self, company](caf::error& e) {
            abort_move(self, company,
                       error_answer(503, "move_failed",
                                    "the new owner did not store the data: "
                                        + self->system().render(e)
                                        + "; nothing moved"));
          });
}

/// Stores a part of a company moving here (see `company_transfer`): its
/// events (those stored before are skipped, so a part sent again changes
/// nothing), then its settings and its jobs, parked until the placement
/// makes this node the owner.
void import_part(cluster_pointer self, company_transfer& tr,
                 caf::typed_response_promise<std::uint64_t> rp) {
  auto& st = self->state;
  const auto& company = tr.company;
  // A forget of the company here waits until the move is done with.
  st.deps.view->note_import(company);
  auto fresh = std::make_shared<std::vector<envelope>>();
  for (auto& e : tr.events) {
    if (e.company_id != company) {
      rp.deliver(caf::make_error(caf::sec::invalid_argument));
      return;
    }
    auto seq = st.deps.events->find_event(company, e.id);
    if (seq)
      continue;
    if (seq.error().code != store::errc::not_found) {
      rp.deliver(caf::make_error(caf::sec::runtime_error));
      return;
    }
    fresh->push_back(std::move(e));
  }
  // The jobs name their event by its sequence here, which the events'
  // earlier parts have set.
  auto jobs = std::make_shared<std::vector<std::string>>();
  for (const auto& r : tr.jobs) {
    auto j = store::decode_job_record(r);
    if (!j) {
      rp.deliver(caf::make_error(caf::sec::invalid_argument));
      return;
    }
    if (auto seq = st.deps.events->find_event(company, j->event_id))
      j->event_seq = *seq;
    jobs->push_back(store::encode_job_record(*j));
  }
  auto settings = std::make_shared<std::vector<std::string>>(tr.settings);
  // Its sent messages, but those stored here before (a part sent again).
  auto messages = std::make_shared<std::vector<store::outbound_message>>();
  if (tr.last && st.deps.outbox != nullptr && !tr.outbox.empty()) {
    auto known = outbox_keys(*st.deps.outbox, company);
    if (!known) {
      rp.deliver(caf::make_error(caf::sec::runtime_error));
      return;
    }
    for (const auto& text : tr.outbox) {
      auto msg = message_from_json(text);
      if (!msg || msg->company_id != company) {
        rp.deliver(caf::make_error(caf::sec::invalid_argument));
        return;
      }
      if (known->count(msg->idempotency_key) == 0)
        messages->push_back(std::move(*msg));
    }
  }
  auto* outbox = st.deps.outbox;
  auto last = tr.last;
  auto* es = st.deps.events;
  auto* audit = st.deps.audit;
  auto* tenants = st.deps.tenants;
  auto* cs = st.deps.cluster_store;
  auto* processed = st.deps.processed;
  auto n = fresh->size();
  write(
      self,
      [es, audit, tenants, cs, processed, fresh, jobs, settings, messages,
       outbox, last, company](store::write_txn& txn) -> store::result<void> {
        for (auto& e : *fresh) {
          std::vector<envelope> one{e};
          auto base = e.version > 0 ? e.version - 1 : 0;
          auto r
              = es->append_in(txn, one, store::expected_version::exact(base));
          if (!r)
            return make_unexpected(r.error());
          // Handled by the member it comes from (or by its moved jobs).
          if (processed != nullptr)
            if (auto ok = mark_brought_in_in(txn, *processed, e); !ok)
              return ok;
          if (audit != nullptr)
            if (auto ok = audit->record_in(txn, one.front()); !ok)
              return ok;
        }
        if (!last)
          return {};
        for (std::size_t i = 0; i + 1 < settings->size(); i += 2)
          if (auto ok = tenants->set_setting_in(txn, company, (*settings)[i],
                                                (*settings)[i + 1]);
              !ok)
            return ok;
        for (const auto& msg : *messages)
          if (auto id = outbox->add_in(txn, msg); !id)
            return make_unexpected(id.error());
        if (auto old = cs->take_parked_in(txn, company); !old)
          return make_unexpected(old.error());
        return cs->park_in(txn, company, *jobs);
      },
      [self, rp, n, last, company]() mutable {
        if (last)
          self->state.parked.insert(company);
        rp.deliver(static_cast<std::uint64_t>(n));
      },
      [self, rp, company](caf::error& e) mutable {
        log::get(log::subsystem::cluster)
            ->warn("storing a part of company {}: {}", company,
                   self->system().render(e));
        rp.deliver(std::move(e));
      });
}

/// At start: the stored table, and the parked jobs of companies this node
/// owns (a move that stopped before its switch) back in the queues.
void load_placement(cluster_pointer self) {
  auto& st = self->state;
  if (st.deps.cluster_store == nullptr)
    return;
  auto lg = log::get(log::subsystem::cluster);
  auto stored = st.deps.cluster_store->placement();
  if (!stored) {
    lg->error("reading the placement table: {}",
              store::to_string(stored.error()));
    return;
  }
  if (stored->epoch > 0) {
    st.stored_epoch = stored->epoch;
    st.deps.view->adopt(from_record(*stored));
    lg->info("placement table epoch {} ({} compan{} moved)", stored->epoch,
             stored->moved.size(), stored->moved.size() == 1 ? "y" : "ies");
  }
  auto parked = st.deps.cluster_store->parked_companies();
  if (!parked) {
    lg->error("reading the parked jobs: {}", store::to_string(parked.error()));
    return;
  }
  for (const auto& c : *parked)
    st.parked.insert(c);
  std::vector<std::string> mine;
  for (const auto& c : st.parked)
    if (st.deps.view->owner(c) == st.self_name)
      mine.push_back(c);
  if (mine.empty())
    return;
  unpark(
      self, mine,
      [mine] {
        for (const auto& c : mine)
          log::get(log::subsystem::cluster)
              ->info("the parked jobs of {} are back in the "
                     "queues (its move did not finish)",
                     c);
      },
      [self](caf::error& e) {
        log::get(log::subsystem::cluster)
            ->error("putting back parked jobs: {}", self->system().render(e));
      });
}

} // namespace switchboard::cluster_detail
