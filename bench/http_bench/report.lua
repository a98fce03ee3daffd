-- Shared by every wrk run of bench/http_bench.sh: done() prints one
-- machine-readable line that the driver parses.
--   WRK requests=<n> seconds=<s> rps=<n> p50_us=<n> p99_us=<n>
--       status_errors=<n> socket_errors=<n> max_us=<n>
function report(summary, latency)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d seconds=%.3f rps=%.0f p50_us=%d p99_us=%d "
      .. "status_errors=%d socket_errors=%d max_us=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, latency.max))
end

done = report
