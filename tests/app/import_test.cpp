// `switchboard import` against the real binary and store: the seed's
// Laravel event_store table (CSV and JSON lines) and CloudEvents lines
// round-trip through the API, a bad record stops the whole batch naming
// its line and field, a second run adds nothing, and a store a daemon
// holds is refused.

#include <fstream>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"

namespace {

/// A CSV field: quoted, quotes doubled.
std::string csv_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + '"';
}

/// One row of the seed's event_store table.
struct seed_row {
  std::string aggregate_type;
  std::string aggregate_id;
  int version;
  std::string event_type;
  json::object event_data;
  std::string metadata; ///< JSON text, may span lines.
  std::string occurred_at;
};

json::object appointment(const std::string& id, const std::string& customer,
                         const std::string& start, const std::string& end,
                         const std::string& notes = "") {
  return {{"id", id},
          {"company_id", "acme"},
          {"branch_id", ""},
          {"service_id", "s-i"},
          {"staff_id", "st-i"},
          {"customer_id", customer},
          {"start_time", start},
          {"end_time", end},
          {"status", "scheduled"},
          {"price_cents", 4500},
          {"notes", notes}};
}

/// The seed's table for acme: a customer (whose name holds a comma and
/// quotes), a service, a staff member, an appointment booked and moved.
std::vector<seed_row> seed_rows(const std::string& customer = "cu-i") {
  return {
      {"App\\Models\\Customer",
       "cu-i",
       1,
       "App\\Events\\CustomerCreated",
       {{"customer",
         {{"id", "cu-i"},
          {"company_id", "acme"},
          {"name", "Ida \"Imported\", Sr."},
          {"phone", "+4930777"}}},
        {"source", "import"}},
       "{\n  \"user_id\": \"u7\",\n  \"ip_address\": \"10.1.2.3\"\n}",
       "2024-01-15 10:30:00"},
      {"Service",
       "s-i",
       1,
       "App\\Events\\ServiceUpdated",
       {{"service",
         {{"id", "s-i"},
          {"company_id", "acme"},
          {"name", "Cut, wash"},
          {"price_cents", 4500},
          {"duration_minutes", 30}}}},
       "{}",
       "2024-01-15 10:31:00"},
      {"staff",
       "st-i",
       1,
       "App\\Events\\StaffUpdated",
       {{"staff",
         {{"id", "st-i"},
          {"company_id", "acme"},
          {"name", "Stan"},
          {"active", true}}}},
       "",
       "2024-01-15T10:32:00Z"},
      {"Appointment",
       "ap-i",
       1,
       "App\\Events\\AppointmentCreated",
       {{"appointment",
         appointment("ap-i", customer, "2024-02-01T09:00:00Z",
                     "2024-02-01T09:30:00Z", "first, \"quoted\" visit")},
        {"source", "web"}},
       "NULL",
       "2024-01-16 08:00:00"},
      {"Appointment",
       "ap-i",
       2,
       "App\\Events\\AppointmentUpdated",
       {{"appointment",
         appointment("ap-i", customer, "2024-02-01T10:00:00Z",
                     "2024-02-01T10:30:00Z", "first, \"quoted\" visit")},
        {"changes",
         {{"start_time",
           {{"old", "2024-02-01T09:00:00Z"},
            {"new", "2024-02-01T10:00:00Z"}}}}}},
       "{\"user_id\":\"u8\"}",
       "2024-01-17 08:00:00"},
  };
}

/// The table as a MySQL-style CSV export, with the seed's own id column.
std::string as_csv(const std::vector<seed_row>& rows) {
  std::string out = "id,aggregate_id,aggregate_type,version,event_type,"
                    "event_data,metadata,occurred_at\n";
  int id = 1;
  for (const auto& r : rows)
    out += std::to_string(id++) + "," + r.aggregate_id + ","
           + csv_quote(r.aggregate_type) + "," + std::to_string(r.version) + ","
           + csv_quote(r.event_type) + ","
           + csv_quote(json::serialize(r.event_data)) + ","
           + csv_quote(r.metadata) + "," + r.occurred_at + "\r\n";
  return out;
}

/// The table as JSON lines (event_data and metadata as JSON values, or
/// as the JSON text a json column exports to).
std::string as_jsonl(const std::vector<seed_row>& rows, bool data_as_text) {
  std::string out;
  for (const auto& r : rows) {
    json::object o{{"aggregate_type", r.aggregate_type},
                   {"aggregate_id", r.aggregate_id},
                   {"version", r.version},
                   {"event_type", r.event_type},
                   {"occurred_at", r.occurred_at}};
    if (data_as_text)
      o["event_data"] = json::serialize(r.event_data);
    else
      o["event_data"] = r.event_data;
    if (r.metadata.empty() || r.metadata == "NULL")
      o["metadata"] = nullptr;
    else
      o["metadata"] = json::parse(r.metadata);
    out += json::serialize(o) + "\n";
  }
  return out;
}

struct import_fixture : daemon_fixture {
  /// Writes `text` to a file in the fixture's temp dir; returns its path.
  std::string write(const std::string& name, const std::string& text) {
    auto path = dir.path() + "/" + name;
    std::ofstream f{path, std::ios::binary};
    f << text;
    return path;
  }

  /// Runs `switchboard import <args>`; returns its exit code, its output
  /// in `out`.
  int import(std::vector<std::string> iargs, std::string& out) {
    iargs.insert(iargs.begin(), "import");
    auto run = command(std::move(iargs), 30s);
    out = run.out;
    return run.rc;
  }

  /// Checks what the API answers about the imported table.
  void check_round_trip() {
    http_client c{port};
    auto cu = c.request("GET", "/api/customers/cu-i", "", acme);
    BOOST_TEST_INFO(cu.body);
    BOOST_REQUIRE(cu.status == 200);
    auto cuj = cu.json();
    const auto& cust
        = cuj.as_object().contains("customer") ? cuj.at("customer") : cuj;
    BOOST_TEST(cust.at("name").as_string() == "Ida \"Imported\", Sr.");
    BOOST_TEST(cust.at("phone").as_string() == "+4930777");
    auto ap = c.request("GET", "/api/appointments/ap-i", "", acme);
    BOOST_TEST_INFO(ap.body);
    BOOST_REQUIRE(ap.status == 200);
    BOOST_TEST(ap.body.find("2024-02-01T10:00:00Z") != std::string::npos);
    BOOST_TEST(ap.body.find(R"(first, \"quoted\" visit)") != std::string::npos);
    auto s = c.request("GET", "/api/services/s-i", "", acme);
    BOOST_TEST(s.status == 200);
    BOOST_TEST(s.body.find("Cut, wash") != std::string::npos);
    BOOST_TEST(c.request("GET", "/api/staff/st-i", "", acme).status == 200);
    // The streams hold the table's versions, times and metadata.
    auto ev = c.request("GET", "/api/events/appointment/ap-i", "", acme);
    BOOST_REQUIRE(ev.status == 200);
    auto evj = ev.json();
    const auto& evs = evj.as_array();
    BOOST_REQUIRE(evs.size() == 2u);
    BOOST_TEST(evs[0].at("type").as_string() == "appointment.created");
    BOOST_TEST(evs[1].at("type").as_string() == "appointment.updated");
    BOOST_TEST(evs[1].at("version").as_string() == "2");
    BOOST_TEST(evs[0].at("time").as_string() == "2024-01-16T08:00:00Z");
    BOOST_TEST(evs[1].at("userid").as_string() == "u8");
    BOOST_TEST(evs[0].at("companyid").as_string() == "acme");
    auto cev = c.request("GET", "/api/events/customer/cu-i", "", acme);
    BOOST_REQUIRE(cev.status == 200);
    BOOST_TEST(cev.json().at(0).at("userid").as_string() == "u7");
    BOOST_TEST(cev.json().at(0).at("ipaddress").as_string() == "10.1.2.3");
    // Another company sees none of it.
    BOOST_TEST(c.request("GET", "/api/customers/cu-i", "", globex).status
               == 404);
    BOOST_TEST(
        c.request("GET", "/api/events/appointment/ap-i", "", globex).status
        == 404);
    // History is not sent to the CRM or Cal.com: once the log readers are
    // through the log, no message names the imported appointment.
    BOOST_REQUIRE(eventually([&] {
      auto q = c.request("GET", "/api/queues", "", admin);
      BOOST_REQUIRE(q.status == 200);
      auto body = q.json();
      for (const auto& cu : body.at("catch_up").as_array())
        if (cu.at("events_behind").to_number<std::int64_t>() != 0)
          return false;
      return true;
    }));
    auto sent = c.request("GET", "/api/outbox?limit=1000", "", acme);
    BOOST_REQUIRE(sent.status == 200);
    BOOST_TEST(sent.body.find("ap-i") == std::string::npos);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(import_suite)

// The seed's table as CSV (JSON inside quoted fields, a field over three
// lines, CRLF) goes in, reads back through the API, and a second run adds
// nothing.
BOOST_FIXTURE_TEST_CASE(seed_csv_round_trips_once, import_fixture) {
  auto file = write("event_store.csv", as_csv(seed_rows()));
  auto before = event_count();
  std::string out;
  // Beside the running daemon: refused, nothing written.
  BOOST_TEST(import({file}, out) == 1);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("stop the daemon") != std::string::npos);
  BOOST_TEST(event_count() == before);
  stop();
  BOOST_TEST(import({file, "--company", "acme"}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 5 events") != std::string::npos);
  // Not a terminal: a summary, no progress bar.
  BOOST_TEST(out.find('\r') == std::string::npos);
  BOOST_TEST(import({file}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 0 events") != std::string::npos);
  BOOST_TEST(out.find("5 already stored") != std::string::npos);
  start();
  BOOST_TEST(event_count() == before + 5);
  check_round_trip();
  // The store is consistent.
  auto check = command({"check"}, 30s);
  BOOST_TEST(check.rc == 0, check.out);
}

// The same table as JSON lines, its json columns as values or as text.
BOOST_FIXTURE_TEST_CASE(seed_jsonl_round_trips_once, import_fixture) {
  auto rows = seed_rows();
  auto as_values = write("values.jsonl", as_jsonl(rows, false));
  auto as_text = write("text.jsonl", as_jsonl(rows, true));
  auto before = event_count();
  stop();
  std::string out;
  BOOST_TEST(import({as_values, "--format", "laravel-jsonl"}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 5 events") != std::string::npos);
  // The other export of the same rows is the same events.
  BOOST_TEST(import({as_text}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 0 events") != std::string::npos);
  start();
  BOOST_TEST(event_count() == before + 5);
  check_round_trip();
}

// A bad record stops the batch with its line and field; nothing of the
// batch is written, neither the good records before it.
BOOST_FIXTURE_TEST_CASE(a_bad_record_stops_the_batch, import_fixture) {
  {
    http_client c{port};
    BOOST_REQUIRE(c.request("POST", "/api/customers",
                            R"({"id":"cu-g","name":"Gina"})", globex)
                      .status
                  == 201);
  }
  auto before = event_count();
  stop();
  std::string out;
  struct bad_case {
    std::string name;
    std::string file;
    std::vector<std::string> args;
    std::string where; ///< "line N, field F"
  };
  auto rows = seed_rows("cu-g"); // the booking names globex's customer
  auto jsonl = as_jsonl(rows, false);
  auto csv = as_csv(rows);
  auto good = seed_rows();
  auto wrong_version = good;
  wrong_version[4].version = 3;
  auto unknown_class = good;
  unknown_class[2].event_type = "App\\Events\\StaffPromoted";
  auto bad_time = good;
  bad_time[1].occurred_at = "yesterday";
  auto bad_id = good;
  bad_id[1].aggregate_id = "s i";
  bad_id[1].event_data["service"].as_object()["id"] = "s i";
  auto globex_row = good;
  globex_row[0].event_data["customer"].as_object()["company_id"] = "globex";
  // `good` with one thing wrong, as JSON lines.
  struct spoiled_case {
    std::string name;
    std::string file;
    const std::vector<seed_row>& rows;
    std::string where;
    std::vector<std::string> args = {};
  };
  const spoiled_case spoiled[] = {
      {"a version that skips one", "b.jsonl", wrong_version,
       "line 5, field version"},
      {"an unknown PHP class", "c.jsonl", unknown_class,
       "line 3, field event_type"},
      {"a time that is none", "d.jsonl", bad_time, "line 2, field occurred_at"},
      {"an id with a space", "e.jsonl", bad_id, "line 2, field aggregate_id"},
      {"a row of another company than --company",
       "f.jsonl",
       globex_row,
       "line 1, field event_data.customer.company_id",
       {"--company", "acme"}},
  };
  std::vector<bad_case> cases = {
      {"another company's customer, JSON lines",
       write("a.jsonl", jsonl),
       {},
       "line 4, field event_data.appointment.customer_id"},
      // The CSV's first record starts on line 2, and its metadata spans
      // four lines: the booking starts on line 8.
      {"another company's customer, CSV",
       write("a.csv", csv),
       {},
       "line 8, field event_data.appointment.customer_id"},
      {"not JSON",
       write("g.jsonl", as_jsonl(good, 0) + "{\"aggregate_id\"\n"),
       {},
       "line 6"},
      {"a CloudEvent without specversion",
       write(
           "h.jsonl",
           R"({"specversion":"1.0","id":"e1","source":"/x","type":"customer.created","time":"2024-01-01T00:00:00Z","subject":"cx","companyid":"acme","data":{"customer":{"id":"cx","company_id":"acme"},"source":"import"}})"
           "\n"
           R"({"id":"e2","source":"/x","type":"customer.created","time":"2024-01-01T00:00:00Z","subject":"cy","data":{}})"
           "\n"),
       {"--format", "cloudevents"},
       "line 2, field specversion"},
  };
  for (const auto& sc : spoiled)
    cases.push_back(
        {sc.name, write(sc.file, as_jsonl(sc.rows, 0)), sc.args, sc.where});
  for (const auto& bc : cases) {
    BOOST_TEST_CONTEXT(bc.name) {
      std::vector<std::string> args{bc.file};
      args.insert(args.end(), bc.args.begin(), bc.args.end());
      BOOST_TEST(import(args, out) == 1);
      BOOST_TEST_INFO(out);
      BOOST_TEST(out.find(bc.where) != std::string::npos);
      BOOST_TEST(out.find("nothing was imported") != std::string::npos);
    }
  }
  start();
  BOOST_TEST(event_count() == before);
  http_client c{port};
  BOOST_TEST(c.request("GET", "/api/customers/cu-i", "", acme).status == 404);
  BOOST_TEST(c.request("GET", "/api/customers/cu-g", "", globex).status == 200);
}

// CloudEvents lines (as `switchboard events --json` writes them) go in
// once, by their event ids.
BOOST_FIXTURE_TEST_CASE(cloudevents_import_once_by_event_id, import_fixture) {
  std::string lines;
  for (int i = 1; i <= 3; ++i) {
    auto id = "ce-" + std::to_string(i);
    json::object ce{
        {"specversion", "1.0"},
        {"id", "evt-" + id},
        {"source", "/laravel/customer/" + id},
        {"type", "customer.created"},
        {"time", "2024-03-0" + std::to_string(i) + "T12:00:00Z"},
        {"subject", id},
        {"companyid", "globex"},
        {"data",
         {{"customer",
           {{"id", id}, {"company_id", "globex"}, {"name", "C " + id}}},
          {"source", "import"}}}};
    lines += json::serialize(ce) + "\n";
  }
  auto file = write("events.jsonl", lines);
  auto before = event_count();
  stop();
  std::string out;
  BOOST_TEST(import({file}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 3 events") != std::string::npos);
  BOOST_TEST(import({file, "--format", "cloudevents"}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 0 events") != std::string::npos);
  // As another company: refused, the ids are globex's.
  BOOST_TEST(import({file, "--company", "acme"}, out) == 1);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("line 1, field company_id") != std::string::npos);
  start();
  BOOST_TEST(event_count() == before + 3);
  http_client c{port};
  auto r = c.request("GET", "/api/customers/ce-2", "", globex);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.find("C ce-2") != std::string::npos);
  BOOST_TEST(c.request("GET", "/api/customers/ce-2", "", acme).status == 404);
  // Ids are per company: acme's history with the same event and stream
  // ids is acme's own, imported beside globex's, and read by acme only.
  std::string acme_lines;
  for (int i = 1; i <= 3; ++i) {
    auto v = json::parse(lines.substr(0, lines.find('\n')));
    auto id = "ce-" + std::to_string(i);
    auto& o = v.as_object();
    o["id"] = "evt-" + id;
    o["subject"] = id;
    o["companyid"] = "acme";
    o["data"]
        = json::object{{"customer", json::object{{"id", id},
                                                 {"company_id", "acme"},
                                                 {"name", "Acme's " + id}}},
                       {"source", "import"}};
    acme_lines += json::serialize(v) + "\n";
  }
  auto acme_file = write("acme.jsonl", acme_lines);
  stop();
  BOOST_TEST(import({acme_file}, out) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("imported 3 events") != std::string::npos);
  start();
  BOOST_TEST(event_count() == before + 6);
  http_client c2{port};
  auto mine = c2.request("GET", "/api/customers/ce-2", "", acme);
  BOOST_TEST(mine.status == 200);
  BOOST_TEST(mine.body.find("Acme's ce-2") != std::string::npos);
  auto theirs = c2.request("GET", "/api/customers/ce-2", "", globex);
  BOOST_TEST(theirs.body.find("C ce-2") != std::string::npos);
  BOOST_TEST(theirs.body.find("Acme") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
