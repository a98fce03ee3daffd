-- POST /api/appointments with a distinct slot per request.
--
-- Request k (k = offset + count * nthreads + thread index) books staff
-- "st<k % staff>" at base + (k / staff) * 5 minutes, with a 5-minute
-- service: no two requests of one run, or of runs with disjoint
-- offsets, ask for the same slot, so every answer should be 201.
-- Arguments (after --): token base_epoch_seconds staff offset.
-- Environment: HTTP_BENCH_THREADS (wrk -t), HTTP_BENCH_QUOTA (a thread
-- stops after that many answers; 0: no limit), HTTP_BENCH_DELAY_MS (pause
-- of each connection before each request: wrk 4 has no fixed-rate mode,
-- so connections * 1000 / delay_ms caps the rate).
dofile(os.getenv("HTTP_BENCH_DIR") .. "/report.lua")

local threads = {}
local next_index = 0

function setup(thread)
  thread:set("tid", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

local token, base, staff, offset
local tid, nthreads
local count, answers = 0, 0

function init(args)
  token = args[1]
  base = tonumber(args[2])
  staff = tonumber(args[3])
  offset = tonumber(args[4])
  tid = tonumber(wrk.thread:get("tid"))
  nthreads = tonumber(os.getenv("HTTP_BENCH_THREADS"))
  wrk.method = "POST"
  wrk.path = "/api/appointments"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  wrk.thread:set("next", offset)
end

function request()
  local k = offset + count * nthreads + tid
  count = count + 1
  wrk.thread:set("next", k + 1)
  local start = base + math.floor(k / staff) * 300
  local body = string.format(
    '{"id":"b%d","customer_id":"cu1","service_id":"sv1",'
      .. '"staff_id":"st%d","start_time":"%s"}',
    k, k % staff, os.date("!%Y-%m-%dT%H:%M:%SZ", start))
  return wrk.format(nil, nil, nil, body)
end

if tonumber(os.getenv("HTTP_BENCH_DELAY_MS") or "0") > 0 then
  local ms = tonumber(os.getenv("HTTP_BENCH_DELAY_MS"))
  function delay()
    return ms
  end
end

if tonumber(os.getenv("HTTP_BENCH_QUOTA") or "0") > 0 then
  local q = tonumber(os.getenv("HTTP_BENCH_QUOTA"))
  function response(status, headers, body)
    answers = answers + 1
    if answers >= q then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  report(summary, latency)
  -- The next run's offset: past every index any thread has used.
  local top = 0
  for _, t in ipairs(threads) do
    top = math.max(top, tonumber(t:get("next")))
  end
  io.write(string.format("WRK next_offset=%d\n", top))
end
