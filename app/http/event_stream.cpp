#include "app/http/event_stream.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/serialize.hpp>

#include <actors/log.hpp>
#include <app/config.hpp>
#include <app/http/upgrade.hpp>
#include <messages/cloudevents.hpp>

namespace switchboard::app::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view heartbeat_frame = ": heartbeat\n\n";

} // namespace

std::string event_frame(const envelope& e, bool with_id) {
  std::string out;
  if (with_id) {
    out += "id: ";
    out += std::to_string(e.sequence);
    out += '\n';
  }
  out += "data: ";
  // Serialized JSON has no raw line breaks (they are escaped in strings).
  out += boost::json::serialize(to_cloudevent(e));
  out += "\n\n";
  return out;
}

std::string_view event_stream_prelude() {
  return ": switchboard events\nretry: 2000\n\n";
}

event_stream_options event_stream_options_from(const config& cfg) {
  event_stream_options o;
  o.heartbeat = std::chrono::milliseconds{
      cfg.get_int("http.event_stream_heartbeat_ms")};
  o.max_frames
      = static_cast<std::size_t>(cfg.get_int("http.event_stream_frames"));
  o.per_company
      = static_cast<std::size_t>(cfg.get_int("http.event_streams_per_company"));
  o.max_streams
      = static_cast<std::size_t>(cfg.get_int("http.event_streams_max"));
  return o;
}

/// What the streams share: the options, the counters, the open streams.
struct event_streams::hub {
  explicit hub(event_stream_options o) : opts(o) {}

  event_stream_options opts;
  mutable std::mutex mtx;
  bool stopped = false;                           // guarded
  std::vector<std::weak_ptr<stream>> streams;     // guarded
  std::map<std::string, std::size_t> per_company; // guarded
  std::size_t open_now = 0;                       // guarded
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> slow_closed{0};
  std::atomic<std::uint64_t> frames_sent{0};

  /// The streams still open; none once stopped.
  std::vector<std::shared_ptr<stream>> live() const {
    std::vector<std::shared_ptr<stream>> out;
    std::lock_guard<std::mutex> g{mtx};
    if (stopped || streams.empty())
      return out;
    out.reserve(streams.size());
    for (const auto& w : streams)
      if (auto s = w.lock())
        out.push_back(std::move(s));
    return out;
  }
};

/// One stream. Its queue is filled by commits (any thread) and drained on
/// its connection's thread.
struct event_streams::stream : std::enable_shared_from_this<stream> {
  stream(std::shared_ptr<hub> h, std::string c, std::uint64_t after)
      : hub_(std::move(h)), company(std::move(c)), last_queued(after) {}

  ~stream() {
    std::lock_guard<std::mutex> g{hub_->mtx};
    --hub_->open_now;
    auto i = hub_->per_company.find(company);
    if (i != hub_->per_company.end() && --i->second == 0)
      hub_->per_company.erase(i);
  }

  bool sees(const std::string& c) const {
    return company.empty() || company == c;
  }

  /// Queues an event's frame (any thread): once, in sequence order. A
  /// `seq` of 0 is an event relayed from another member's log, queued as
  /// it comes (not ordered against this member's sequences).
  void push(std::uint64_t seq, const std::shared_ptr<const std::string>& f) {
    {
      std::lock_guard<std::mutex> g{mtx};
      if (closed || overflow || (seq != 0 && seq <= last_queued))
        return;
      if (seq != 0)
        last_queued = seq;
      if (queue.size() >= hub_->opts.max_frames) {
        overflow = true;
      } else {
        queue.emplace_back(seq, f);
        ++hub_->frames_sent;
      }
      if (!attached || kicked)
        return;
      kicked = true;
    }
    asio::post(sock->get_executor(), [self = shared_from_this()] {
      self->flush();
    });
  }

  /// On the connection's thread: the header is out with the events up to
  /// `sent`; drops what the queue holds of them and starts.
  void start(tcp::socket s, std::uint64_t sent) {
    sock.emplace(std::move(s));
    beat.emplace(sock->get_executor());
    {
      std::lock_guard<std::mutex> g{mtx};
      attached = true;
      last_queued = std::max(last_queued, sent);
      queue.erase(std::remove_if(queue.begin(), queue.end(),
                                 [sent](const auto& q) {
                                   return q.first != 0 && q.first <= sent;
                                 }),
                  queue.end());
    }
    read();
    arm_heartbeat();
    flush();
  }

  /// Writes what is queued, unless a write is under way (its end comes
  /// back here).
  void flush() {
    if (!sock || !sock->is_open())
      return;
    bool end = false, slow = false;
    {
      std::lock_guard<std::mutex> g{mtx};
      kicked = false;
      if (overflow) {
        ++hub_->slow_closed;
        slow = true;
        end = true;
      } else if (closed) {
        end = true;
      } else if (!writing) {
        for (auto& [seq, f] : queue)
          out += *f;
        queue.clear();
      }
    }
    if (end) {
      if (slow)
        log::get(log::subsystem::http)
            ->warn(
                "event stream of {} closed: its client left {} events unread "
                "(http.event_stream_frames); it resumes from the store when it "
                "reconnects",
                company.empty() ? std::string{"every company"} : company,
                hub_->opts.max_frames);
      close();
      return;
    }
    if (writing || out.empty())
      return;
    writing = true;
    quiet = false;
    asio::async_write(
        *sock, asio::buffer(out),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->writing = false;
          self->out.clear();
          if (self->out.capacity() > (64 << 10))
            std::string{}.swap(self->out);
          if (ec) {
            self->close();
            return;
          }
          self->flush();
        });
  }

  /// Nothing is read from the client; a read ends when it goes.
  void read() {
    sock->async_read_some(
        asio::buffer(scratch),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          if (ec) {
            self->close();
            return;
          }
          self->read();
        });
  }

  /// A comment after an interval without a frame.
  void arm_heartbeat() {
    beat->expires_after(hub_->opts.heartbeat);
    beat->async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !self->sock->is_open())
        return;
      if (self->quiet && !self->writing) {
        std::lock_guard<std::mutex> g{self->mtx};
        if (self->queue.empty())
          self->queue.emplace_back(
              0, std::make_shared<const std::string>(heartbeat_frame));
      }
      self->flush();
      self->quiet = true;
      self->arm_heartbeat();
    });
  }

  /// On the connection's thread.
  void close() {
    {
      std::lock_guard<std::mutex> g{mtx};
      closed = true;
      queue.clear();
    }
    if (beat)
      beat->cancel();
    if (sock && sock->is_open()) {
      boost::system::error_code ignored;
      sock->shutdown(tcp::socket::shutdown_both, ignored);
      sock->close(ignored);
    }
  }

  std::shared_ptr<hub> hub_;
  const std::string company; ///< "": every company's events.

  std::mutex mtx;
  std::uint64_t last_queued; ///< Highest sequence queued or sent (guarded).
  std::deque<std::pair<std::uint64_t, std::shared_ptr<const std::string>>>
      queue;             // guarded
  bool attached = false; // guarded
  bool kicked = false;   // guarded: a flush is posted
  bool overflow = false; // guarded
  bool closed = false;   // guarded

  // On the connection's thread only.
  std::optional<tcp::socket> sock;
  std::optional<asio::steady_timer> beat;
  std::string out;
  bool writing = false;
  bool quiet = true; ///< Nothing written since the last heartbeat tick.
  char scratch[256];
};

event_streams::event_streams(event_stream_options opts)
    : hub_(std::make_shared<hub>(opts)) {}

event_streams::~event_streams() = default;

const event_stream_options& event_streams::options() const noexcept {
  return hub_->opts;
}

std::shared_ptr<event_streams::stream>
event_streams::open(const std::string& company, std::uint64_t after,
                    refusal& why) {
  std::lock_guard<std::mutex> g{hub_->mtx};
  why = refusal::none;
  if (hub_->stopped)
    why = refusal::stopped;
  else if (hub_->open_now >= hub_->opts.max_streams)
    why = refusal::full;
  else if (hub_->per_company[company] >= hub_->opts.per_company)
    why = refusal::company_full;
  if (why != refusal::none) {
    if (hub_->per_company[company] == 0)
      hub_->per_company.erase(company);
    ++hub_->refused;
    return nullptr;
  }
  ++hub_->per_company[company];
  ++hub_->open_now;
  ++hub_->accepted;
  auto s = std::make_shared<stream>(hub_, company, after);
  auto& list = hub_->streams;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const std::weak_ptr<stream>& w) {
                              return w.expired();
                            }),
             list.end());
  list.push_back(s);
  return s;
}

void event_streams::attach(const std::shared_ptr<stream>& s, upgrade&& u,
                           std::uint64_t sent) {
  {
    std::lock_guard<std::mutex> g{hub_->mtx};
    if (hub_->stopped) {
      boost::system::error_code ignored;
      u.socket.close(ignored);
      return;
    }
  }
  s->start(std::move(u.socket), sent);
}

void event_streams::publish_committed(const std::vector<envelope>& events) {
  auto live = hub_->live();
  for (const auto& e : events) {
    std::shared_ptr<const std::string> frame;
    for (const auto& s : live) {
      if (!s->sees(e.company_id))
        continue;
      if (!frame)
        frame = std::make_shared<const std::string>(event_frame(e));
      s->push(e.sequence, frame);
    }
  }
}

void event_streams::publish_relayed(const std::vector<envelope>& events) {
  auto live = hub_->live();
  for (const auto& e : events) {
    std::shared_ptr<const std::string> with_id, without_id;
    for (const auto& s : live) {
      if (s->company.empty()) {
        if (!without_id)
          without_id
              = std::make_shared<const std::string>(event_frame(e, false));
        s->push(0, without_id);
      } else if (s->company == e.company_id) {
        if (!with_id)
          with_id = std::make_shared<const std::string>(event_frame(e));
        s->push(e.sequence, with_id);
      }
    }
  }
}

void event_streams::stop() {
  std::vector<std::shared_ptr<stream>> live;
  {
    std::lock_guard<std::mutex> g{hub_->mtx};
    if (hub_->stopped)
      return;
    hub_->stopped = true;
    for (const auto& w : hub_->streams)
      if (auto s = w.lock())
        live.push_back(std::move(s));
  }
  for (const auto& s : live) {
    bool attached;
    {
      std::lock_guard<std::mutex> g{s->mtx};
      attached = s->attached;
      s->closed = true;
    }
    if (attached)
      asio::post(s->sock->get_executor(), [s] {
        s->close();
      });
  }
}

void event_streams::release() {
  std::lock_guard<std::mutex> g{hub_->mtx};
  hub_->streams.clear();
}

event_stream_stats event_streams::stats() const {
  event_stream_stats s;
  {
    std::lock_guard<std::mutex> g{hub_->mtx};
    s.open = hub_->open_now;
  }
  s.accepted = hub_->accepted.load();
  s.refused = hub_->refused.load();
  s.slow_closed = hub_->slow_closed.load();
  s.frames_sent = hub_->frames_sent.load();
  return s;
}

} // namespace switchboard::app::http
