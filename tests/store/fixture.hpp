#pragma once

#include <messages/ids.hpp>

#include "store/environment.hpp"
#include "store/event_store.hpp"
#include "store/writer.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>

namespace switchboard::store {

/// Lets Boost.Test print error codes.
inline std::ostream& operator<<(std::ostream& os, errc code) {
  return os << to_string(code);
}

} // namespace switchboard::store

namespace switchboard::store::test {

/// A fresh directory under /tmp, removed with the object.
struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/switchboard-store-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// A UUIDv7 in text form: later calls sort later (the project's ids).
inline std::string uuid7() {
  return switchboard::new_event_id();
}

/// The error text of `res`, or "ok".
template <class T>
std::string why(const result<T>& res) {
  return res ? std::string{"ok"} : to_string(res.error());
}

/// The value of `res`, which opened a part of the store; throws its error
/// when there is none.
template <class T>
T opened(result<T> res) {
  if (!res)
    throw std::runtime_error(to_string(res.error()));
  return std::move(*res);
}

/// An event of aggregate `type`/`id`.
inline envelope make_event(const std::string& agg_type,
                           const std::string& agg_id,
                           std::string type = "appointment.created",
                           std::string company = "c1",
                           timestamp_ms at = 1700000000000) {
  envelope e;
  e.id = uuid7();
  e.type = std::move(type);
  e.aggregate_type = agg_type;
  e.aggregate_id = agg_id;
  e.company_id = std::move(company);
  e.occurred_at = at;
  e.metadata.user_id = "u1";
  e.metadata.source = "test";
  e.metadata.correlation_id = "corr";
  e.data = R"({"appointment_id":")" + agg_id + R"("})";
  return e;
}

/// An environment, writer and event store in a temp dir.
struct store_fixture {
  temp_dir dir;
  options opts;
  event_store_config cfg;
  std::unique_ptr<environment> env;
  std::unique_ptr<writer> w;
  std::unique_ptr<event_store> store;

  store_fixture() {
    opts.path = dir.path + "/db";
    open();
  }

  ~store_fixture() {
    close();
  }

  void open() {
    env = opened(environment::open(opts));
    w = std::make_unique<writer>(*env);
    store = opened(event_store::open(*env, *w, cfg));
  }

  void close() {
    if (w)
      w->stop();
    store.reset();
    w.reset();
    env.reset();
  }

  void reopen() {
    close();
    open();
  }

  /// Appends one event with `expected` any; returns its sequence.
  std::uint64_t append_one(envelope e) {
    std::vector<envelope> v;
    v.push_back(std::move(e));
    auto res = store->append(std::move(v), expected_version::any());
    if (!res)
      throw std::runtime_error(to_string(res.error()));
    return res->front();
  }
};

} // namespace switchboard::store::test
