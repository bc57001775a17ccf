-- One repeated token at a bounded pace: each connection waits PACE_MS after every response
-- before its next request, so the servers are measured below saturation and p99 shows the
-- latency a hop adds rather than queueing (wrk is closed-loop: at full speed, latency is just
-- connections / throughput).
-- Usage: wrk ... -s bench/wrk/paced.lua URL -- TOKEN_FILE PACE_MS
local pace = 10

function init(args)
  local file = assert(io.open(args[1], "r"))
  local token = file:read("*l")
  file:close()
  wrk.headers["Authorization"] = "Bearer " .. token
  pace = tonumber(args[2]) or pace
end

-- wrk looks for `delay` before calling init, so it has to be defined at the top level.
function delay()
  return pace
end
