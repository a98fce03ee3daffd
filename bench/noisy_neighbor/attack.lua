-- The noisy neighbour: GET /api/availability for staff ids that exist
-- nowhere (each distinct, so no cache answers them), and every fourth
-- request GET /api/appointments?limit=1 (the list of its company).
-- Arguments (after --): token date.
dofile(os.getenv("HTTP_BENCH_DIR") .. "/report.lua")

local token, date
local count = 0
local tid = 0
local next_index = 0

function setup(thread)
  thread:set("tid", next_index)
  next_index = next_index + 1
end

function init(args)
  token = args[1]
  date = args[2]
  tid = tonumber(wrk.thread:get("tid"))
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  count = count + 1
  if count % 4 == 0 then
    return wrk.format("GET", "/api/appointments?limit=1")
  end
  return wrk.format("GET", string.format(
    "/api/availability?service_id=asv1&date=%s&staff_id=ghost-%d-%d",
    date, tid, count))
end

done = report
