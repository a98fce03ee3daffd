#pragma once

// What the forget tests share (tests/store/company_forget_test.cpp): two
// companies with events, audit records, jobs, messages, traces and the
// rest, written through the store's own modules, and readers of each.

#include "store/audit_log.hpp"
#include "store/cluster_state.hpp"
#include "store/company_forget.hpp"
#include "store/job_queue.hpp"
#include "store/lmdb_util.hpp"
#include "store/outbox.hpp"
#include "store/processed.hpp"
#include "store/projections.hpp"
#include "store/stats.hpp"
#include "store/tenants.hpp"
#include "store/traces.hpp"

#include "tests/store/fixture.hpp"

#include "tests/store/job_queue_blocking.hpp"
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace switchboard::store::test::forget {

using namespace switchboard;
using namespace switchboard::store;
using namespace switchboard::store::test;

constexpr timestamp_ms t0 = 1700000000000;
constexpr const char* queue_name = "notifications";
/// The minute of the minute buckets.
constexpr std::uint64_t minute = 28333333;
constexpr const char* gone_co = "acme";
/// Its id starts with the other's: no prefix of a key may take it along.
constexpr const char* kept_co = "acme-2";
/// An event id both companies have (event ids are per company).
constexpr const char* shared_id = "shared-event-id";

void test_refs(const envelope& e, std::vector<std::string>& out) {
  out.push_back("ref/" + e.company_id + "/" + e.aggregate_id);
}

void test_lists(const envelope& e, listing& out) {
  out.entries.emplace_back("list/" + e.company_id,
                           e.aggregate_type + "/" + e.aggregate_id);
}

std::uint64_t same_slot(std::string_view, std::string_view, std::string_view) {
  return 7;
}

/// What one company has in the store.
struct company_data {
  std::vector<envelope> events; ///< As stored.
  std::uint64_t ready_job = 0;
  std::uint64_t delayed_job = 0;
  std::uint64_t failed_job = 0;
  std::uint64_t acked_job = 0;
  std::vector<std::uint64_t> messages;
};

std::string projection_count(const std::string& company) {
  return "analytics/appointments/company=" + company + "/count";
}

std::string projection_slot(const std::string& company) {
  return "slots/company=" + company + "/staff=s1/2024-01-01T10:00:00Z";
}

struct forget_fixture : store_fixture {
  std::unique_ptr<job_queue> jobs;
  std::optional<processed_set> processed;
  std::unique_ptr<audit_log> audit;
  std::unique_ptr<projections> proj;
  std::unique_ptr<trace_index> traces;
  std::unique_ptr<message_outbox> outbox;
  std::unique_ptr<stats_store> stats;
  std::unique_ptr<cluster_state> cluster;
  std::unique_ptr<tenants> tenancy;
  std::map<std::string, company_data> data;
  int counter = 0;

  /// `index_batch` 1: the stream index is flushed by the next append.
  explicit forget_fixture(std::size_t index_batch = 1,
                          stream_hash_fn hash = nullptr) {
    cfg.refs = &test_refs;
    cfg.lists = &test_lists;
    cfg.stream_index_batch = index_batch;
    cfg.hash = hash;
    reopen_all();
  }

  ~forget_fixture() {
    w->stop();
    close_modules();
  }

  void close_modules() {
    tenancy.reset();
    cluster.reset();
    stats.reset();
    outbox.reset();
    traces.reset();
    proj.reset();
    audit.reset();
    processed.reset();
    jobs.reset();
  }

  void open_modules() {
    jobs = opened(job_queue::open(*env, *w));
    traces = opened(trace_index::open(*env));
    jobs->trace_into(traces.get());
    outbox = opened(message_outbox::open(*env));
    outbox->trace_into(traces.get());
    processed.emplace(opened(processed_set::open(*env)));
    audit = opened(audit_log::open(*env, *store, [](std::string_view) {
      return true;
    }));
    proj = opened(projections::open(*env));
    stats = opened(stats_store::open(*env));
    cluster = opened(cluster_state::open(*env));
    tenancy = opened(tenants::open(*env));
  }

  void reopen_all() {
    close_modules();
    reopen();
    open_modules();
  }

  /// Runs `f` as one writer operation.
  template <class T, class F>
  result<T> attempt(F f) {
    return job_detail::run_blocking<T>(*w, "test op", f);
  }

  template <class F>
  void run(F f) {
    auto r = attempt<bool>([&](write_txn& txn) -> result<bool> {
      if (auto ok = f(txn); !ok)
        return make_unexpected(ok.error());
      return true;
    });
    BOOST_REQUIRE_MESSAGE(r, why(r));
  }

  result<forget_counts> forget(const std::string& company,
                               forget_options opts = {}) {
    if (opts.hash == nullptr)
      opts.hash = cfg.hash;
    return attempt<forget_counts>([&](write_txn& txn) {
      return forget_company(txn, *env, company, opts);
    });
  }

  /// Appends an event of `company` to (`type`, `id`) as the dispatcher
  /// does: with its audit record and trace entry in the same commit.
  envelope add_event(const std::string& company, const std::string& type,
                     const std::string& id, const std::string& event_id = {}) {
    auto e = make_event(type, id, "appointment.created", company,
                        t0 + 1000 * ++counter);
    if (!event_id.empty())
      e.id = event_id;
    e.metadata.correlation_id
        = "corr-" + company + "-" + std::to_string(counter);
    auto stored = attempt<envelope>([&](write_txn& txn) -> result<envelope> {
      std::vector<envelope> v{e};
      auto seqs = store->append_in(txn, v, expected_version::any());
      if (!seqs)
        return make_unexpected(seqs.error());
      if (auto ok = audit->record_in(txn, v[0]); !ok)
        return make_unexpected(ok.error());
      auto prefix = trace_index::event_prefix(v[0].metadata.correlation_id);
      if (auto ok
          = traces->event_in(txn.handle(), prefix, company, v[0].sequence);
          !ok)
        return make_unexpected(ok.error());
      return v[0];
    });
    BOOST_REQUIRE_MESSAGE(stored, why(stored));
    data[company].events.push_back(*stored);
    return *stored;
  }

  static job make_job(const envelope& ev, timestamp_ms due,
                      std::string unique = {}) {
    job j;
    j.queue = queue_name;
    j.listener = "send_confirmation";
    j.event_id = ev.id;
    j.event_seq = ev.sequence;
    j.event_type = ev.type;
    j.company_id = ev.company_id;
    j.correlation_id = ev.metadata.correlation_id;
    j.created_at = t0;
    j.due_at = due;
    j.max_tries = 1;
    j.unique_key = std::move(unique);
    j.payload = "{}";
    return j;
  }

  std::uint64_t enqueue(const job& j) {
    return enqueue_new(*jobs, j);
  }

  /// Events of both companies, interleaved (each company's six events in
  /// three streams), then the rest of what a company has.
  void populate() {
    struct step {
      const char* type;
      const char* id;
    };
    const step steps[] = {{"appointment", "apt-1"}, {"appointment", "apt-1"},
                          {"customer", "cus-1"},    {"appointment", "apt-2"},
                          {"appointment", "apt-1"}, {"customer", "cus-1"}};
    bool first = true;
    for (const auto& s : steps) {
      for (const char* c : {gone_co, kept_co})
        add_event(c, s.type, s.id, first ? shared_id : "");
      first = false;
    }
    // The last event flushes the stream index past the other company's.
    add_event(kept_co, "customer", "cus-2");
    // Jobs: one acknowledged and one failed of each company (leased
    // together), then a ready and a delayed one.
    for (const char* c : {gone_co, kept_co}) {
      auto& d = data[c];
      d.acked_job = enqueue(make_job(d.events[1], t0));
      d.failed_job = enqueue(make_job(d.events[2], t0));
    }
    auto leased = test::lease(*jobs, queue_name, t0, 10, t0 + 60000);
    BOOST_REQUIRE_MESSAGE(leased, why(leased));
    BOOST_REQUIRE_EQUAL(leased->size(), 4u);
    for (const char* c : {gone_co, kept_co}) {
      auto& d = data[c];
      BOOST_REQUIRE(test::ack(*jobs, d.acked_job));
      BOOST_REQUIRE(test::fail(*jobs, d.failed_job, "no", t0 + 10));
      d.ready_job = enqueue(make_job(d.events[0], t0, std::string{c} + "-u"));
      d.delayed_job = enqueue(make_job(d.events[3], t0 + 3600000));
    }
    for (const char* c : {gone_co, kept_co}) {
      std::string company = c;
      auto& d = data[c];
      run([&](write_txn& txn) -> result<void> {
        for (int i = 0; i < 2; ++i) {
          auto m = sms_message(company, "+4912345", "hello");
          m.event_id = d.events[i].id;
          m.created_at = t0;
          m.correlation_id = d.events[i].metadata.correlation_id;
          if (i == 1) {
            m.provider = "twilio";
            m.provider_id = "SM-" + company;
          }
          auto id = outbox->add_in(txn, m);
          if (!id)
            return make_unexpected(id.error());
          d.messages.push_back(*id);
        }
        for (const auto& e : d.events)
          for (const char* listener : {"send_notification", "audit_logger"})
            if (auto r = processed->mark_in(txn, company, listener, e.id); !r)
              return make_unexpected(r.error());
        if (auto r = proj->add_in(txn, projection_count(company), 6); !r)
          return r;
        if (auto r = proj->put_in(txn, projection_slot(company), "apt-1"); !r)
          return r;
        minute_bucket b;
        b.minute = minute;
        b.kind = stats_kind::event;
        b.name = "appointment.created";
        b.company = company;
        b.count = 6;
        if (auto r = stats->add_in(txn, {b}); !r)
          return r;
        if (auto r = cluster->park_in(txn, company, {"parked-" + company}); !r)
          return r;
        company_record rec;
        rec.id = company;
        rec.name = company;
        rec.created_at = t0;
        if (auto r = tenancy->add_company_in(txn, rec); !r)
          return r;
        if (auto r = tenancy->set_setting_in(txn, company, "greeting", "hi");
            !r)
          return r;
        if (auto r = tenancy->issue_token_in(txn, company, false, t0); !r)
          return make_unexpected(r.error());
        return {};
      });
    }
    // The node's own series beside the companies'.
    run([&](write_txn& txn) -> result<void> {
      if (auto r = proj->add_in(txn, "analytics/node/count", 12); !r)
        return r;
      minute_bucket b;
      b.minute = minute;
      b.kind = stats_kind::event;
      b.name = "appointment.created";
      b.count = 12;
      return stats->add_in(txn, {b});
    });
  }

  /// What a forget of `company` must return after populate().
  forget_counts expected_counts(const std::string& company) {
    const auto& d = data[company];
    forget_counts n;
    n.events = d.events.size();
    n.audit = d.events.size();
    n.jobs = 3 + 1; // ready, delayed, failed; one parked
    n.outbox = d.messages.size();
    // An entry per event, job (the acknowledged one's end too) and
    // message.
    n.traces = d.events.size() + 4 + 1 + d.messages.size();
    // Marks of two listeners (the shared id's too: a mark is the
    // company's), two projection entries, a minute bucket, a row of job
    // counters.
    n.other = 2 * d.events.size() + 2 + 1 + 1;
    return n;
  }

  void check_counts(const forget_counts& got, const forget_counts& want) {
    BOOST_TEST(got.events == want.events);
    BOOST_TEST(got.audit == want.audit);
    BOOST_TEST(got.jobs == want.jobs);
    BOOST_TEST(got.outbox == want.outbox);
    BOOST_TEST(got.traces == want.traces);
    BOOST_TEST(got.other == want.other);
  }

  template <class T>
  static bool not_found(const result<T>& r) {
    return !r && r.error().code == errc::not_found;
  }

  void check_gone(const std::string& company) {
    const auto& d = data[company];
    for (const auto& e : d.events) {
      BOOST_TEST(not_found(store->read_event(e.sequence)));
      BOOST_TEST(not_found(store->find_event(company, e.id)));
      // The company's marks go, those of an event of another company
      // with the same id stay (check_intact).
      auto marked = processed->contains(company, "send_notification", e.id);
      BOOST_REQUIRE(marked);
      BOOST_TEST(!*marked);
      auto t = traces->read(
          e.metadata.correlation_id,
          [](std::string_view) {
            return true;
          },
          100);
      BOOST_REQUIRE_MESSAGE(t, why(t));
      BOOST_TEST(t->event_seqs.empty());
      BOOST_TEST(t->jobs.empty());
      BOOST_TEST(t->message_ids.empty());
    }
    const std::pair<const char*, const char*> streams[]
        = {{"appointment", "apt-1"},
           {"appointment", "apt-2"},
           {"customer", "cus-1"}};
    for (auto [type, id] : streams) {
      auto s = store->read_stream(company, type, id, 1, 100);
      BOOST_REQUIRE_MESSAGE(s, why(s));
      BOOST_TEST(s->empty());
      auto v = store->stream_version(company, type, id);
      BOOST_REQUIRE_MESSAGE(v, why(v));
      BOOST_TEST(*v == 0u);
      auto m = audit->by_model(company, type, id, 0, 100);
      BOOST_REQUIRE_MESSAGE(m, why(m));
      BOOST_TEST(m->empty());
    }
    auto by = store->read_by_company(company, 1, 1000);
    BOOST_REQUIRE_MESSAGE(by, why(by));
    BOOST_TEST(by->empty());
    by = store->read_by_company_before(company, UINT64_MAX, 1000);
    BOOST_REQUIRE_MESSAGE(by, why(by));
    BOOST_TEST(by->empty());
    by = store->read_by(event_index::ref, "ref/" + company + "/apt-1", 1, 100);
    BOOST_REQUIRE_MESSAGE(by, why(by));
    BOOST_TEST(by->empty());
    auto list = store->read_list("list/" + company, "", "", 100);
    BOOST_REQUIRE_MESSAGE(list, why(list));
    BOOST_TEST(list->empty());
    auto none_of = [&](const result<std::vector<envelope>>& r) {
      BOOST_REQUIRE_MESSAGE(r, why(r));
      for (const auto& e : *r)
        BOOST_TEST(e.company_id != company);
    };
    none_of(store->read_all(1, 1000));
    none_of(store->read_by(event_index::type, "appointment.created", 1, 1000));
    none_of(store->read_by_time(std::numeric_limits<timestamp_ms>::min(),
                                std::numeric_limits<timestamp_ms>::max(), 0,
                                1000));
    auto recs = audit->by_company(company, 0, 100);
    BOOST_REQUIRE_MESSAGE(recs, why(recs));
    BOOST_TEST(recs->empty());
    for (auto id : {d.ready_job, d.delayed_job, d.failed_job, d.acked_job})
      BOOST_TEST(not_found(jobs->get(id)));
    auto failed = jobs->list_failed("", 0, 100);
    BOOST_REQUIRE_MESSAGE(failed, why(failed));
    for (const auto& j : *failed)
      BOOST_TEST(j.company_id != company);
    auto counts = jobs->company_counts(queue_name, company, t0);
    BOOST_REQUIRE_MESSAGE(counts, why(counts));
    BOOST_TEST(counts->ready + counts->delayed + counts->leased + counts->failed
               == 0u);
    auto rows = jobs->counters(queue_name, company);
    BOOST_REQUIRE_MESSAGE(rows, why(rows));
    BOOST_TEST(rows->empty());
    auto heads = jobs->pending_heads();
    BOOST_REQUIRE_MESSAGE(heads, why(heads));
    for (const auto& h : *heads)
      BOOST_TEST(h.company_id != company);
    for (auto id : d.messages)
      BOOST_TEST(not_found(outbox->get(id)));
    auto msgs = outbox->list(0, 100);
    BOOST_REQUIRE_MESSAGE(msgs, why(msgs));
    for (const auto& m : *msgs)
      BOOST_TEST(m.company_id != company);
    auto sid = attempt<outbound_message>([&](write_txn& txn) {
      return outbox->find_in(txn, "twilio", "SM-" + company);
    });
    BOOST_TEST(not_found(sid));
    auto n = proj->counter(projection_count(company));
    BOOST_REQUIRE_MESSAGE(n, why(n));
    BOOST_TEST(*n == 0);
    BOOST_TEST(not_found(proj->get(projection_slot(company))));
    auto buckets = stats->range(0, UINT64_MAX, 100, company);
    BOOST_REQUIRE_MESSAGE(buckets, why(buckets));
    BOOST_TEST(buckets->empty());
    auto parked = cluster->parked_companies();
    BOOST_REQUIRE_MESSAGE(parked, why(parked));
    BOOST_TEST(std::count(parked->begin(), parked->end(), company) == 0);
    check_tenancy(company);
  }

  /// The company itself is the cluster's: its tenancy stays.
  void check_tenancy(const std::string& company) {
    auto rec = tenancy->company(company);
    BOOST_TEST_REQUIRE(rec.has_value());
    BOOST_TEST(rec->name == company);
    auto s = tenancy->setting(company, "greeting");
    BOOST_REQUIRE_MESSAGE(s, why(s));
    BOOST_TEST(*s == "hi");
    auto tokens = tenancy->tokens(company);
    BOOST_REQUIRE_MESSAGE(tokens, why(tokens));
    BOOST_TEST(tokens->size() == 1u);
  }

  void check_intact(const std::string& company) {
    const auto& d = data[company];
    for (const auto& e : d.events) {
      auto got = store->read_event(e.sequence);
      BOOST_REQUIRE_MESSAGE(got, why(got));
      BOOST_TEST(got->id == e.id);
      auto seq = store->find_event(company, e.id);
      BOOST_REQUIRE_MESSAGE(seq, why(seq));
      BOOST_TEST(*seq == e.sequence);
      for (const char* listener : {"send_notification", "audit_logger"}) {
        auto marked = processed->contains(company, listener, e.id);
        BOOST_REQUIRE(marked);
        BOOST_TEST(*marked);
      }
    }
    auto stream = store->read_stream(company, "appointment", "apt-1", 1, 100);
    BOOST_REQUIRE_MESSAGE(stream, why(stream));
    BOOST_REQUIRE_EQUAL(stream->size(), 3u);
    for (std::size_t i = 0; i < 3; ++i)
      BOOST_TEST((*stream)[i].version == i + 1);
    BOOST_TEST((*stream)[0].id == shared_id);
    auto v = store->stream_version(company, "customer", "cus-1");
    BOOST_REQUIRE_MESSAGE(v, why(v));
    BOOST_TEST(*v == 2u);
    auto by = store->read_by_company(company, 1, 1000);
    BOOST_REQUIRE_MESSAGE(by, why(by));
    BOOST_TEST(by->size() == d.events.size());
    by = store->read_by(event_index::ref, "ref/" + company + "/apt-1", 1, 100);
    BOOST_REQUIRE_MESSAGE(by, why(by));
    BOOST_TEST(by->size() == 3u);
    auto list = store->read_list("list/" + company, "", "", 100);
    BOOST_REQUIRE_MESSAGE(list, why(list));
    BOOST_TEST(list->size() >= 3u);
    auto recs = audit->by_company(company, 0, 100);
    BOOST_REQUIRE_MESSAGE(recs, why(recs));
    BOOST_TEST(recs->size() == d.events.size());
    auto model = audit->by_model(company, "appointment", "apt-1", 0, 100);
    BOOST_REQUIRE_MESSAGE(model, why(model));
    BOOST_TEST(model->size() == 3u);
    for (auto id : {d.ready_job, d.delayed_job, d.failed_job}) {
      auto j = jobs->get(id);
      BOOST_REQUIRE_MESSAGE(j, why(j));
      BOOST_TEST(j->company_id == company);
    }
    auto counts = jobs->company_counts(queue_name, company, t0);
    BOOST_REQUIRE_MESSAGE(counts, why(counts));
    BOOST_TEST(counts->ready == 1u);
    BOOST_TEST(counts->delayed == 1u);
    BOOST_TEST(counts->failed == 1u);
    auto rows = jobs->counters(queue_name, company);
    BOOST_REQUIRE_MESSAGE(rows, why(rows));
    BOOST_REQUIRE_EQUAL(rows->size(), 1u);
    BOOST_TEST((*rows)[0].processed == 1u);
    BOOST_TEST((*rows)[0].failed == 1u);
    for (auto id : d.messages) {
      auto m = outbox->get(id);
      BOOST_REQUIRE_MESSAGE(m, why(m));
      BOOST_TEST(m->company_id == company);
    }
    auto sid = attempt<outbound_message>([&](write_txn& txn) {
      return outbox->find_in(txn, "twilio", "SM-" + company);
    });
    BOOST_REQUIRE_MESSAGE(sid, why(sid));
    BOOST_TEST(sid->id == d.messages[1]);
    auto t = traces->read(
        d.events[1].metadata.correlation_id,
        [](std::string_view) {
          return true;
        },
        100);
    BOOST_REQUIRE_MESSAGE(t, why(t));
    BOOST_TEST(t->event_seqs.size() == 1u);
    BOOST_TEST(t->jobs.size() == 1u); // the acknowledged one
    BOOST_TEST(t->message_ids.size() == 1u);
    auto n = proj->counter(projection_count(company));
    BOOST_REQUIRE_MESSAGE(n, why(n));
    BOOST_TEST(*n == 6);
    auto slot = proj->get(projection_slot(company));
    BOOST_REQUIRE_MESSAGE(slot, why(slot));
    auto buckets = stats->range(0, UINT64_MAX, 100, company);
    BOOST_REQUIRE_MESSAGE(buckets, why(buckets));
    BOOST_TEST(buckets->size() == 1u);
    auto parked = cluster->parked_companies();
    BOOST_REQUIRE_MESSAGE(parked, why(parked));
    BOOST_TEST(std::count(parked->begin(), parked->end(), company) == 1);
    check_tenancy(company);
  }

  /// The node's own series are no company's.
  void check_node_series() {
    auto n = proj->counter("analytics/node/count");
    BOOST_REQUIRE_MESSAGE(n, why(n));
    BOOST_TEST(*n == 12);
    auto buckets = stats->range(0, minute + 1, 100);
    BOOST_REQUIRE_MESSAGE(buckets, why(buckets));
    BOOST_TEST(buckets->size() == 1u);
  }

  /// The value of `key` in jobs_meta; none when absent.
  std::optional<std::string> job_meta(const std::string& key) {
    auto dbi = env->open_db("jobs_meta");
    BOOST_REQUIRE_MESSAGE(dbi, why(dbi));
    auto rtxn = env->begin_read();
    BOOST_REQUIRE_MESSAGE(rtxn, why(rtxn));
    auto k = as_val(key);
    MDB_val v;
    if (mdb_get(rtxn->handle(), *dbi, &k, &v) != 0)
      return std::nullopt;
    return std::string{as_view(v)};
  }

  /// The runs of forgotten sequences (database events_forgotten).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> forgotten_runs() {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
    auto dbi = env->open_db("events_forgotten");
    BOOST_REQUIRE_MESSAGE(dbi, why(dbi));
    auto rtxn = env->begin_read();
    BOOST_REQUIRE_MESSAGE(rtxn, why(rtxn));
    cursor_guard c;
    BOOST_REQUIRE(mdb_cursor_open(rtxn->handle(), *dbi, &c.c) == 0);
    MDB_val k, v;
    auto rc = mdb_cursor_get(c.c, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(c.c, &k, &v, MDB_NEXT))
      out.emplace_back(get_be64(k.mv_data), get_be64(v.mv_data));
    return out;
  }
};

struct offline_fixture : forget_fixture {
  /// The stream index stays in memory (no flush).
  offline_fixture() : forget_fixture(65536) {}

  /// Forgets `company` as an offline tool does: with the modules and the
  /// event store closed, so that no stream index lives in memory.
  result<forget_counts> forget_offline(const std::string& company) {
    close_modules();
    store.reset();
    forget_options offline;
    offline.live_stream_index = false;
    return forget(company, offline);
  }
};

struct colliding_fixture : forget_fixture {
  /// Every stream hashes to one slot: each takes the next free one.
  colliding_fixture() : forget_fixture(1, &same_slot) {}
};

std::vector<std::uint64_t> sequences(const result<std::vector<envelope>>& r) {
  std::vector<std::uint64_t> out;
  if (r)
    for (const auto& e : *r)
      out.push_back(e.sequence);
  return out;
}

} // namespace switchboard::store::test::forget
