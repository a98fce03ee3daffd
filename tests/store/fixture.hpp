#pragma once

#include <messages/ids.hpp>

#include "store/environment.hpp"
#include "store/event_store.hpp"
#include "store/outbox.hpp"
#include "store/writer.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

/// An SMS of `company` to `recipient` saying `body`.
inline outbound_message sms_message(std::string company, std::string recipient,
                                    std::string body) {
  outbound_message m;
  m.channel = "sms";
  m.recipient = std::move(recipient);
  m.body = std::move(body);
  m.company_id = std::move(company);
  return m;
}

/// Whether `T::open` takes the writer after the environment.
template <class T, class = void>
struct opens_with_writer : std::false_type {};

template <class T>
struct opens_with_writer<
    T, std::void_t<decltype(T::open(std::declval<environment&>(),
                                    std::declval<writer&>()))>>
    : std::true_type {};

/// An environment, writer and event store in a temp dir, and the other
/// parts of the store a test asks for with `part`.
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
    for (auto& p : parts_)
      p.open();
  }

  void close() {
    if (w)
      w->stop();
    for (auto p = parts_.rbegin(); p != parts_.rend(); ++p)
      p->close();
    store.reset();
    w.reset();
    env.reset();
  }

  void reopen() {
    close();
    open();
  }

  /// A part of the store, opened now and again by each `open()` with
  /// `open_part()` (which returns what `T::open` does), and closed by
  /// each `close()` once the writer has stopped.
  template <class T, class Open>
  std::unique_ptr<T>& part(Open open_part) {
    auto slot = std::make_shared<std::unique_ptr<T>>();
    parts_.push_back({[slot, open_part] {
                        *slot = owned<T>(opened(open_part()));
                      },
                      [slot] {
                        slot->reset();
                      }});
    parts_.back().open();
    return *slot;
  }

  /// A part of the store opened with `T::open(*env, *w)` where it takes
  /// the writer, else with `T::open(*env)`.
  template <class T>
  std::unique_ptr<T>& part() {
    return part<T>([this] {
      if constexpr (opens_with_writer<T>::value)
        return T::open(*env, *w);
      else
        return T::open(*env);
    });
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

private:
  struct part_hooks {
    std::function<void()> open;
    std::function<void()> close;
  };

  template <class T, class U>
  static std::unique_ptr<T> owned(U x) {
    if constexpr (std::is_same_v<U, std::unique_ptr<T>>)
      return x;
    else
      return std::make_unique<T>(std::move(x));
  }

  std::vector<part_hooks> parts_;
};

} // namespace switchboard::store::test
