#pragma once

// The file formats `switchboard import` reads: CloudEvents JSON lines, and
// the seed's Laravel `event_store` table as JSON lines or CSV. Records come
// out decoded as envelopes, each with the line it starts on; checking them
// against the store is the import's (app/cli_import.cpp).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <messages/envelope.hpp>
#include <messages/expected.hpp>

namespace switchboard::app {

/// A format of an import file.
enum class file_format { cloudevents, laravel_jsonl, laravel_csv };

/// A bad record: where and what.
struct bad_record {
  std::size_t line = 0;
  std::string field;
  std::string problem;
};

/// One record of the file, decoded.
struct record {
  std::size_t line = 0;
  envelope env;
  std::uint64_t version = 0;      ///< The file's version; 0 when none.
  bool has_event_id = false;      ///< The file named the event id.
  std::uint64_t base_version = 0; ///< The stream's version before it.
};

/// Reads `text` as `fmt` into records; the first record that cannot be
/// decoded stops it. A Laravel row's company is left empty unless the row
/// has a company_id column.
expected<std::vector<record>, bad_record> read_records(const std::string& text,
                                                       file_format fmt);

/// The field as a file of `fmt` names it: Laravel rows call the payload
/// event_data and the type event_type.
std::string file_field(std::string field, file_format fmt);

} // namespace switchboard::app
