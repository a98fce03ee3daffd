// Appends under load from several threads and prints one line per
// acknowledged append, "ack <sequence> <event id> <aggregate id>", written
// with one write(2) each, so that the parent knows exactly what the store
// acknowledged when it kills this process.
//
// Usage: store_crash_child <store dir> <threads>

#include "bench/open_store.hpp"
#include "store/environment.hpp"
#include "store/event_store.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace switchboard;
using namespace switchboard::store;

namespace {

std::string event_id(int thread, std::uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "crash-%02d-%012llu", thread,
                static_cast<unsigned long long>(i));
  return buf;
}

} // namespace

/// The payload the parent expects for an event id.
std::string payload_of(const std::string& id) {
  return R"({"id":")" + id + R"(","pad":")" + std::string(200, 'p') + "\"}";
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <dir> <threads>\n", argv[0]);
    return 2;
  }
  options opts;
  opts.path = argv[1];
  opts.map_size = 1 << 20; // small, so that the map grows under load
  // Small flush cycles of the streams index, so that the kill lands in
  // the middle of one.
  event_store_config cfg;
  cfg.stream_index_batch = 300;
  cfg.stream_index_chunk = 16;
  auto db = bench::open_event_store(opts, cfg);
  if (!db)
    return 1;
  auto threads = std::atoi(argv[2]);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (std::uint64_t i = 0;; ++i) {
        envelope e;
        e.id = event_id(t, i);
        e.type = i % 3 ? "appointment.updated" : "appointment.created";
        e.aggregate_type = "appointment";
        // A stream belongs to one company: each company its own streams.
        e.company_id = "c" + std::to_string(t % 4);
        e.aggregate_id
            = "crash-" + e.company_id + "-" + std::to_string(rng() % 64);
        e.occurred_at = 1700000000000 + static_cast<std::int64_t>(i);
        e.data = payload_of(e.id);
        auto agg = e.aggregate_id;
        auto res = db->events->append({std::move(e)}, expected_version::any());
        if (!res) {
          std::fprintf(stderr, "append failed: %s\n",
                       to_string(res.error()).c_str());
          std::_Exit(1);
        }
        auto line = "ack " + std::to_string(res->front()) + " " + event_id(t, i)
                    + " " + agg + "\n";
        if (::write(1, line.data(), line.size()) < 0)
          std::_Exit(1);
      }
    });
  for (auto& th : pool)
    th.join();
}
