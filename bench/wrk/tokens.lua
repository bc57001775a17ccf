-- Distinct tokens in rotation: request i carries token i mod N (every token is new to a
-- verifier until the list wraps). The requests are built once in init, so the load generator
-- spends its time sending, not formatting.
-- Usage: wrk ... -s bench/wrk/tokens.lua URL -- TOKENS_FILE (one JWT per line)
local requests = {}
local count = 0
local next_index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for token in file:lines() do
    if token ~= "" then
      count = count + 1
      requests[count] = wrk.format(nil, nil, {
        ["Host"] = wrk.headers["Host"],
        ["Authorization"] = "Bearer " .. token,
      })
    end
  end
  file:close()
  assert(count > 0, "no tokens in " .. args[1])
end

function request()
  next_index = next_index % count + 1
  return requests[next_index]
end
