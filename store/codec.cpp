#include "store/codec.hpp"
#include "store/le_record_detail.hpp"

#include <new>

namespace switchboard::store {

namespace {

using le_record_detail::put_le;
using le_record_detail::put_str;
using le_record_detail::reader;
using le_record_detail::varint_size;

} // namespace

envelope envelope_view::to_envelope() const {
  envelope e;
  e.id = id;
  e.type = type;
  e.aggregate_type = aggregate_type;
  e.aggregate_id = aggregate_id;
  e.version = version;
  e.company_id = company_id;
  e.occurred_at = occurred_at;
  e.sequence = sequence;
  e.metadata.user_id = user_id;
  e.metadata.ip_address = ip_address;
  e.metadata.user_agent = user_agent;
  e.metadata.source = source;
  e.metadata.correlation_id = correlation_id;
  e.metadata.causation_id = causation_id;
  e.data = data;
  return e;
}

std::size_t record_size(const envelope& e) noexcept {
  std::size_t n = 1 + 3 * 8;
  auto add = [&n](const std::string& s) {
    n += varint_size(s.size()) + s.size();
  };
  add(e.id);
  add(e.type);
  add(e.aggregate_type);
  add(e.aggregate_id);
  add(e.company_id);
  add(e.metadata.user_id);
  add(e.metadata.ip_address);
  add(e.metadata.user_agent);
  add(e.metadata.source);
  add(e.metadata.correlation_id);
  add(e.metadata.causation_id);
  add(e.data);
  return n;
}

void encode_record(const envelope& e, char* out) noexcept {
  *out++ = static_cast<char>(record_format_v1);
  out = put_le(out, e.version, 8);
  out = put_le(out, static_cast<std::uint64_t>(e.occurred_at), 8);
  out = put_le(out, e.sequence, 8);
  out = put_str(out, e.id);
  out = put_str(out, e.type);
  out = put_str(out, e.aggregate_type);
  out = put_str(out, e.aggregate_id);
  out = put_str(out, e.company_id);
  out = put_str(out, e.metadata.user_id);
  out = put_str(out, e.metadata.ip_address);
  out = put_str(out, e.metadata.user_agent);
  out = put_str(out, e.metadata.source);
  out = put_str(out, e.metadata.correlation_id);
  out = put_str(out, e.metadata.causation_id);
  put_str(out, e.data);
}

result<envelope_view> decode_record(const void* data, std::size_t size) {
  auto p = static_cast<const unsigned char*>(data);
  if (size == 0)
    return fail(errc::corrupt, "empty event record");
  if (p[0] != record_format_v1)
    return fail(errc::corrupt, "unknown event record format "
                                   + std::to_string(static_cast<int>(p[0])));
  reader r{p + 1, p + size};
  envelope_view v;
  v.version = r.le(8);
  v.occurred_at = static_cast<timestamp_ms>(r.le(8));
  v.sequence = r.le(8);
  v.id = r.str();
  v.type = r.str();
  v.aggregate_type = r.str();
  v.aggregate_id = r.str();
  v.company_id = r.str();
  v.user_id = r.str();
  v.ip_address = r.str();
  v.user_agent = r.str();
  v.source = r.str();
  v.correlation_id = r.str();
  v.causation_id = r.str();
  v.data = r.str();
  if (auto problem = r.end_problem("truncated event record",
                                   "trailing bytes in event record"))
    return fail(errc::corrupt, problem);
  return v;
}

} // namespace switchboard::store
