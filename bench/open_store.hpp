#pragma once

// Opening the store in a program of its own (a benchmark, a test's child
// process), where an error goes to stderr and ends the run.

#include "store/environment.hpp"
#include "store/event_store.hpp"
#include "store/writer.hpp"

#include <cstdio>
#include <memory>
#include <optional>
#include <utility>

namespace switchboard::bench {

/// Whether `res` holds a value; where it does not, its error goes to
/// stderr.
template <class T>
bool reported_ok(const store::result<T>& res) {
  if (!res)
    std::fprintf(stderr, "%s\n", to_string(res.error()).c_str());
  return res.has_value();
}

/// An environment, its writer and an event store, closed in that order
/// backwards.
struct event_store_handles {
  std::unique_ptr<store::environment> env;
  std::unique_ptr<store::writer> w;
  std::unique_ptr<store::event_store> events;
};

/// Opens the environment `opts`, its writer and an event store with
/// `cfg`; nothing where one fails (its error goes to stderr).
inline std::optional<event_store_handles>
open_event_store(const store::options& opts,
                 const store::event_store_config& cfg) {
  auto env = store::environment::open(opts);
  if (!reported_ok(env))
    return std::nullopt;
  auto w = std::make_unique<store::writer>(**env);
  auto events = store::event_store::open(**env, *w, cfg);
  if (!reported_ok(events))
    return std::nullopt;
  return event_store_handles{std::move(*env), std::move(w), std::move(*events)};
}

} // namespace switchboard::bench
