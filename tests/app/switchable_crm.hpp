#pragma once

// A CRM for the tests, on 127.0.0.1: it refuses every request with 400 (a
// permanent error, so the job calling it fails at once) until `accept()`,
// then answers 200. The sweep and the dashboard tests make failed jobs
// with it.

#include <atomic>
#include <string>

#include "tests/support/http_server.hpp"

namespace switchboard::test {

/// A CRM that refuses every request with 400 (a permanent error: the job
/// fails at once) until `accept()`, then answers 200.
class switchable_crm {
public:
  switchable_crm()
      : server_([this](int) {
          if (accepting_)
            return http_answer{200, R"({"ok":true})"};
          return http_answer{400, R"({"message":"refused by the test"})"};
        }) {}

  std::string url() const {
    return server_.url("/crm");
  }

  void accept() {
    accepting_ = true;
  }

private:
  std::atomic<bool> accepting_{false};
  http_server server_; ///< Last: stopped before `accepting_` goes.
};

} // namespace switchboard::test
