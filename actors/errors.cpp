#include "actors/errors.hpp"

#include "messages/enum_table.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace switchboard {

namespace {

constexpr auto code_name = name_table<runtime_errc>(
    {"none", "version_conflict", "not_found", "invalid_argument", "storage",
     "timeout", "listener_failed", "unavailable", "conflict", "closed",
     "rejected", "disk_full", "storage_unavailable"},
    "unknown");
static_assert(code_name.covers(runtime_errc::storage_unavailable));

/// The runtime code of each store code; any other is a storage error.
constexpr code_mapping<store::errc, runtime_errc> store_codes[] = {
    {store::errc::version_conflict, runtime_errc::version_conflict},
    {store::errc::not_found, runtime_errc::not_found},
    {store::errc::invalid_argument, runtime_errc::invalid_argument},
    {store::errc::duplicate_event, runtime_errc::invalid_argument},
    {store::errc::closed, runtime_errc::closed},
    {store::errc::taken, runtime_errc::conflict},
    {store::errc::map_full, runtime_errc::disk_full},
    {store::errc::no_space, runtime_errc::disk_full},
    {store::errc::io_error, runtime_errc::storage_unavailable},
};

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
  return make_runtime_error(
      map_code(err.code, store_codes, runtime_errc::storage), err.message);
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
