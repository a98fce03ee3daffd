-- The noisy neighbour, in turn: GET /api/availability for staff ids that
-- exist nowhere (each distinct, so no cache answers them), GET
-- /api/appointments?limit=100 (a page of its company's list), another
-- unknown staff id, and a booking (each in a slot of its own), whose
-- appointment.created enqueues jobs for the queued listeners.
-- Arguments (after --): token date base_epoch_seconds staff.
dofile(os.getenv("HTTP_BENCH_DIR") .. "/report.lua")

local token, date, base, staff
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
  base = tonumber(args[3])
  staff = tonumber(args[4])
  tid = tonumber(wrk.thread:get("tid"))
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  count = count + 1
  if count % 4 == 2 then
    return wrk.format("GET", "/api/appointments?limit=100")
  end
  if count % 4 == 0 then
    -- Slot k is this thread's count-th: no two bookings share one.
    local k = count * 64 + tid
    local body = string.format(
      '{"id":"ab%d","customer_id":"acu1","service_id":"asv1",'
        .. '"staff_id":"ast%d","start_time":"%s"}',
      k, k % staff,
      os.date("!%Y-%m-%dT%H:%M:%SZ", base + math.floor(k / staff) * 300))
    return wrk.format("POST", "/api/appointments",
                      {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", string.format(
    "/api/availability?service_id=asv1&date=%s&staff_id=ghost-%d-%d",
    date, tid, count))
end

done = report
