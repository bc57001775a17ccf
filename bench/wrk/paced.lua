-- One repeated token at a bounded pace: before each request (the first included) a connection
-- waits a random 0..2*PACE_MS ms, so the servers are measured below saturation and p99 shows the
-- latency a hop adds rather than queueing (wrk is closed-loop: at full speed, latency is just
-- connections / throughput). The randomness matters: a fixed delay keeps all connections in step
-- and they arrive as bursts of 64, which measures the burst, not the hop.
-- Usage: wrk ... -s bench/wrk/paced.lua URL -- TOKEN_FILE PACE_MS
local pace = 40

function init(args)
  local file = assert(io.open(args[1], "r"))
  local token = file:read("*l")
  file:close()
  wrk.headers["Authorization"] = "Bearer " .. token
  pace = tonumber(args[2]) or pace
  math.randomseed(os.time())
end

-- wrk looks for `delay` before calling init, so it has to be defined at the top level.
function delay()
  return math.random(0, 2 * pace)
end
