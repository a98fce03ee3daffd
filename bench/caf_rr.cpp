// The anchor of bench/cluster_bench.sh: raw CAF request/response between
// two processes over the middleman on 127.0.0.1, with nothing of ours in
// between. A child process publishes an actor that answers each string
// with itself; the parent keeps --inflight requests of --bytes bytes in
// flight for --seconds and counts the round trips.
//
// Usage: caf_rr [--seconds S] [--inflight N] [--bytes B]
// Prints "RESULT caf_rr rr_per_s=... p50_us=... p99_us=... inflight=...
// bytes=...". Timing never fails the run.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/args.hpp"
#include "bench/rr_loop.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  double seconds = 5;
  int inflight = 64;
  std::size_t bytes = 600;
};

caf::actor_system_config& two_threads(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

/// The child: publishes the echo actor, writes its port to `fd`, and runs
/// until its parent closes `stop_fd`.
[[noreturn]] void serve(int fd, int stop_fd) {
  caf::actor_system_config cfg;
  caf::actor_system sys{two_threads(cfg)};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](const std::string& s) {
      return s;
    }};
  });
  auto port = sys.middleman().publish(echo, 0, "127.0.0.1", true);
  std::uint16_t p = port ? *port : 0;
  if (write(fd, &p, sizeof p) != static_cast<ssize_t>(sizeof p))
    std::_Exit(1);
  char c;
  while (read(stop_fd, &c, 1) > 0) {
  }
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  std::_Exit(0);
}

struct client_state {
  caf::actor server;
  std::string payload;
  std::vector<std::int64_t>* latencies_us = nullptr;
  std::uint64_t* count = nullptr;
  switchboard::bench::rr_loop loop;
};

void next(caf::stateful_actor<client_state>* self) {
  auto& st = self->state;
  if (switchboard::bench::rr_stopping(self, st.loop))
    return;
  auto t0 = clock_type::now();
  self->request(st.server, std::chrono::seconds(10), st.payload)
      .then(
          [self, t0](const std::string&) {
            auto& st = self->state;
            ++*st.count;
            st.latencies_us->push_back(
                std::chrono::duration_cast<std::chrono::microseconds>(
                    clock_type::now() - t0)
                    .count());
            next(self);
          },
          [self](const caf::error& e) {
            std::fprintf(stderr, "caf_rr: %s\n",
                         self->system().render(e).c_str());
            std::_Exit(1);
          });
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  auto known = [&s](const std::string& a, auto& value) {
    if (a == "--quick")
      s.seconds = 0.5;
    else if (a == "--seconds")
      s.seconds = std::atof(value().c_str());
    else if (a == "--inflight")
      s.inflight = std::max(1, std::atoi(value().c_str()));
    else if (a == "--bytes")
      s.bytes = static_cast<std::size_t>(std::atol(value().c_str()));
    else
      return false;
    return true;
  };
  if (!switchboard::bench::read_flags(
          argc, argv, "[--seconds S] [--inflight N] [--bytes B]", known,
          "caf_rr: "))
    return 2;
  int port_pipe[2];
  int stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) {
    std::perror("caf_rr: pipe");
    return 1;
  }
  auto child = fork();
  if (child < 0) {
    std::perror("caf_rr: fork");
    return 1;
  }
  if (child == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    serve(port_pipe[1], stop_pipe[0]);
  }
  close(port_pipe[1]);
  close(stop_pipe[0]);
  std::uint16_t port = 0;
  if (read(port_pipe[0], &port, sizeof port)
          != static_cast<ssize_t>(sizeof port)
      || port == 0) {
    std::fprintf(stderr, "caf_rr: the server did not publish its actor\n");
    return 1;
  }
  int rc = 0;
  {
    caf::actor_system_config cfg;
    caf::actor_system sys{two_threads(cfg)};
    auto server = sys.middleman().remote_actor("127.0.0.1", port);
    if (!server) {
      std::fprintf(stderr, "caf_rr: %s\n", sys.render(server.error()).c_str());
      rc = 1;
    } else {
      std::atomic<bool> stop{false};
      std::atomic<int> finished{0};
      std::uint64_t count = 0;
      std::vector<std::int64_t> latencies;
      latencies.reserve(1 << 20);
      auto t0 = clock_type::now();
      sys.spawn([&](caf::stateful_actor<client_state>* self) -> caf::behavior {
        auto& st = self->state;
        st.server = *server;
        st.payload.assign(s.bytes, 'x');
        st.latencies_us = &latencies;
        st.count = &count;
        st.loop = {&stop, &finished, s.inflight};
        for (int k = 0; k < s.inflight; ++k)
          next(self);
        return {[](int) {}};
      });
      std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
      stop = true;
      auto elapsed
          = std::chrono::duration<double>(clock_type::now() - t0).count();
      while (finished.load() == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::sort(latencies.begin(), latencies.end());
      auto pct = [&](double q) -> std::int64_t {
        if (latencies.empty())
          return 0;
        auto k = static_cast<std::size_t>(q * (latencies.size() - 1));
        return latencies[k];
      };
      std::printf("RESULT caf_rr rr_per_s=%.0f p50_us=%lld p99_us=%lld "
                  "inflight=%d bytes=%zu\n",
                  static_cast<double>(count) / elapsed,
                  static_cast<long long>(pct(0.50)),
                  static_cast<long long>(pct(0.99)), s.inflight, s.bytes);
      std::fflush(stdout);
    }
  }
  close(stop_pipe[1]);
  int status = 0;
  waitpid(child, &status, 0);
  return rc;
}
