#include "actors/errors.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace switchboard {

namespace {

const char* code_name(runtime_errc c) {
  switch (c) {
  case runtime_errc::none:
    return "none";
  case runtime_errc::version_conflict:
    return "version_conflict";
  case runtime_errc::not_found:
    return "not_found";
  case runtime_errc::invalid_argument:
    return "invalid_argument";
  case runtime_errc::storage:
    return "storage";
  case runtime_errc::timeout:
    return "timeout";
  case runtime_errc::listener_failed:
    return "listener_failed";
  case runtime_errc::unavailable:
    return "unavailable";
  case runtime_errc::conflict:
    return "conflict";
  case runtime_errc::closed:
    return "closed";
  case runtime_errc::rejected:
    return "rejected";
  case runtime_errc::disk_full:
    return "disk_full";
  case runtime_errc::storage_unavailable:
    return "storage_unavailable";
  }
  return "unknown";
}

} // namespace

caf::atom_value runtime_error_category() {
  return caf::atom("switchbrd");
}

caf::error make_runtime_error(runtime_errc code, std::string message) {
  return caf::error{static_cast<std::uint8_t>(code), runtime_error_category(),
                    caf::make_message(std::move(message))};
}

caf::error make_runtime_error(runtime_errc code, std::string message,
                              std::int64_t retry_after_ms) {
  return caf::error{static_cast<std::uint8_t>(code), runtime_error_category(),
                    caf::make_message(std::move(message), retry_after_ms)};
}

std::int64_t retry_after_ms(const caf::error& err) {
  if (err.category() != runtime_error_category())
    return 0;
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string, std::int64_t>())
    return ctx.get_as<std::int64_t>(1);
  return 0;
}

caf::error to_caf_error(const store::error& err) {
  auto code = runtime_errc::storage;
  switch (err.code) {
  case store::errc::version_conflict:
    code = runtime_errc::version_conflict;
    break;
  case store::errc::not_found:
    code = runtime_errc::not_found;
    break;
  case store::errc::invalid_argument:
  case store::errc::duplicate_event:
    code = runtime_errc::invalid_argument;
    break;
  case store::errc::closed:
    code = runtime_errc::closed;
    break;
  case store::errc::taken:
    code = runtime_errc::conflict;
    break;
  case store::errc::map_full:
  case store::errc::no_space:
    code = runtime_errc::disk_full;
    break;
  case store::errc::io_error:
    code = runtime_errc::storage_unavailable;
    break;
  default:
    break;
  }
  return make_runtime_error(code, err.message);
}

runtime_errc runtime_code(const caf::error& err) {
  if (err.category() != runtime_error_category())
    return runtime_errc::none;
  return static_cast<runtime_errc>(err.code());
}

std::string describe(const caf::error& err) {
  if (!err)
    return "none";
  if (err.category() == runtime_error_category()) {
    const auto& ctx = err.context();
    if (ctx.match_elements<std::string>()
        || ctx.match_elements<std::string, std::int64_t>())
      return ctx.get_as<std::string>(0);
    return code_name(static_cast<runtime_errc>(err.code()));
  }
  if (err.category() == caf::atom("system"))
    return to_string(static_cast<caf::sec>(err.code()));
  return to_string(err);
}

std::string render_runtime_error(std::uint8_t code, caf::atom_value,
                                 const caf::message& context) {
  std::string out = code_name(static_cast<runtime_errc>(code));
  if (context.match_elements<std::string>()
      || context.match_elements<std::string, std::int64_t>())
    out += ": " + context.get_as<std::string>(0);
  return out;
}

} // namespace switchboard
