#include "app/http/read_pool.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

#include <actors/log.hpp>
#include <app/http/limits.hpp>

namespace switchboard::app::http {

namespace {

using clock_type = std::chrono::steady_clock;

struct queued_read {
  context_ptr ctx;
  clock_type::time_point deadline;
  read_pool::task run;
};

} // namespace

struct read_pool::impl {
  std::size_t max_queued = 0;
  /// Reads one company may have running at once.
  std::size_t max_running = 1;
  mutable std::mutex mtx;
  std::condition_variable cv;
  /// Waiting reads per company, and the companies with any, in turn.
  std::map<std::string, std::deque<queued_read>> waiting;
  std::list<std::string> turns;
  /// Reads running per company (companies with none are not listed).
  std::map<std::string, std::size_t> running;
  std::size_t count = 0;
  bool stopping = false;
  std::vector<std::thread> threads;

  /// The first company in turn below its share of running reads.
  std::list<std::string>::iterator next_turn() {
    return std::find_if(turns.begin(), turns.end(),
                        [this](const std::string& company) {
                          auto i = running.find(company);
                          return i == running.end() || i->second < max_running;
                        });
  }

  void loop() {
    for (;;) {
      queued_read r;
      std::string company;
      {
        std::unique_lock<std::mutex> lk{mtx};
        cv.wait(lk, [this] {
          return stopping || (count > 0 && next_turn() != turns.end());
        });
        if (stopping)
          return;
        // The company whose turn it is gives one read, and goes to the
        // back of the line if it has more; a company running its share
        // already waits for one of them to end.
        auto turn = next_turn();
        company = std::move(*turn);
        turns.erase(turn);
        auto& q = waiting[company];
        r = std::move(q.front());
        q.pop_front();
        --count;
        ++running[company];
        if (q.empty())
          waiting.erase(company);
        else
          turns.push_back(company);
      }
      read_deadline d{r.deadline};
      if (d.passed()) {
        r.ctx->fail(504, "timeout",
                    "the read waited past its deadline behind others; "
                    "retry later");
      } else {
        try {
          r.run(d);
        } catch (const std::exception& e) {
          log::get(log::subsystem::http)->error("a read failed: {}", e.what());
          r.ctx->fail(500, "internal", "the read failed");
        }
      }
      r = {};
      {
        std::lock_guard<std::mutex> lk{mtx};
        if (auto i = running.find(company);
            i != running.end() && --i->second == 0)
          running.erase(i);
      }
      cv.notify_all();
    }
  }
};

read_pool::read_pool(std::size_t threads, std::size_t max_queued)
    : impl_(std::make_unique<impl>()) {
  impl_->max_queued = std::max<std::size_t>(max_queued, 1);
  impl_->max_running = std::max<std::size_t>(threads / 2, 1);
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i)
    impl_->threads.emplace_back([this] {
      pthread_setname_np(pthread_self(), "sb-read");
      impl_->loop();
    });
}

read_pool::~read_pool() {
  stop();
}

read_pool::posted read_pool::post(const std::string& company, context_ptr ctx,
                                  std::chrono::milliseconds timeout, task t) {
  std::lock_guard<std::mutex> lk{impl_->mtx};
  if (impl_->stopping)
    return posted::stopped;
  auto& q = impl_->waiting[company];
  if (q.size() >= impl_->max_queued) {
    if (q.empty())
      impl_->waiting.erase(company);
    return posted::company_full;
  }
  if (q.empty())
    impl_->turns.push_back(company);
  q.push_back({std::move(ctx), clock_type::now() + timeout, std::move(t)});
  ++impl_->count;
  impl_->cv.notify_one();
  return posted::queued;
}

std::size_t read_pool::queued() const {
  std::lock_guard<std::mutex> lk{impl_->mtx};
  return impl_->count;
}

void read_pool::stop() {
  std::map<std::string, std::deque<queued_read>> left;
  {
    std::lock_guard<std::mutex> lk{impl_->mtx};
    if (impl_->stopping)
      return;
    impl_->stopping = true;
    left.swap(impl_->waiting);
    impl_->turns.clear();
    impl_->count = 0;
  }
  impl_->cv.notify_all();
  for (auto& [company, q] : left)
    for (auto& r : q)
      r.ctx->fail(503, "shutting_down", "the server is stopping");
  for (auto& th : impl_->threads)
    if (th.joinable())
      th.join();
}

void run_read(const context_ptr& ctx, const std::string& company,
              read_pool::task t, std::uint64_t rows) {
  if (auto* limits = ctx->svc().limits;
      limits != nullptr && !company.empty() && !ctx->who().admin)
    if (auto wait = limits->admit_rows(company, rows)) {
      ctx->fail(429, "rows_rate_limited",
                "this company's listings are over their rows per second "
                "(a page costs its limit); retry in "
                    + std::to_string(*wait) + " s",
                {}, {{"Retry-After", std::to_string(*wait)}});
      return;
    }
  auto* pool = ctx->svc().reads;
  if (pool == nullptr) {
    t(read_deadline{clock_type::now() + ctx->svc().read_deadline});
    return;
  }
  switch (pool->post(company, ctx, ctx->svc().read_deadline, std::move(t))) {
  case read_pool::posted::queued:
    return;
  case read_pool::posted::company_full:
    ctx->fail(429, "too_many_reads",
              "this company has too many listings waiting; retry when "
              "they are answered",
              {}, {{"Retry-After", "1"}});
    return;
  case read_pool::posted::stopped:
    ctx->fail(503, "shutting_down", "the server is stopping");
    return;
  }
}

} // namespace switchboard::app::http
