// `switchboard check`: the consistency of the store, read in one LMDB read
// transaction (a snapshot, so it runs while the daemon writes).

#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include <app/cli_common.hpp>
#include <store/codec.hpp>
#include <store/event_store.hpp>
#include <store/hex.hpp>
#include <store/job_queue.hpp>

namespace switchboard::app {

namespace {

constexpr const char* check_usage
    = R"(usage: switchboard check [--max-problems N] [--config FILE]
                         [--set section.key=value]...

Checks the consistency of the store and exits 1 when it finds problems:
  events       sequences 1..n without gaps (but those a `cluster forget`
               left); every record decodes and holds
               its own sequence
  streams      every stream's (company, aggregate type and id) events in
               the log have versions 1..v in order, none twice (an
               acknowledged event whose version its stream already has is
               missing from the stream); every stream's index entries are
               1..v without gaps, each entry points at an event of that
               stream and version, and every event up to the index's
               checkpoint is in exactly one stream (later ones may still
               be in the daemon's memory)
  tenancy      every stream's events are of one company: no event
               continues another company's stream of its id, and no index
               entry of a stream points at another company's event
  event_ids    every event id is indexed in its company, and every entry
               points at the event with that id
  by_type, by_time, by_company
               every event is indexed, and every entry points at an event
               with that type, time or company
  jobs         every job record decodes and has the index entry of its
               state (due, leased, failed); every index entry points at a
               job in that state and queue; unique keys point at live jobs
Reads one snapshot: it runs while the daemon writes.
)";

std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// The event_ids key of an id in key format 1: UUID text as a tag byte 1
/// and 16 bytes, anything else as a tag byte 0 and the id.
std::string id_key_v1(std::string_view id) {
  char uuid[16];
  if (store::parse_uuid(id, uuid))
    return std::string(1, '\1') + std::string(uuid, sizeof uuid);
  return std::string(1, '\0') + std::string{id};
}

/// The event_ids key of an id of `company`: UUID text as a tag byte 1 and
/// 16 bytes, anything else as a tag byte 0 and the id; then (key format 2
/// on) the company and its size in one byte (see store/event_store.cpp).
std::string id_key(std::string_view id, std::string_view company,
                   std::uint64_t format) {
  auto out = id_key_v1(id);
  if (format >= 2) {
    out.append(company);
    out += static_cast<char>(company.size());
  }
  return out;
}

/// What an event is indexed under.
struct event_facts {
  std::string id, type, company, agg_type, agg_id;
  timestamp_ms occurred_at = 0;
  std::uint64_t version = 0;
};

class checker {
public:
  checker(node_store& st, std::uint64_t max_problems)
      : st_(st), max_problems_(max_problems) {}

  int run() {
    auto txn = st_.env->begin_read();
    if (!txn) {
      std::cerr << "switchboard check: " << store::to_string(txn.error())
                << '\n';
      return 1;
    }
    t_ = txn->handle();
    if (auto format = st_.events->key_format(*txn); format)
      format_ = *format;
    else
      problem("checkpoints: " + store::to_string(format.error()));
    check_events();
    check_log_versions();
    check_streams();
    check_event_ids();
    check_name_index("by_type", [](const event_facts& f) {
      return f.type;
    });
    check_name_index("by_company", [](const event_facts& f) {
      return f.company;
    });
    check_by_time();
    check_jobs();
    if (problems_ == 0) {
      std::cout << "store is consistent: " << events_.size() << " event(s), "
                << jobs_ << " job(s)\n";
      return 0;
    }
    std::cout << problems_ << " problem(s) found\n";
    return 1;
  }

private:
  void problem(const std::string& what) {
    if (++problems_ <= max_problems_)
      std::cout << "problem: " << what << '\n';
  }

  MDB_dbi db(const char* name, unsigned flags = 0) {
    auto d = st_.env->open_db(name, flags);
    if (!d) {
      problem(std::string{"cannot open database "} + name + ": "
              + store::to_string(d.error()));
      return 0;
    }
    return *d;
  }

  /// Calls fn(key, value) for every entry of `dbi`.
  template <class F>
  void each(MDB_dbi dbi, const char* name, F fn) {
    MDB_cursor* c = nullptr;
    if (auto rc = mdb_cursor_open(t_, dbi, &c); rc != 0) {
      problem(std::string{"cursor on "} + name + ": " + mdb_strerror(rc));
      return;
    }
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
      fn(k, v);
    if (rc != MDB_NOTFOUND)
      problem(std::string{"reading "} + name + ": " + mdb_strerror(rc));
    mdb_cursor_close(c);
  }

  /// Whether every sequence of [from, to) is in a run a forget left
  /// (store/company_forget.hpp: events_forgotten, first → last).
  bool forgotten(const std::map<std::uint64_t, std::uint64_t>& runs,
                 std::uint64_t from, std::uint64_t to) const {
    while (from < to) {
      auto i = runs.upper_bound(from);
      if (i == runs.begin())
        return false;
      --i;
      if (i->second < from)
        return false;
      from = i->second + 1;
    }
    return true;
  }

  void check_events() {
    // Opened in the check's own transaction: only a forget creates it.
    std::map<std::uint64_t, std::uint64_t> runs;
    MDB_dbi forgotten_db = 0;
    if (auto rc = mdb_dbi_open(t_, "events_forgotten", 0, &forgotten_db);
        rc == 0)
      each(forgotten_db, "events_forgotten",
           [&](const MDB_val& k, const MDB_val& v) {
             if (k.mv_size != 8 || v.mv_size != 8) {
               problem("events_forgotten: an entry of the wrong size");
               return;
             }
             runs[store::get_be64(k.mv_data)] = store::get_be64(v.mv_data);
           });
    else if (rc != MDB_NOTFOUND)
      problem(std::string{"cannot open database events_forgotten: "}
              + mdb_strerror(rc));
    std::uint64_t expect = 1;
    each(db("events"), "events", [&](const MDB_val& k, const MDB_val& v) {
      if (k.mv_size != 8) {
        problem("events: key of " + std::to_string(k.mv_size) + " bytes");
        return;
      }
      auto seq = store::get_be64(k.mv_data);
      // A gap is a problem unless a forget of a company left it.
      if (seq != expect && !forgotten(runs, expect, seq))
        problem("events: sequence " + std::to_string(seq) + " follows "
                + std::to_string(expect - 1) + " (gap)");
      expect = seq + 1;
      auto view = store::decode_record(v.mv_data, v.mv_size);
      if (!view) {
        problem("events: record " + std::to_string(seq)
                + " does not decode: " + view.error().message);
        return;
      }
      if (view->sequence != seq)
        problem("events: record " + std::to_string(seq) + " says sequence "
                + std::to_string(view->sequence));
      events_[seq] = {std::string{view->id},
                      std::string{view->type},
                      std::string{view->company_id},
                      std::string{view->aggregate_type},
                      std::string{view->aggregate_id},
                      view->occurred_at,
                      view->version};
    });
  }

  /// Every stream's events (a stream is a company's), in log order, have
  /// versions 1, 2, 3...: an event whose version its stream has already
  /// (or that skips one) was appended by a writer that did not see the
  /// stream's head, as a second daemon on the same data directory would,
  /// and is missing from its stream (reads take one event per version).
  /// An event that skips to the version after another company's event of
  /// the same aggregate id was appended to that company's stream (as
  /// stores made before streams had a company allowed when two companies
  /// raced for one id): a stream whose events name more than one company.
  /// This holds for the whole log, also past the streams index's
  /// checkpoint.
  void check_log_versions() {
    struct head {
      std::uint64_t version = 0;
      std::uint64_t seq = 0;
    };
    struct last_event {
      bool any = false;
      std::string company;
      head at;
    };
    std::map<std::tuple<std::string, std::string, std::string>, head> heads;
    std::map<std::pair<std::string, std::string>, last_event> last_of_id;
    for (const auto& [seq, f] : events_) {
      auto& h = heads[{f.company, f.agg_type, f.agg_id}];
      auto& other = last_of_id[{f.agg_type, f.agg_id}];
      if (f.version > h.version + 1 && other.any && other.company != f.company
          && other.at.version + 1 == f.version) {
        problem("tenancy: stream " + f.agg_type + "/" + f.agg_id
                + " holds events of more than one company (" + other.company
                + " at event " + std::to_string(other.at.seq) + ", then "
                + f.company + " at event " + std::to_string(seq) + " v"
                + std::to_string(f.version) + ")");
      } else if (f.version != h.version + 1) {
        auto what = "streams: event " + std::to_string(seq) + " (" + f.agg_type
                    + "/" + f.agg_id + " v" + std::to_string(f.version) + ")";
        if (f.version <= h.version)
          problem(what + " repeats a version its stream has already (event "
                  + std::to_string(h.seq) + " is at v"
                  + std::to_string(h.version)
                  + "): it is missing from its stream; two writers "
                    "appended to one store");
        else
          problem(what + " follows v" + std::to_string(h.version) + " (event "
                  + std::to_string(h.seq)
                  + "): versions in between are missing");
      }
      if (f.version > h.version)
        h = {f.version, seq};
      other = {true, f.company, {f.version, seq}};
    }
  }

  /// The checkpoint of the streams database: the events it must hold.
  std::uint64_t streams_checkpoint(MDB_dbi streams) {
    auto cps = db("checkpoints");
    auto name = store::event_store::streams_checkpoint;
    MDB_val k{name.size(), const_cast<char*>(name.data())};
    MDB_val v;
    auto rc = mdb_get(t_, cps, &k, &v);
    if (rc == 0 && v.mv_size == 8)
      return store::get_be64(v.mv_data);
    if (rc == 0)
      problem("checkpoints: streams_index has a bad size");
    // None: a store whose streams database is written with every append
    // (complete when it has any entry), or an empty one.
    MDB_cursor* c = nullptr;
    MDB_val key, val;
    bool any = mdb_cursor_open(t_, streams, &c) == 0
               && mdb_cursor_get(c, &key, &val, MDB_FIRST) == 0;
    if (c != nullptr)
      mdb_cursor_close(c);
    return any && !events_.empty() ? events_.rbegin()->first : 0;
  }

  void check_streams() {
    auto streams = db("streams");
    auto through = streams_checkpoint(streams);
    std::set<std::uint64_t> seen;
    bool have_slot = false;
    std::uint64_t slot = 0, last_version = 0;
    std::string owner_company, owner_type, owner_id;
    each(streams, "streams", [&](const MDB_val& k, const MDB_val& v) {
      if (k.mv_size != 16 || v.mv_size != 8) {
        problem("streams: malformed entry");
        return;
      }
      auto s = store::get_be64(k.mv_data);
      auto version = store::get_be64(static_cast<const char*>(k.mv_data) + 8);
      auto seq = store::get_be64(v.mv_data);
      if (!have_slot || s != slot) {
        have_slot = true;
        slot = s;
        last_version = 0;
        owner_company.clear();
        owner_type.clear();
        owner_id.clear();
      }
      auto where = "streams: slot " + std::to_string(s) + " version "
                   + std::to_string(version);
      if (version != last_version + 1)
        problem(where + " follows version " + std::to_string(last_version)
                + " (not contiguous)");
      last_version = version;
      auto e = events_.find(seq);
      if (e == events_.end()) {
        problem(where + " points at missing event " + std::to_string(seq));
        return;
      }
      if (!seen.insert(seq).second)
        problem(where + ": event " + std::to_string(seq)
                + " is in a stream twice");
      if (e->second.version != version)
        problem(where + " points at event " + std::to_string(seq)
                + " of version " + std::to_string(e->second.version));
      if (owner_type.empty()) {
        owner_company = e->second.company;
        owner_type = e->second.agg_type;
        owner_id = e->second.agg_id;
      } else if (owner_type != e->second.agg_type
                 || owner_id != e->second.agg_id) {
        problem(where + " holds event " + std::to_string(seq) + " of "
                + e->second.agg_type + "/" + e->second.agg_id
                + ", not of the stream " + owner_type + "/" + owner_id);
      } else if (owner_company != e->second.company && format_ >= 2) {
        problem("tenancy: " + where + " holds event " + std::to_string(seq)
                + " of company " + e->second.company + ", not of the stream "
                + owner_type + "/" + owner_id + " of company " + owner_company);
      }
    });
    for (const auto& [seq, f] : events_)
      if (seq <= through && seen.count(seq) == 0)
        problem("streams: event " + std::to_string(seq) + " (" + f.agg_type
                + "/" + f.agg_id + " v" + std::to_string(f.version)
                + ") is in no stream");
  }

  void check_event_ids() {
    std::unordered_map<std::string, std::uint64_t> index;
    each(db("event_ids"), "event_ids", [&](const MDB_val& k, const MDB_val& v) {
      if (v.mv_size != 8) {
        problem("event_ids: malformed value");
        return;
      }
      index.emplace(std::string{as_view(k)}, store::get_be64(v.mv_data));
    });
    std::set<std::uint64_t> pointed;
    for (const auto& [key, seq] : index) {
      auto e = events_.find(seq);
      if (e == events_.end()) {
        problem("event_ids: an entry points at missing event "
                + std::to_string(seq));
        continue;
      }
      if (id_key(e->second.id, e->second.company, format_) != key)
        problem("event_ids: an entry points at event " + std::to_string(seq)
                + " whose id is " + e->second.id);
      pointed.insert(seq);
    }
    for (const auto& [seq, f] : events_) {
      auto i = index.find(id_key(f.id, f.company, format_));
      if (i == index.end())
        problem("event_ids: event " + std::to_string(seq) + " (id " + f.id
                + ") is not indexed");
      else if (i->second != seq)
        problem("event_ids: id " + f.id + " points at "
                + std::to_string(i->second) + ", not at "
                + std::to_string(seq));
    }
  }

  template <class Name>
  void check_name_index(const char* name, Name of) {
    std::set<std::uint64_t> indexed;
    each(db(name), name, [&](const MDB_val& k, const MDB_val&) {
      auto* p = static_cast<const unsigned char*>(k.mv_data);
      if (k.mv_size < 9 || std::size_t{p[0]} + 9 != k.mv_size) {
        problem(std::string{name} + ": malformed key");
        return;
      }
      std::string value(reinterpret_cast<const char*>(p + 1), p[0]);
      auto seq = store::get_be64(p + 1 + p[0]);
      auto e = events_.find(seq);
      if (e == events_.end()) {
        problem(std::string{name} + ": entry " + value
                + " points at missing event " + std::to_string(seq));
        return;
      }
      if (of(e->second) != value)
        problem(std::string{name} + ": entry " + value + " points at event "
                + std::to_string(seq) + " of " + of(e->second));
      indexed.insert(seq);
    });
    for (const auto& [seq, f] : events_)
      if (!of(f).empty() && indexed.count(seq) == 0)
        problem(std::string{name} + ": event " + std::to_string(seq) + " ("
                + of(f) + ") is not indexed");
  }

  void check_by_time() {
    std::set<std::uint64_t> indexed;
    each(db("by_time"), "by_time", [&](const MDB_val& k, const MDB_val&) {
      if (k.mv_size != 16) {
        problem("by_time: malformed key");
        return;
      }
      auto t = static_cast<timestamp_ms>(store::get_be64(k.mv_data)
                                         ^ (std::uint64_t{1} << 63));
      auto seq = store::get_be64(static_cast<const char*>(k.mv_data) + 8);
      auto e = events_.find(seq);
      if (e == events_.end()) {
        problem("by_time: an entry points at missing event "
                + std::to_string(seq));
        return;
      }
      if (e->second.occurred_at != t)
        problem("by_time: the entry of event " + std::to_string(seq)
                + " has the wrong time");
      indexed.insert(seq);
    });
    for (const auto& [seq, f] : events_)
      if (indexed.count(seq) == 0)
        problem("by_time: event " + std::to_string(seq) + " is not indexed");
  }

  void check_jobs() {
    // (queue, value bytes) of each index entry, by index.
    using entries = std::set<std::pair<std::string, std::string>>;
    std::map<store::job_state, entries> index;
    const std::pair<store::job_state, const char*> dbs[]
        = {{store::job_state::pending, "jobs_due"},
           {store::job_state::leased, "jobs_leased"},
           {store::job_state::failed, "jobs_failed"}};
    for (auto [state, name] : dbs)
      each(db(name, MDB_DUPSORT | MDB_DUPFIXED), name,
           [&, state = state](const MDB_val& k, const MDB_val& v) {
             index[state].emplace(std::string{as_view(k)},
                                  std::string{as_view(v)});
           });
    std::map<std::uint64_t, store::job> jobs;
    each(db("jobs"), "jobs", [&](const MDB_val& k, const MDB_val&) {
      if (k.mv_size != 8) {
        problem("jobs: malformed key");
        return;
      }
      auto id = store::get_be64(k.mv_data);
      auto j = st_.jobs->get(id);
      if (!j) {
        problem("jobs: job " + std::to_string(id)
                + " does not decode: " + j.error().message);
        return;
      }
      jobs.emplace(id, std::move(*j));
    });
    jobs_ = jobs.size();
    auto value_of = [](const store::job& j) {
      char buf[16];
      if (j.state == store::job_state::failed) {
        store::put_be64(buf, j.id);
        return std::string{buf, 8};
      }
      auto t = j.state == store::job_state::pending ? j.due_at : j.lease_until;
      store::put_be64(buf, store::order_preserving(t));
      store::put_be64(buf + 8, j.id);
      return std::string{buf, 16};
    };
    for (const auto& [id, j] : jobs) {
      auto& entries = index[j.state];
      auto i = entries.find({j.queue, value_of(j)});
      if (i == entries.end())
        problem("jobs: job " + std::to_string(id) + " (" + j.queue + ", "
                + store::to_string(j.state) + ") has no index entry");
      else
        entries.erase(i);
    }
    for (const auto& [state, left] : index)
      for (const auto& [queue, v] : left) {
        auto id = store::get_be64(v.data() + (v.size() == 16 ? 8 : 0));
        problem(std::string{"jobs: a "} + store::to_string(state)
                + " index entry of queue " + queue + " points at job "
                + std::to_string(id)
                + (jobs.count(id) > 0 ? " in another state or time"
                                      : ", which does not exist"));
      }
    each(db("jobs_unique"), "jobs_unique",
         [&](const MDB_val& k, const MDB_val& v) {
           auto key = std::string{as_view(k)};
           if (v.mv_size != 8) {
             problem("jobs_unique: malformed value for " + key);
             return;
           }
           auto id = store::get_be64(v.mv_data);
           auto j = jobs.find(id);
           if (j == jobs.end() || j->second.state == store::job_state::failed
               || j->second.unique_key != key)
             problem("jobs_unique: key " + key + " points at job "
                     + std::to_string(id)
                     + ", which is not a live job holding it");
         });
  }

  node_store& st_;
  std::uint64_t max_problems_;
  MDB_txn* t_ = nullptr;
  /// The key format of the store (store::event_store::key_format).
  std::uint64_t format_ = store::event_store::current_key_format;
  std::map<std::uint64_t, event_facts> events_;
  std::size_t jobs_ = 0;
  std::uint64_t problems_ = 0;
};

} // namespace

int run_check(const std::vector<std::string>& args) {
  auto a = cli::parse_tool_args("check", check_usage, args, {"--max-problems"},
                                {}, false);
  if (!a)
    return a.error();
  std::uint64_t max_problems = 100;
  if (!cli::read_uints("check", *a, {{"--max-problems", &max_problems}}))
    return 2;
  // No stream index rebuild: check reads the databases itself, and must
  // open a store whose log is damaged.
  auto st = cli::open_store("check", a->common, false);
  if (!st)
    return 1;
  return checker{*st, max_problems}.run();
}

} // namespace switchboard::app
