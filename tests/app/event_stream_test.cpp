// The dashboard's live feed, GET /admin/events/stream (server-sent
// events), against the real daemon: each company sees its own events as
// they commit and nothing of another's, an admin sees all (or one
// company's), a reconnect with Last-Event-ID gets what it missed from the
// store, quiet streams get heartbeat comments, the limits hold, and a
// client that does not read is closed without holding up anyone.

#include <algorithm>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "tests/app/daemon_names.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/sanitizers.hpp"
#include "tests/support/sse_client.hpp"

using switchboard::test::sse_client;
using switchboard::test::sse_frame;

namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// Makes customer `id` of the token's company; returns the sequence of its
/// event (read back as the company's newest).
std::uint64_t add_customer(http_client& c, const std::string& token,
                           const std::string& id) {
  auto r = c.request("POST", "/api/customers",
                     R"({"id":")" + id + R"(","name":"N","phone":"+4930111"})",
                     token);
  BOOST_TEST_INFO(r.body);
  BOOST_REQUIRE(r.status == 201);
  auto e = c.request("GET", "/api/events?limit=1", "", token);
  BOOST_REQUIRE(e.status == 200);
  auto a = e.json().as_array();
  BOOST_REQUIRE(a.size() == 1u);
  BOOST_REQUIRE(a[0].at("aggregateid").as_string() == id);
  return std::stoull(std::string{a[0].at("sequence").as_string()});
}

/// The event of a frame, checked to be well formed.
json::object event_of(const std::optional<sse_frame>& f) {
  BOOST_REQUIRE(f.has_value());
  BOOST_REQUIRE(f->is_event());
  auto v = json::parse(f->data).as_object();
  BOOST_TEST(f->id == std::string{v.at("sequence").as_string()});
  return v;
}

std::string company_of(const json::object& e) {
  return std::string{e.at("companyid").as_string()};
}

std::string aggregate_of(const json::object& e) {
  return std::string{e.at("aggregateid").as_string()};
}

/// The stream's events up to the one of aggregate `id` (included); fails
/// when the stream ends first.
std::vector<json::object> read_until(sse_client& s, const std::string& id) {
  std::vector<json::object> out;
  for (;;) {
    out.push_back(event_of(s.next_event()));
    if (aggregate_of(out.back()) == id)
      return out;
  }
}

/// Each of `events` is `company`'s.
void all_of(const std::vector<json::object>& events,
            const std::string& company) {
  for (const auto& e : events)
    BOOST_TEST(company_of(e) == company);
}

/// A stream's client that reads the answer's header and then nothing,
/// through a small receive buffer (set before connecting, so that the
/// window it offers stays small): a slow consumer.
class stalled_stream {
public:
  stalled_stream(std::uint16_t port, const std::string& token) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (!switchboard::test::connect_loopback(fd_, port))
      return;
    std::string req = "GET /admin/events/stream HTTP/1.1\r\nHost: "
                      "127.0.0.1\r\nAuthorization: Bearer "
                      + token + "\r\n\r\n";
    if (::write(fd_, req.data(), req.size())
        != static_cast<ssize_t>(req.size()))
      return;
    // The status line and header, a byte at a time (nothing more).
    std::string head;
    char ch;
    while (head.find("\r\n\r\n") == std::string::npos && wait_readable()
           && ::read(fd_, &ch, 1) == 1)
      head += ch;
    if (head.rfind("HTTP/1.1 ", 0) == 0)
      status = std::stoi(head.substr(9, 3));
  }

  ~stalled_stream() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  stalled_stream(const stalled_stream&) = delete;
  stalled_stream& operator=(const stalled_stream&) = delete;

  /// Reads what the server sent until its end; false when the stream
  /// stays open (nothing comes for 20 s).
  bool drained_to_end() {
    char buf[65536];
    while (wait_readable()) {
      auto n = ::read(fd_, buf, sizeof buf);
      if (n <= 0)
        return n == 0;
    }
    return false;
  }

  int status = 0;

private:
  bool wait_readable() {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 20000) > 0;
  }

  int fd_ = -1;
};

/// The value of the sample `name ` (without labels) in `/metrics`.
double metric(http_client& c, const std::string& admin,
              const std::string& name) {
  auto m = c.request("GET", "/metrics", "", admin);
  BOOST_REQUIRE(m.status == 200);
  auto at = m.body.find("\n" + name + " ");
  BOOST_REQUIRE(at != std::string::npos);
  return std::stod(m.body.substr(at + name.size() + 2));
}

} // namespace

BOOST_AUTO_TEST_SUITE(event_stream)

BOOST_FIXTURE_TEST_CASE(each_company_sees_its_own_events_live, daemon_fixture) {
  http_client c{port};
  sse_client a{port, "/admin/events/stream", bearer(acme)};
  sse_client b{port, "/admin/events/stream", bearer(globex)};
  sse_client all{port, "/admin/events/stream", bearer(admin)};
  sse_client only_b{port, "/admin/events/stream?company_id=globex",
                    bearer(admin)};
  // A company may not widen its stream with company_id.
  sse_client a_asks_b{port, "/admin/events/stream?company_id=globex",
                      bearer(acme)};
  for (auto* s : {&a, &b, &all, &only_b, &a_asks_b}) {
    BOOST_REQUIRE(s->status == 200);
    BOOST_TEST(s->headers["content-type"].find("text/event-stream") == 0u);
    BOOST_TEST(s->headers.count("content-length") == 0u);
  }
  auto s1 = add_customer(c, acme, "cu-a1");
  auto s2 = add_customer(c, globex, "cu-b1");
  auto s3 = add_customer(c, acme, "cu-a2");
  // Acme's stream: its two events, in order, and only acme's (globex's
  // came between them).
  for (auto* s : {&a, &a_asks_b}) {
    auto first = read_until(*s, "cu-a1");
    BOOST_TEST(first.back().at("type").as_string() == "customer.created");
    auto second = read_until(*s, "cu-a2");
    all_of(first, "acme");
    all_of(second, "acme");
  }
  all_of(read_until(b, "cu-b1"), "globex");
  // The admin: every company's, in sequence order.
  std::vector<std::uint64_t> seen;
  for (const auto& e : read_until(all, "cu-a2"))
    seen.push_back(std::stoull(std::string{e.at("sequence").as_string()}));
  BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
  for (auto want : {s1, s2, s3})
    BOOST_TEST(std::count(seen.begin(), seen.end(), want) == 1);
  // The admin narrowed to globex: globex's only, live.
  all_of(read_until(only_b, "cu-b1"), "globex");
  add_customer(c, globex, "cu-b2");
  all_of(read_until(only_b, "cu-b2"), "globex");
  all_of(read_until(b, "cu-b2"), "globex");
}

BOOST_FIXTURE_TEST_CASE(a_reconnect_gets_what_it_missed, daemon_fixture) {
  http_client c{port};
  auto s1 = add_customer(c, acme, "cu-a1");
  add_customer(c, globex, "cu-b1");
  add_customer(c, acme, "cu-a2");
  // Resuming after acme's first event: its second from the store (not
  // globex's in between), then the live ones.
  sse_client a{port,
               "/admin/events/stream",
               {{"Authorization", "Bearer " + acme},
                {"Last-Event-ID", std::to_string(s1)}}};
  BOOST_REQUIRE(a.status == 200);
  auto caught_up = read_until(a, "cu-a2");
  all_of(caught_up, "acme");
  for (const auto& e : caught_up)
    BOOST_TEST(std::stoull(std::string{e.at("sequence").as_string()}) > s1);
  add_customer(c, globex, "cu-b2");
  add_customer(c, acme, "cu-a3");
  all_of(read_until(a, "cu-a3"), "acme");
  // ?after= does the same for the first connection; Last-Event-ID wins
  // over it.
  sse_client q{port, "/admin/events/stream?after=0", bearer(acme)};
  BOOST_REQUIRE(q.status == 200);
  for (const auto* id : {"cu-a1", "cu-a2", "cu-a3"})
    all_of(read_until(q, id), "acme");
  sse_client both{port,
                  "/admin/events/stream?after=0",
                  {{"Authorization", "Bearer " + acme},
                   {"Last-Event-ID", std::to_string(s1)}}};
  BOOST_REQUIRE(both.status == 200);
  auto from_s1 = event_of(both.next_event());
  BOOST_TEST(std::stoull(std::string{from_s1.at("sequence").as_string()}) > s1);
}

BOOST_FIXTURE_TEST_CASE(who_may_open_a_stream, daemon_fixture) {
  // No credentials, an unknown token: 401.
  sse_client none{port, "/admin/events/stream"};
  BOOST_TEST(none.status == 401);
  sse_client wrong{port, "/admin/events/stream",
                   bearer("sb_" + std::string(64, '0'))};
  BOOST_TEST(wrong.status == 401);
  // A bad resume point: 422 naming it.
  sse_client bad_id{
      port,
      "/admin/events/stream",
      {{"Authorization", "Bearer " + acme}, {"Last-Event-ID", "12x"}}};
  BOOST_TEST(bad_id.status == 422);
  BOOST_TEST(bad_id.body.find("Last-Event-ID") != std::string::npos);
  sse_client bad_after{port, "/admin/events/stream?after=-1", bearer(acme)};
  BOOST_TEST(bad_after.status == 422);
  BOOST_TEST(bad_after.body.find("\"after\"") != std::string::npos);
  // The dashboard's session cookie: the session's company.
  http_client c{port};
  auto session = switchboard::test::sign_in(c, globex);
  const auto& cookie = session.cookie;
  sse_client s{port, "/admin/events/stream", {{"Cookie", cookie}}};
  BOOST_REQUIRE(s.status == 200);
  add_customer(c, acme, "cu-a1");
  add_customer(c, globex, "cu-b1");
  all_of(read_until(s, "cu-b1"), "globex");
  // Signed out: the cookie opens nothing.
  const auto& csrf = session.csrf;
  BOOST_REQUIRE(c.request("DELETE", "/admin/events/session", "", "",
                          {{"Cookie", cookie},
                           {"Origin", "http://127.0.0.1"},
                           {"X-CSRF-Token", csrf}})
                    .status
                == 200);
  sse_client after_sign_out{port, "/admin/events/stream", {{"Cookie", cookie}}};
  BOOST_TEST(after_sign_out.status == 401);
}

BOOST_AUTO_TEST_CASE(quiet_streams_get_heartbeats_and_limits_hold) {
  daemon_fixture d{{"http.event_stream_heartbeat_ms=20",
                    "http.event_streams_per_company=2"}};
  sse_client a1{d.port, "/admin/events/stream", bearer(d.acme)};
  sse_client a2{d.port, "/admin/events/stream", bearer(d.acme)};
  BOOST_REQUIRE(a1.status == 200);
  BOOST_REQUIRE(a2.status == 200);
  // Nothing happens: comments come, and only comments.
  int beats = 0;
  for (int i = 0; i < 3; ++i) {
    auto f = a1.next();
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(!f->is_event());
    beats += f->comment.find("heartbeat") != std::string::npos ? 1 : 0;
  }
  BOOST_TEST(beats >= 2);
  // A third stream of acme: 429; globex still gets its own.
  sse_client a3{d.port, "/admin/events/stream", bearer(d.acme)};
  BOOST_TEST(a3.status == 429);
  BOOST_TEST(a3.headers.count("retry-after") == 1u);
  sse_client b1{d.port, "/admin/events/stream", bearer(d.globex)};
  BOOST_TEST(b1.status == 200);
  // A stream that goes frees its place (the daemon sees it go when its
  // next heartbeat fails or its read ends).
  a2.close();
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    sse_client again{d.port, "/admin/events/stream", bearer(d.acme)};
    status = again.status;
    if (status != 200)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  BOOST_TEST(status == 200);
  http_client c{d.port};
  auto m = c.request("GET", "/metrics", "", d.admin);
  BOOST_TEST(m.body.find("switchboard_event_stream_refused_total ")
             != std::string::npos);
  BOOST_TEST(m.body.find("switchboard_event_streams ") != std::string::npos);
}

// A client that connects and then reads nothing, while events commit
// fast: once what the sockets hold and its queue (16 frames here) are
// full, the daemon closes that stream, once, and counts and logs it once.
// The other streams, the same company's and another's, and the requests
// go on meanwhile, and the daemon's memory does not grow with what the
// slow client left unread.
BOOST_AUTO_TEST_CASE(a_slow_consumer_is_closed_and_slows_no_one) {
  daemon_fixture d{{"http.event_stream_frames=16"}};
  http_client c{d.port};
  add_customer(c, d.acme, "cu-slow");
  sse_client fast{d.port, "/admin/events/stream", bearer(d.acme)};
  sse_client other{d.port, "/admin/events/stream", bearer(d.globex)};
  stalled_stream slow{d.port, d.acme};
  BOOST_REQUIRE(fast.status == 200);
  BOOST_REQUIRE(other.status == 200);
  BOOST_REQUIRE(slow.status == 200);
  const auto pid = d.proc->pid();
  const auto rss_before = memory_bytes(pid, "RssAnon");
  BOOST_REQUIRE(rss_before > 0);
  // A long User-Agent (it is kept in each event's metadata) makes each
  // frame about 4 kB, so that the backlog is large next to the daemon's
  // other memory.
  const std::vector<std::pair<std::string, std::string>> agent{
      {"User-Agent", std::string(4000, 'u')}};
  std::size_t unread = 0; // bytes of frames the slow client was sent
  int changes = 0;
  auto change = [&] {
    auto name = "Name " + std::to_string(++changes);
    auto r = c.request("PATCH", "/api/customers/cu-slow",
                       R"({"name":")" + name + R"("})", d.acme, agent);
    BOOST_TEST_INFO(r.body);
    BOOST_REQUIRE(r.status == 200);
    // The reading client takes each event before the next commits, so it
    // is never the slow one, however loaded the machine.
    auto f = fast.next_event();
    auto e = event_of(f);
    BOOST_REQUIRE(e.at("type").as_string() == "customer.updated");
    unread += f->data.size() + f->id.size() + 12;
  };
  // Commits until the daemon has closed the slow stream (bounded by a
  // count far above what the socket buffers and the queue hold).
  bool closed = false;
  while (!closed && changes < 12000) {
    for (int i = 0; i < 50; ++i)
      change();
    closed
        = metric(c, d.admin, "switchboard_event_stream_slow_closed_total") > 0;
  }
  BOOST_TEST_MESSAGE(changes << " events committed; slow stream closed: "
                             << (closed ? "yes" : "no"));
  BOOST_TEST(closed);
  // As much again and more after the close: a backlog of 24 MB or more
  // that nobody holds.
  while (unread < (std::size_t{24} << 20))
    change();
  BOOST_TEST(metric(c, d.admin, "switchboard_event_stream_slow_closed_total")
             == 1);
  // The other company's stream still hears its own events, live.
  add_customer(c, d.globex, "cu-other");
  all_of(read_until(other, "cu-other"), "globex");
  // The memory the daemon gained is far from the backlog (kept whole, it
  // would be all of it).
  const auto rss_after = memory_bytes(pid, "RssAnon");
  BOOST_TEST_MESSAGE("RssAnon " << rss_before / 1024 << " kB -> "
                                << rss_after / 1024 << " kB; " << unread / 1024
                                << " kB of frames unread");
  if (switchboard::test::memory_is_measurable)
    BOOST_TEST(rss_after < rss_before + unread / 2);
  // The slow client, reading at last, finds the end of its stream; two
  // streams remain.
  BOOST_TEST(slow.drained_to_end());
  // (It is counted out when the daemon has dropped its last handler.)
  double open = 0;
  for (int i = 0; i < 600; ++i) {
    open = metric(c, d.admin, "switchboard_event_streams");
    if (open == 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  BOOST_TEST(open == 2);
  // Logged once.
  d.proc->signal(SIGTERM);
  BOOST_REQUIRE(d.proc->wait(std::chrono::seconds(30)) == 0);
  const auto& out = d.proc->output();
  std::size_t logged = 0;
  for (auto at = out.find("event stream of acme closed");
       at != std::string::npos;
       at = out.find("event stream of acme closed", at + 1))
    ++logged;
  BOOST_TEST(logged == 1u);
  d.proc.reset();
}

BOOST_AUTO_TEST_SUITE_END()
