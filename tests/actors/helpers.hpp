#pragma once

// Shared pieces of the actor tests: sample entities and events, and a
// scriptable listener whose attempts the tests observe.

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <actors/errors.hpp>
#include <actors/interfaces.hpp>
#include <actors/node.hpp>
#include <actors/queue_supervisor.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <messages/commands.hpp>
#include <messages/events.hpp>

namespace switchboard::test {

/// A command by name, with its payload as JSON, as the router takes it.
inline aggregate_command named_command(std::string type, std::string id,
                                       std::string company, std::string name,
                                       const boost::json::object& payload) {
  aggregate_command cmd;
  cmd.aggregate_type = std::move(type);
  cmd.aggregate_id = std::move(id);
  cmd.company_id = std::move(company);
  cmd.name = std::move(name);
  cmd.payload = boost::json::serialize(payload);
  return cmd;
}

/// Working hours from `start_minute` to `end_minute` on every day of the
/// week, as the staff commands take them.
inline boost::json::array every_day(int start_minute, int end_minute) {
  boost::json::array hours;
  for (const char* d : {"monday", "tuesday", "wednesday", "thursday", "friday",
                        "saturday", "sunday"})
    hours.push_back(boost::json::object{{"day", d},
                                        {"start_minute", start_minute},
                                        {"end_minute", end_minute}});
  return hours;
}

inline customer sample_customer(const std::string& id,
                                const std::string& company = "c1") {
  customer c;
  c.id = id;
  c.company_id = company;
  c.name = "Ada";
  c.phone = "+4930123456";
  c.email = "ada@example.com";
  c.prefers_sms = true;
  c.prefers_email = true;
  c.prefers_whatsapp = false;
  return c;
}

inline appointment sample_appointment(const std::string& id, timestamp_ms start,
                                      const std::string& customer_id = "cu1",
                                      const std::string& company = "c1") {
  appointment a;
  a.id = id;
  a.company_id = company;
  a.branch_id = "b1";
  a.service_id = "s1";
  a.staff_id = "st1";
  a.customer_id = customer_id;
  a.start_time = start;
  a.end_time = start + 30 * 60 * 1000;
  a.price_cents = 4500;
  return a;
}

/// What a scripted listener saw.
struct script_log {
  std::mutex mtx;
  std::vector<timestamp_ms> attempt_times;
  std::vector<std::uint32_t> attempts;
  std::vector<std::string> event_ids;
  int failed_calls = 0;
  std::string failed_reason;
};

/// How a scripted listener answers attempt n (1-based).
enum class script_action { succeed, fail, crash, hang };

/// A script that fails every attempt.
inline script_action always_fail(std::uint32_t) {
  return script_action::fail;
}

/// A script that succeeds at every attempt.
inline script_action always_succeed(std::uint32_t) {
  return script_action::succeed;
}

/// A queued listener that answers by `script` and records into `log`.
inline listener_binding
scripted_listener(std::string name, std::shared_ptr<script_log> log,
                  clock_fn clock,
                  std::function<script_action(std::uint32_t attempt)> script) {
  listener_binding b;
  b.names = {name};
  b.spawn = [log, clock, script](caf::actor_system& sys,
                                 const listener_context&) {
    return sys.spawn([log, clock, script](queued_listener_actor::pointer self)
                         -> queued_listener_actor::behavior_type {
      return {
          [self, log, clock, script](
              handle_atom, const job_request& req) -> caf::result<ok_atom> {
            {
              std::lock_guard<std::mutex> guard{log->mtx};
              log->attempt_times.push_back(clock());
              log->attempts.push_back(req.attempt);
              log->event_ids.push_back(req.event.id);
            }
            switch (script(req.attempt)) {
            case script_action::succeed:
              return ok_atom::value;
            case script_action::fail:
              return make_runtime_error(runtime_errc::listener_failed,
                                        "scripted failure");
            case script_action::crash:
              throw std::runtime_error("scripted crash");
            case script_action::hang:
              return self->make_response_promise<ok_atom>();
            }
            return ok_atom::value;
          },
          [log](failed_atom, const job_request&, const std::string& reason) {
            std::lock_guard<std::mutex> guard{log->mtx};
            ++log->failed_calls;
            log->failed_reason = reason;
          },
      };
    });
  };
  return b;
}

} // namespace switchboard::test
