-- Activation confirm (POST .../activate/save/) as the real form posts it, one quantity line, a
-- fresh review token per request; the pairs and quantities are pairs.lua's. CSRF: the csrftoken
-- cookie (in BENCH_COOKIE) and the same value in the csrfmiddlewaretoken field.
dofile(os.getenv("BENCH_LUA_DIR") .. "/pairs.lua")

local cookie = os.getenv("BENCH_COOKIE")
local csrf = os.getenv("BENCH_CSRF")

function request()
  local path, line, quantity = next_write()
  local body = "csrfmiddlewaretoken=" .. csrf .. "&token=" .. random_key() .. "&deliver=download" ..
               "&qty_" .. line .. "=" .. quantity
  local headers = {["Cookie"] = cookie, ["Content-Type"] = "application/x-www-form-urlencoded"}
  return wrk.format("POST", path, headers, body)
end
