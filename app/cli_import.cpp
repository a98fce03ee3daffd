// `switchboard import FILE`: loads history (CloudEvents JSON lines, or the
// seed's Laravel `event_store` table as JSON lines or CSV) into the store,
// all of it or nothing, in one write transaction.
//
// It writes directly and only while no daemon holds the data directory: a
// running daemon keeps stream versions, calendars and read caches in
// memory, which a write it did not make would contradict, and a batch sent
// through HTTP one event at a time could not be refused as a whole. The
// import holds the directory's lock itself, so no daemon starts meanwhile.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <tuple>
#include <unistd.h>

#include <boost/json.hpp>

#include <actors/call_workflow.hpp>
#include <actors/listeners/catch_up.hpp>
#include <app/cli_common.hpp>
#include <app/data_lock.hpp>
#include <app/event_checks.hpp>
#include <app/import_formats.hpp>
#include <app/store_options.hpp>
#include <messages/id_check.hpp>
#include <messages/json.hpp>
#include <store/audit_log.hpp>
#include <store/event_store.hpp>
#include <store/processed.hpp>
#include <store/tenants.hpp>

namespace switchboard::app {

namespace json = boost::json;

namespace {

constexpr const char* import_usage
    = R"(usage: switchboard import FILE [--format cloudevents|laravel-jsonl|laravel-csv]
                         [--company ID] [--config FILE] [--set section.key=value]...

Loads events from FILE into the store: all of them, or none when one
record is bad (the first bad record is named by its line and field).
  --format   cloudevents    one CloudEvents 1.0 JSON object per line
             laravel-jsonl  the Laravel event_store table, one row per line
             laravel-csv    the same table as CSV with a header row
             (default: laravel-csv for *.csv, else by the first line)
  --company  the company of every record (else each record's own:
             the companyid extension, or data's company_id)
Laravel rows have the columns aggregate_type, aggregate_id, event_type
(a PHP class such as App\Events\AppointmentCreated, or a wire name),
event_data, metadata, version and occurred_at (UTC when without offset).
Running it again adds nothing: events already stored are skipped (by
event id; a Laravel row's id is derived from its company, stream and
version). Imported events run no listeners (no messages are sent); they
go into the audit log, and the analytics count them (the daemon reads
the log past its analytics checkpoint when it starts).
The daemon must be stopped: the import refuses a store that a daemon
holds, and holds the lock itself while it runs.
)";

/// Draws a progress bar on stderr when it is a terminal.
class progress {
public:
  progress(std::string what, std::size_t total)
      : what_(std::move(what)), total_(total), tty_(::isatty(2) == 1) {}

  void show(std::size_t done) {
    if (!tty_ || total_ == 0)
      return;
    auto pct = done * 100 / total_;
    if (pct == last_ && done != total_)
      return;
    last_ = pct;
    constexpr std::size_t width = 30;
    std::string bar(pct * width / 100, '#');
    bar.resize(width, ' ');
    std::cerr << '\r' << what_ << " [" << bar << "] " << pct << "% " << done
              << '/' << total_ << std::flush;
  }

  void end() {
    if (tty_ && total_ > 0)
      std::cerr << '\n';
  }

private:
  std::string what_;
  std::size_t total_;
  bool tty_;
  std::size_t last_ = 101;
};

int refuse(const std::string& file, const bad_record& bad, file_format fmt) {
  std::cerr << "switchboard import: " << file << " line " << bad.line;
  if (!bad.field.empty())
    std::cerr << ", field " << file_field(bad.field, fmt);
  std::cerr << ": " << bad.problem << "; nothing was imported\n";
  return 1;
}

} // namespace

int run_import(const std::vector<std::string>& args) {
  auto parsed = cli::parse_tool_args("import", import_usage, args,
                                     {"--format", "--company"}, {}, true,
                                     "expects one FILE\n");
  if (!parsed)
    return parsed.error();
  const auto& file = parsed->common.rest[0];
  std::ifstream in{file, std::ios::binary};
  if (!in) {
    std::cerr << "switchboard import: cannot read " << file << '\n';
    return 1;
  }
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  file_format fmt = file_format::laravel_jsonl;
  if (auto f = parsed->values.find("--format"); f != parsed->values.end()) {
    if (f->second == "cloudevents")
      fmt = file_format::cloudevents;
    else if (f->second == "laravel-csv")
      fmt = file_format::laravel_csv;
    else if (f->second != "laravel-jsonl") {
      std::cerr << "switchboard import: --format: unknown value " << f->second
                << " (cloudevents, laravel-jsonl, laravel-csv)\n";
      return 2;
    }
  } else if (file.size() > 4 && file.compare(file.size() - 4, 4, ".csv") == 0) {
    fmt = file_format::laravel_csv;
  } else if (text.find("\"specversion\"") < text.find('\n')) {
    fmt = file_format::cloudevents;
  }
  std::string company;
  if (auto c = parsed->values.find("--company"); c != parsed->values.end()) {
    company = c->second;
    if (auto bad = id_problem(company)) {
      std::cerr << "switchboard import: --company: " << *bad << '\n';
      return 2;
    }
  }
  auto records = read_records(text, fmt);
  if (!records)
    return refuse(file, records.error(), fmt);
  // The store, held against a daemon for the whole import.
  auto where = locate_store("import", parsed->common, false);
  if (!where)
    return where.error();
  auto lock = data_dir_lock::acquire(where->path);
  if (!lock) {
    std::cerr << "switchboard import: " << lock.error()
              << "; stop the daemon to import (the import writes the store "
                 "directly, all or nothing)\n";
    return 1;
  }
  auto opts = store_options(where->cfg);
  opts.path = where->path;
  auto opened = node_store::open(opts);
  if (!opened) {
    std::cerr << "switchboard import: cannot open the store at " << opts.path
              << ": " << opened.error() << '\n';
    return 1;
  }
  auto& st = **opened;
  const auto& es = *st.events;
  // Streams of this batch (a stream is a company's: company, type, id):
  // whether they exist (in the store or earlier in the batch) and their
  // version so far.
  struct stream_state {
    bool exists = false;
    std::uint64_t version = 0;
  };
  std::map<std::tuple<std::string, std::string, std::string>, stream_state>
      streams;
  auto stream_of = [&](std::string_view company, std::string_view type,
                       std::string_view id) -> store::result<stream_state*> {
    auto key = std::make_tuple(std::string{company}, std::string{type},
                               std::string{id});
    if (auto i = streams.find(key); i != streams.end())
      return &i->second;
    stream_state s;
    auto v = es.stream_version(company, type, id);
    if (!v)
      return make_unexpected(v.error());
    s.exists = *v > 0;
    s.version = *v;
    return &streams.emplace(key, std::move(s)).first->second;
  };
  // The company of the record being checked: references are looked up in
  // it.
  std::string record_company;
  owner_lookup owner_of
      = [&](std::string_view type,
            std::string_view id) -> store::result<std::string> {
    auto s = stream_of(record_company, type, id);
    if (!s)
      return make_unexpected(s.error());
    return (*s)->exists ? record_company : std::string{};
  };
  std::map<std::string, bool> companies; // known or not
  std::map<std::string, std::size_t> batch_ids;
  std::vector<std::size_t> to_write;
  std::size_t skipped = 0;
  progress check_bar{"checking", records->size()};
  for (std::size_t i = 0; i < records->size(); ++i) {
    check_bar.show(i);
    auto& rec = (*records)[i];
    auto& env = rec.env;
    auto bad = [&](std::string field, std::string problem) {
      check_bar.end();
      return refuse(file,
                    bad_record{rec.line, std::move(field), std::move(problem)},
                    fmt);
    };
    json::error_code ec;
    auto data_value = json::parse(env.data.empty() ? "null" : env.data, ec);
    if (ec || !data_value.is_object())
      return bad("data", "wrong_type: expects a JSON object");
    const auto& data = data_value.get_object();
    // The company: --company, else the record's own.
    auto own = env.company_id.empty() ? company_named_by(data) : env.company_id;
    if (!company.empty()) {
      if (!env.company_id.empty() && env.company_id != company)
        return bad("company_id", "invalid: " + env.company_id
                                     + " is not the --company " + company);
      env.company_id = company;
    } else if (own.empty()) {
      return bad("company_id", "missing: the record names no company (give "
                               "--company)");
    } else {
      env.company_id = own;
    }
    if (auto p = id_problem(env.company_id))
      return bad("company_id", *p);
    if (companies.count(env.company_id) == 0)
      companies[env.company_id]
          = static_cast<bool>(st.tenants->company(env.company_id));
    if (!companies[env.company_id])
      return bad("company_id", "unknown_value: no company " + env.company_id
                                   + " (add it with `switchboard tenant "
                                     "add`)");
    if (auto p = id_problem(env.aggregate_id))
      return bad("aggregate_id", *p);
    if (json_nesting(data_value) > max_data_depth)
      return bad("data", "invalid: nested deeper than "
                             + std::to_string(max_data_depth) + " levels");
    if (!rec.has_event_id)
      env.id = derived_id("import:" + env.company_id + ":" + env.aggregate_type
                          + "/" + env.aggregate_id + "#"
                          + std::to_string(rec.version));
    else if (auto p = id_problem(env.id))
      return bad("id", *p);
    if (env.metadata.source.empty())
      env.metadata.source = "import";
    event_problems errs;
    record_company = env.company_id;
    check_references(env, data, owner_of, errs);
    if (!errs.empty())
      return bad(errs.begin()->first, errs.begin()->second);
    if (auto ok = validate(env); !ok)
      return bad(ok.error().field.empty() ? "data" : ok.error().field,
                 ok.error().problem + ": " + ok.error().message);
    auto s = stream_of(env.company_id, env.aggregate_type, env.aggregate_id);
    if (!s)
      return bad("", "cannot read the store: " + to_string(s.error()));
    auto& stream = **s;
    // Event ids are per company, as streams are.
    auto batch_key = env.company_id + '\n' + env.id;
    if (auto dup = batch_ids.find(batch_key); dup != batch_ids.end())
      return bad(rec.has_event_id ? "id" : "version",
                 "duplicate: the same event as line "
                     + std::to_string(dup->second));
    batch_ids.emplace(std::move(batch_key), rec.line);
    // Stored before (a second run): skipped, when it is the same event.
    auto seq = es.find_event(env.company_id, env.id);
    if (seq) {
      auto prior = es.read_event(*seq);
      if (!prior)
        return bad("", "cannot read the store: " + to_string(prior.error()));
      if (prior->aggregate_type != env.aggregate_type
          || prior->aggregate_id != env.aggregate_id)
        return bad("id", "taken: another stream holds an event with this id");
      ++skipped;
      continue;
    }
    if (seq.error().code != store::errc::not_found)
      return bad("", "cannot read the store: " + to_string(seq.error()));
    if (rec.version != 0 && rec.version != stream.version + 1)
      return bad("version", "invalid: " + std::to_string(rec.version)
                                + " does not follow the stream's version "
                                + std::to_string(stream.version));
    stream.exists = true;
    rec.base_version = stream.version++;
    to_write.push_back(i);
  }
  check_bar.show(records->size());
  check_bar.end();
  // One write operation: every event or none.
  std::atomic<std::size_t> written{0};
  std::promise<store::result<void>> outcome;
  auto done = outcome.get_future();
  auto* events = st.events.get();
  auto* processed = st.processed.get();
  st.writer->submit(
      [&](store::write_txn& txn) -> store::result<void> {
        written = 0;
        for (auto i : to_write) {
          auto& env = (*records)[i].env;
          std::vector<envelope> one{env};
          auto r = events->append_in(
              txn, one,
              store::expected_version::exact((*records)[i].base_version));
          if (!r)
            return make_unexpected(r.error());
          // History: no message, reminder or sync for it again.
          if (auto ok = mark_brought_in_in(txn, *processed, env); !ok)
            return ok;
          ++written;
        }
        return {};
      },
      [&outcome](const store::result<void>& r) {
        outcome.set_value(r);
      },
      // A failure after some appends (the map cannot grow, the disk)
      // must take them back: a nested transaction, aborted on error.
      store::isolation::nested);
  progress write_bar{"writing", to_write.size()};
  while (done.wait_for(std::chrono::milliseconds(100))
         != std::future_status::ready)
    write_bar.show(written.load());
  auto r = done.get();
  if (r)
    write_bar.show(to_write.size());
  write_bar.end();
  if (!r) {
    std::cerr << "switchboard import: " << file
              << ": the write failed: " << to_string(r.error())
              << "; nothing was imported\n";
    return 1;
  }
  // The audit log takes in the audited ones now (the daemon would at its
  // start).
  if (auto caught = st.audit->catch_up(*st.writer); !caught)
    std::cerr << "switchboard import: the audit log will take the events in "
                 "when the daemon starts ("
              << to_string(caught.error()) << ")\n";
  st.writer->stop();
  std::cout << "imported " << to_write.size() << " events from " << file << " ("
            << skipped << " already stored, " << records->size()
            << " records)\n";
  return 0;
}

} // namespace switchboard::app
