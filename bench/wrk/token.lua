-- One token, repeated on every request (a client reusing its access token: cache hits).
-- Usage: wrk ... -s bench/wrk/token.lua URL -- TOKEN_FILE
-- Without TOKEN_FILE no Authorization header is sent.
function init(args)
  local path = args[1]
  if path == nil or path == "" then
    return
  end
  local file = assert(io.open(path, "r"))
  local token = file:read("*l")
  file:close()
  wrk.headers["Authorization"] = "Bearer " .. token
end
